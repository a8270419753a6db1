import { looksLikeHookToken, parseHookPayload, tokenMatches, type ErrorDetail } from '@herald/core';
import { findIdempotentResponse } from '@herald/db';
import type { CachedBroadcast } from './broadcast-cache';
import { NO_RATE_LIMITS } from './call-rate-limit';
import { checkVariableBound } from './variable-bound';
import {
  FOREIGN_KEY_VIOLATION,
  batchable,
  recordBatched,
  recordIdempotently,
  recordTrigger,
  type HookDeps,
  type HookMethod,
  type ScheduledBody,
} from './record-trigger';

export { createHookDeps, type HookDeps } from './record-trigger';

export interface HookCall {
  token: string;
  method: string;
  /** Null when a trusted proxy forwarded something that is not an address: an unknown caller. */
  callerAddress: string | null;
  /** Who the per-address limit counts this call against: the caller, else the proxy it came through. */
  limitedAs: string;
  authorization: string | undefined;
  idempotencyKey: string | undefined;
  /** Reads the body; called only once the call has passed the checks that need no body. */
  readBody(): Promise<unknown>;
}

/** Every expected answer to a hook call, as data; the route maps each to its status code. */
export type HookOutcome =
  | { outcome: 'scheduled'; body: ScheduledBody }
  | { outcome: 'replayed'; body: unknown }
  | { outcome: 'not_found' }
  | { outcome: 'forbidden'; callerAddress: string | null }
  | { outcome: 'method_not_allowed'; allowed: HookMethod[] }
  | { outcome: 'unauthorized' }
  | { outcome: 'invalid_payload'; errors: ErrorDetail[] }
  | { outcome: 'rate_limited'; scope: 'address' | 'broadcast'; retryAfterSeconds: number };

const MAX_IDEMPOTENCY_KEY = 255;

/**
 * The launch web hook (SPEC §3): the checks in their order, each answered before anything is
 * written; then the trigger committed to Postgres and the broadcast's timer re-armed.
 * Postgres down → 503 with Retry-After from the shared error handler (nothing recorded); Redis
 * down → still accepted (the trigger is durable; the reconciler re-arms timers from Postgres).
 */
export function acceptHookCall(deps: HookDeps, call: HookCall): Promise<HookOutcome> {
  return deps.inFlight.track(() => acceptTracked(deps, call));
}

async function acceptTracked(deps: HookDeps, call: HookCall): Promise<HookOutcome> {
  try {
    return await accept(deps, call);
  } catch (error) {
    // The broadcast was deleted after the look-up: answered as unknown, nothing recorded.
    if ((error as { code?: string }).code === FOREIGN_KEY_VIOLATION) return { outcome: 'not_found' };
    throw error; // Postgres down: the shared error handler answers 503 with Retry-After
  }
}

async function accept(deps: HookDeps, call: HookCall): Promise<HookOutcome> {
  // 0. The caller address's rate, before any look-up: a flood costs a counter, not a query.
  const limits = deps.rateLimits ?? NO_RATE_LIMITS;
  const byAddress = limits.perAddress && (await limits.perAddress.take(`a:${call.limitedAs}`));
  if (byAddress && !byAddress.allowed) return { outcome: 'rate_limited', scope: 'address', retryAfterSeconds: byAddress.retryAfterSeconds };

  // 1. Unknown token or disabled broadcast: one answer for both, so neither is revealed.
  const broadcast = looksLikeHookToken(call.token) ? await deps.broadcasts.get(call.token) : null;
  if (!broadcast || !broadcast.enabled) return { outcome: 'not_found' };

  // 2. Caller address against allowed_hosts.
  // An unknown caller is never on the list (it is not the proxy, whose address it would be).
  if (broadcast.allowList && (call.callerAddress === null || !broadcast.allowList.has(call.callerAddress))) {
    return { outcome: 'forbidden', callerAddress: call.callerAddress };
  }

  // 3. Method, then the bot token when the broadcast is not in direct mode.
  const allowed = allowedMethods(broadcast);
  const method = allowed.find((m) => m === call.method);
  if (!method) return { outcome: 'method_not_allowed', allowed };
  if (!broadcast.direct_mode && !hasBotToken(call.authorization, broadcast)) return { outcome: 'unauthorized' };

  // 3b. The broadcast's rate, counted only for calls it would take (a refused caller spends none of it).
  const byBroadcast = limits.perBroadcast && (await limits.perBroadcast.take(`b:${broadcast.id}`));
  if (byBroadcast && !byBroadcast.allowed) return { outcome: 'rate_limited', scope: 'broadcast', retryAfterSeconds: byBroadcast.retryAfterSeconds };

  // 4. Body (size, JSON) and payload.
  const body = method === 'POST' ? await call.readBody() : undefined;
  const parsed = parseHookPayload(body, {
    requireValidFilter: broadcast.require_valid_filter,
    maxTargets: deps.maxTargetsPerCall,
  });
  if (!parsed.ok) return { outcome: 'invalid_payload', errors: parsed.errors };
  const key = call.idempotencyKey;
  if (key !== undefined && (key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY)) {
    return {
      outcome: 'invalid_payload',
      errors: [{ path: 'Idempotency-Key', message: `is ${key.length} characters`, expected: `1 to ${MAX_IDEMPOTENCY_KEY} characters` }],
    };
  }
  if (key !== undefined) {
    const earlier = await findIdempotentResponse(deps.db, broadcast.id, key);
    if (earlier !== undefined) return { outcome: 'replayed', body: earlier };
  }
  // The contacts it names must stay within the bound on variables (variable-bound.ts).
  const pastBound = await checkVariableBound(deps.variableBound, broadcast.bot_id, parsed.request);
  if (pastBound.length > 0) return { outcome: 'invalid_payload', errors: pastBound };

  // 5. Commit the trigger (claiming the idempotency key in the same transaction).
  const trigger = { broadcast, callerAddress: call.callerAddress, method, parsed };
  const recorded =
    key !== undefined
      ? await recordIdempotently(deps.db, trigger, key)
      : batchable(trigger)
        ? await recordBatched(deps, trigger)
        : await recordTrigger(deps.db, trigger);
  if ('replay' in recorded) return { outcome: 'replayed', body: recorded.replay };

  // 6. Re-arm the broadcast's timer.
  await deps.timerArmer.submit({ broadcastId: broadcast.id, delayMs: recorded.delayMs, triggerId: recorded.body.trigger_id });
  return { outcome: 'scheduled', body: recorded.body };
}

function allowedMethods(broadcast: CachedBroadcast): HookMethod[] {
  const methods: HookMethod[] = [];
  if (broadcast.allow_get) methods.push('GET');
  if (broadcast.allow_post) methods.push('POST');
  return methods;
}

function hasBotToken(authorization: string | undefined, broadcast: CachedBroadcast): boolean {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  return match !== null && tokenMatches(match[1]!, broadcast.bot_api_token_sha256);
}
