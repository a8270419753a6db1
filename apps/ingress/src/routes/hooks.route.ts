import type { RequestHandler } from 'express';
import { AppError } from '@herald/core';
import { Counter, Histogram, type Registry } from 'prom-client';
import { acceptHookCall, type HookDeps, type HookOutcome } from '../hooks/accept-hook-call';
import { resolveCallerAddress, type AddressList } from '../hooks/caller-address';
import { NotFoundLimit } from '../hooks/not-found-limit';
import { readJsonBody } from '../hooks/read-body';

export interface HooksRouteOptions {
  deps: HookDeps;
  /** 404s a caller address may get per minute before it is answered 429 (HOOK_NOT_FOUND_PER_MINUTE). */
  notFoundPerMinute?: number;
  trustedProxies: AddressList | null;
  bodyLimitBytes: number;
  metrics: Registry;
  /** How long a call over a rate limit waits for its 429 (see RATE_LIMITED_DELAY_MS). */
  rateLimitedDelayMs?: number;
}

/**
 * A call over a rate limit is answered after this long. A 429 costs the ingress little, so a
 * flooder answered at once just sends more: on one process, a 64-connection flood got 5,800
 * refusals a second, and another broadcast's caller saw its p99 double (26 → 53 ms). Held a
 * second, each of the flood's connections makes one call a second, and costs nothing meanwhile;
 * a well-behaved caller waits for Retry-After anyway.
 */
export const RATE_LIMITED_DELAY_MS = 1_000;

/** The path the hook answers on; `:token` is the broadcast's hook token. */
export const HOOK_PATH = '/hooks/:token';

/**
 * `GET|POST /hooks/:token` (SPEC §3): thin — the use case decides, this maps outcomes to HTTP.
 * A handler, not a Router: mounted straight on the app, a call walks one routing layer less.
 */
export function hookHandler({
  deps,
  trustedProxies,
  bodyLimitBytes,
  metrics,
  notFoundPerMinute = 60,
  rateLimitedDelayMs = RATE_LIMITED_DELAY_MS,
}: HooksRouteOptions): RequestHandler<{ token: string }> {
  const notFound = new NotFoundLimit(notFoundPerMinute);
  const calls = new Counter({
    name: 'herald_hook_calls_total',
    help: 'Hook calls by outcome',
    labelNames: ['outcome'],
    registers: [metrics],
  });
  const triggersAccepted = new Counter({
    name: 'herald_triggers_accepted_total',
    help: 'Triggers committed by the hook (answered 200 scheduled; replays not counted)',
    registers: [metrics],
  });
  // Its _count by status is the hook's requests by status: no separate counter needed.
  const requestSeconds = new Histogram({
    name: 'herald_hook_request_duration_seconds',
    help: 'Hook requests, from arrival to the last byte of the answer, by HTTP status',
    labelNames: ['status'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [metrics],
  });
  return async (req, res) => {
    const stopTimer = requestSeconds.startTimer();
    // 'close' comes for every request, answered or not: a caller that gave up is counted as
    // `aborted` instead of vanishing from the latency and the request counts when it matters.
    res.once('close', () => stopTimer({ status: res.writableFinished ? String(res.statusCode) : 'aborted' }));
    const callerAddress = resolveCallerAddress(req.socket.remoteAddress, req.get('x-forwarded-for'), trustedProxies);
    // An unknown caller (a malformed forwarded hop) is counted with the proxy it came through.
    const limitedAs = callerAddress ?? req.socket.remoteAddress ?? '';
    const retryAfter = notFound.retryAfterSeconds(limitedAs);
    if (retryAfter > 0) {
      calls.inc({ outcome: 'not_found_limited' });
      throw new AppError(429, 'too_many_requests', 'Too many calls to unknown hooks from this address: wait before trying again', [], retryAfter);
    }
    const outcome = await acceptHookCall(deps, {
      token: req.params.token,
      method: req.method,
      callerAddress,
      limitedAs,
      authorization: req.get('authorization'),
      idempotencyKey: req.get('idempotency-key'),
      readBody: () => readJsonBody(req, bodyLimitBytes),
    });
    calls.inc({ outcome: outcome.outcome === 'rate_limited' ? `rate_limited_${outcome.scope}` : outcome.outcome });
    if (outcome.outcome === 'not_found') notFound.record(limitedAs);
    if (outcome.outcome === 'scheduled') triggersAccepted.inc();
    if (outcome.outcome === 'rate_limited' && rateLimitedDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, rateLimitedDelayMs));
    respond(outcome, res);
  };
}

/** Built once: an Error captures a stack trace, which a flood of 429s does not need. */
const RATE_LIMITED = {
  address: new AppError(429, 'too_many_requests', 'Too many hook calls from this address: wait before trying again (nothing was recorded)'),
  broadcast: new AppError(429, 'too_many_requests', 'Too many calls to this hook: wait before trying again (nothing was recorded)'),
} as const;

function respond(outcome: HookOutcome, res: import('express').Response): void {
  switch (outcome.outcome) {
    case 'scheduled':
    case 'replayed': {
      // The hot path: written directly, skipping res.json's content negotiation machinery.
      const body = `${JSON.stringify(outcome.body)}\n`; // like every JSON answer (service-app.ts)
      res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    case 'not_found':
      throw new AppError(404, 'not_found', 'No enabled broadcast has this hook');
    case 'forbidden':
      throw new AppError(
        403,
        'forbidden',
        outcome.callerAddress === null
          ? 'The caller address is unknown (the proxy forwarded an X-Forwarded-For entry that is not an address): this broadcast allows listed addresses only'
          : `Calls from ${outcome.callerAddress} are not allowed for this broadcast`,
      );
    case 'method_not_allowed':
      res.setHeader('Allow', outcome.allowed.join(', '));
      throw new AppError(405, 'method_not_allowed', `This hook accepts ${outcome.allowed.join(' and ') || 'no method'}`);
    case 'unauthorized':
      res.setHeader('WWW-Authenticate', 'Bearer');
      throw new AppError(401, 'unauthorized', "This broadcast is not in direct mode: send the bot's API token as Authorization: Bearer <token>");
    case 'invalid_payload':
      throw new AppError(400, 'validation_failed', 'The hook payload is invalid', outcome.errors);
    case 'rate_limited': {
      // A flood's answer: written directly like a 200, not thrown through the error handler,
      // so refusing a call costs less than taking one (the same body the handler would send).
      const body = `${JSON.stringify(RATE_LIMITED[outcome.scope].toBody())}\n`;
      res.writeHead(429, {
        'Content-Type': 'application/json; charset=utf-8',
        'Content-Length': Buffer.byteLength(body),
        'Retry-After': String(outcome.retryAfterSeconds),
      });
      res.end(body);
      return;
    }
    default: {
      const unreachable: never = outcome;
      throw new Error(`unhandled outcome ${JSON.stringify(unreachable)}`);
    }
  }
}
