import {
  AppError,
  dispatchDelayMs,
  looksLikeHookToken,
  parseHookPayload,
  tokenMatches,
  type ErrorDetail,
} from '@herald/core';
import { randomUUID } from 'node:crypto';
import {
  claimIdempotencyKey,
  findIdempotentResponse,
  insertTrigger,
  insertTriggers,
  isDatabaseUnavailable,
  type Db,
  type NewTriggerRow,
} from '@herald/db';
import type { Logger } from '@herald/logger';
import type { JobProducer } from '@herald/queue';
import type { CachedBroadcast, HookBroadcastCache } from './broadcast-cache';
import { MicroBatcher } from './micro-batcher';

export interface HookCall {
  token: string;
  method: string;
  callerAddress: string;
  authorization: string | undefined;
  idempotencyKey: string | undefined;
  /** Reads the body; called only once the call has passed the checks that need no body. */
  readBody(): Promise<unknown>;
}

export interface HookDepsInput {
  db: Db;
  broadcasts: HookBroadcastCache;
  producer: JobProducer;
  logger: Logger;
  maxTargetsPerCall: number;
}

interface TimerArm {
  broadcastId: string;
  delayMs: number;
  triggerId: string;
}

export interface HookDeps extends HookDepsInput {
  /** Concurrent calls share one INSERT (see MicroBatcher). */
  triggerWriter: MicroBatcher<NewTriggerRow, Date>;
  /** …and one re-arm per broadcast. */
  timerArmer: MicroBatcher<TimerArm, undefined>;
}

export function createHookDeps(input: HookDepsInput): HookDeps {
  return {
    ...input,
    triggerWriter: new MicroBatcher(async (rows) => {
      const received = await insertTriggers(input.db, rows);
      return rows.map((row) => received.get(row.id)!);
    }),
    timerArmer: new MicroBatcher(async (arms) => {
      await armTimers(input, arms);
      return arms.map(() => undefined);
    }),
  };
}

export interface ScheduledBody {
  status: 'scheduled';
  trigger_id: string;
  broadcast_id: string;
  scheduled_for: string;
  notes?: string[];
}

export type HookMethod = 'GET' | 'POST';

/** Every expected answer to a hook call, as data; the route maps each to its status code. */
export type HookOutcome =
  | { outcome: 'scheduled'; body: ScheduledBody }
  | { outcome: 'replayed'; body: unknown }
  | { outcome: 'not_found' }
  | { outcome: 'forbidden'; callerAddress: string }
  | { outcome: 'method_not_allowed'; allowed: HookMethod[] }
  | { outcome: 'unauthorized' }
  | { outcome: 'invalid_payload'; errors: ErrorDetail[] };

const MAX_IDEMPOTENCY_KEY = 255;

/**
 * The launch web hook (SPEC §3): the checks in their order, each answered before anything is
 * written; then the trigger committed to Postgres and the broadcast's timer re-armed.
 * Postgres down → AppError 503 (nothing recorded); Redis down → still accepted (the trigger is
 * durable; the reconciler re-arms timers from Postgres).
 */
export async function acceptHookCall(deps: HookDeps, call: HookCall): Promise<HookOutcome> {
  try {
    return await accept(deps, call);
  } catch (error) {
    if (isDatabaseUnavailable(error)) {
      throw new AppError(503, 'service_unavailable', 'The database is unavailable; nothing was recorded. Retry shortly.', [], 5);
    }
    throw error;
  }
}

async function accept(deps: HookDeps, call: HookCall): Promise<HookOutcome> {
  // 1. Unknown token or disabled broadcast: one answer for both, so neither is revealed.
  const broadcast = looksLikeHookToken(call.token) ? await deps.broadcasts.get(call.token) : null;
  if (!broadcast || !broadcast.enabled) return { outcome: 'not_found' };

  // 2. Caller address against allowed_hosts.
  if (broadcast.allowList && !broadcast.allowList.has(call.callerAddress)) {
    return { outcome: 'forbidden', callerAddress: call.callerAddress };
  }

  // 3. Method, then the bot token when the broadcast is not in direct mode.
  const allowed = allowedMethods(broadcast);
  const method = allowed.find((m) => m === call.method);
  if (!method) return { outcome: 'method_not_allowed', allowed };
  if (!broadcast.direct_mode && !hasBotToken(call.authorization, broadcast)) return { outcome: 'unauthorized' };

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

interface TriggerToRecord {
  broadcast: CachedBroadcast;
  callerAddress: string;
  method: HookMethod;
  parsed: Extract<ReturnType<typeof parseHookPayload>, { ok: true }>;
}

interface Recorded {
  body: ScheduledBody;
  delayMs: number;
}

function scheduledBody(trigger: TriggerToRecord, triggerId: string, receivedAt: Date, delayMs: number): Recorded {
  return {
    delayMs,
    body: {
      status: 'scheduled',
      trigger_id: triggerId,
      broadcast_id: trigger.broadcast.id,
      scheduled_for: new Date(receivedAt.getTime() + delayMs).toISOString(),
      ...(trigger.parsed.notes.length ? { notes: trigger.parsed.notes } : {}),
    },
  };
}

/**
 * Small calls share batch INSERTs. Calls that carry targets or a free payload (up to the body
 * limit each) go alone, so no statement grows with the load; so do broadcasts whose delay a
 * max_delay_ms may shorten (that needs the oldest pending trigger, read with the insert).
 */
function batchable({ broadcast, parsed }: TriggerToRecord): boolean {
  return broadcast.max_delay_ms === null && parsed.request.mode !== 'targets' && parsed.request.payload === null;
}

/** The hot path: the row joins the turn's batch INSERT; the delay is the broadcast's own. */
async function recordBatched(deps: HookDeps, trigger: TriggerToRecord): Promise<Recorded> {
  const id = randomUUID();
  const receivedAt = await deps.triggerWriter.submit({
    id,
    broadcastId: trigger.broadcast.id,
    callerAddress: trigger.callerAddress,
    method: trigger.method,
    request: trigger.parsed.request,
    notes: trigger.parsed.notes,
  });
  return scheduledBody(trigger, id, receivedAt, trigger.broadcast.delay_ms);
}

/** One INSERT of its own, which also reads the oldest pending trigger when max_delay_ms caps the delay. */
async function recordTrigger(db: Db, trigger: TriggerToRecord): Promise<Recorded> {
  const { broadcast, callerAddress, method, parsed } = trigger;
  const capped = broadcast.max_delay_ms !== null;
  const row = await insertTrigger(
    db,
    { broadcastId: broadcast.id, callerAddress, method, request: parsed.request, notes: parsed.notes },
    capped,
  );
  const delayMs = dispatchDelayMs({
    delayMs: broadcast.delay_ms,
    maxDelayMs: broadcast.max_delay_ms,
    now: row.received_at,
    firstPendingAt: row.first_pending_at ?? row.received_at,
  });
  return scheduledBody(trigger, row.id, row.received_at, delayMs);
}

/** A concurrent call with the same Idempotency-Key committed first: this one rolls back. */
class LostIdempotencyRace extends Error {}

async function recordIdempotently(db: Db, trigger: TriggerToRecord, key: string): Promise<Recorded | { replay: unknown }> {
  try {
    return await db.transaction().execute(async (trx) => {
      const recorded = await recordTrigger(trx, trigger);
      const claim = { broadcastId: trigger.broadcast.id, key, triggerId: recorded.body.trigger_id, response: recorded.body };
      if (!(await claimIdempotencyKey(trx, claim))) throw new LostIdempotencyRace();
      return recorded;
    });
  } catch (error) {
    if (!(error instanceof LostIdempotencyRace)) throw error;
    return { replay: await findIdempotentResponse(db, trigger.broadcast.id, key) };
  }
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

/**
 * Re-arms the timers of a batch: one BullMQ call per broadcast, with the shortest delay asked
 * for (all calls of a batch arrived together; a max_delay_ms cap may shorten some).
 * Never throws: the triggers are committed, so the calls are accepted whatever Redis does; the
 * reconciler re-arms timers from Postgres.
 */
async function armTimers({ producer, logger }: HookDepsInput, arms: readonly TimerArm[]): Promise<void> {
  const shortest = new Map<string, TimerArm>();
  for (const arm of arms) {
    const seen = shortest.get(arm.broadcastId);
    if (!seen || arm.delayMs < seen.delayMs) shortest.set(arm.broadcastId, arm);
  }
  await Promise.all(
    [...shortest.values()].map(async ({ broadcastId, delayMs, triggerId }) => {
      try {
        await producer.armTimer('broadcast.dispatch', { broadcastId }, delayMs);
      } catch (error) {
        logger.warn('dispatch timer not armed; the trigger stays pending until it is re-armed', { broadcastId, triggerId, error });
      }
    }),
  );
}
