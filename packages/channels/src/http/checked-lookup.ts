import type { LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import type { DestinationCheck, DestinationPolicy } from './destination-policy';

/** Thrown from inside the connect step; the client turns it into an `OutboundError` of kind `refused`. */
export class DestinationRefusedError extends Error {
  override readonly name = 'DestinationRefusedError';

  constructor(readonly reason: string) {
    super(`destination refused: ${reason}`);
  }
}

/**
 * A `lookup` for `net.connect` that resolves every address of the hostname, refuses the
 * connection unless the policy allows ALL of them, and hands exactly the checked addresses to
 * the socket. Check and connect share this one resolution, so a DNS-rebinding answer (public
 * for the check, private for the connect) has no second resolution to exploit. Literal IP hosts
 * never reach here (`net` skips lookup for them): the client checks those before sending.
 */
export function createCheckedLookup(policy: DestinationPolicy, lookup: LookupFunction): LookupFunction {
  return (hostname, options, callback) => {
    const hostnameCheck = policy.checkHostname(hostname);
    if (!hostnameCheck.ok) {
      callback(new DestinationRefusedError(hostnameCheck.reason), []);
      return;
    }
    lookup(hostname, { ...options, all: true }, (error, result, family) => {
      if (error) {
        callback(error, []);
        return;
      }
      const addresses: LookupAddress[] = Array.isArray(result)
        ? result
        : typeof result === 'string'
          ? [{ address: result, family: family ?? isIP(result) }]
          : [];
      const first = addresses[0];
      if (!first) {
        callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), []);
        return;
      }
      for (const { address } of addresses) {
        const check = checkSafely(policy, address, hostname);
        if (!check.ok) {
          callback(new DestinationRefusedError(`${hostname} resolves to a refused address: ${check.reason}`), []);
          return;
        }
      }
      if (options.all) callback(null, addresses);
      else callback(null, first.address, first.family);
    });
  };
}

/** A resolver's odd answer must refuse the connection, not throw inside a DNS callback. */
function checkSafely(policy: DestinationPolicy, address: unknown, hostname: string): DestinationCheck {
  try {
    return typeof address === 'string' ? policy.checkAddress(address, hostname) : { ok: false, reason: 'the resolver returned a non-address' };
  } catch {
    return { ok: false, reason: 'the resolver returned a non-address' };
  }
}
