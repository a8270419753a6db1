import type { HookRateLimits } from './call-rate-limit';
import { randomUUID } from 'node:crypto';
import { dispatchDelayMs, type parseHookPayload } from '@herald/core';
import { claimIdempotencyKey, findIdempotentResponse, insertTrigger, insertTriggers, isDatabaseUnavailable, type Db, type NewTriggerRow } from '@herald/db';
import type { Logger } from '@herald/logger';
import type { JobProducer } from '@herald/queue';
import type { CachedBroadcast, HookBroadcastCache } from './broadcast-cache';
import { ItemFailed, MicroBatcher } from './micro-batcher';
import { InFlightCalls } from './in-flight';
import { createVariableBoundChecker, type VariableBoundChecker } from './variable-bound';

/**
 * Step 5 and 6 of a hook call: committing the trigger (batched, alone, or with its
 * idempotency key) and re-arming the broadcast's timer.
 */

export interface HookDepsInput {
  db: Db;
  broadcasts: HookBroadcastCache;
  producer: JobProducer;
  logger: Logger;
  maxTargetsPerCall: number;
  /** Per caller address and per broadcast; none unless given. */
  rateLimits?: HookRateLimits;
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
  /** …and one look-up of the contacts they name, for the bound on variables. */
  variableBound: VariableBoundChecker;
  /** The calls being handled, which a stopping ingress waits for. */
  inFlight: InFlightCalls;
}

/**
 * Trigger INSERTs at once from one ingress process. Two keep the database busy (one commits
 * while the next is sent) while calls arriving meanwhile gather into the next INSERT; without
 * a limit a flood is split into more, smaller statements (`BENCH_BODY=per-user pnpm
 * bench:ingress`: Postgres CPU per call 0.07-0.08 ms unlimited, 0.04-0.06 ms with two).
 * Timer re-arms go one at a time: a re-arm made later only moves the timer later, never earlier.
 */
const TRIGGER_INSERTS_IN_FLIGHT = 2;

export function createHookDeps(input: HookDepsInput): HookDeps {
  return {
    ...input,
    triggerWriter: new MicroBatcher((rows) => writeTriggers(input.db, rows), { maxInFlight: TRIGGER_INSERTS_IN_FLIGHT }),
    timerArmer: new MicroBatcher(
      async (arms) => {
        await armTimers(input, arms);
        return arms.map(() => undefined);
      },
      { maxInFlight: 1 },
    ),
    variableBound: createVariableBoundChecker(input.db),
    inFlight: new InFlightCalls(),
  };
}

/** A trigger whose broadcast was deleted after the look-up (the cache is a second old at most). */
export const FOREIGN_KEY_VIOLATION = '23503';

/**
 * One INSERT for the batch. If a row cannot go in (its broadcast was deleted meanwhile, or
 * anything else the database refuses in one row), the rows are retried one by one so that only
 * that call fails — a 404 for a deleted broadcast — and the calls batched with it stand. A
 * database that is down fails them all at once: row by row would only take longer to say so.
 */
async function writeTriggers(db: Db, rows: NewTriggerRow[]): Promise<Array<Date | ItemFailed>> {
  try {
    const received = await insertTriggers(db, rows);
    return rows.map((row) => received.get(row.id)!);
  } catch (error) {
    if (rows.length === 1 || isDatabaseUnavailable(error)) throw error;
    return Promise.all(
      rows.map(async (row) => {
        try {
          return (await insertTriggers(db, [row])).get(row.id)!;
        } catch (rowError) {
          return new ItemFailed(rowError);
        }
      }),
    );
  }
}

export interface ScheduledBody {
  status: 'scheduled';
  trigger_id: string;
  broadcast_id: string;
  scheduled_for: string;
  notes?: string[];
}

export type HookMethod = 'GET' | 'POST';

export interface TriggerToRecord {
  broadcast: CachedBroadcast;
  callerAddress: string | null;
  method: HookMethod;
  parsed: Extract<ReturnType<typeof parseHookPayload>, { ok: true }>;
}

export interface Recorded {
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

/** Most targets, and most bytes of request, a call may carry and still share a batch INSERT. */
export const BATCHED_CALL_LIMITS = { targets: 100, requestBytes: 16 * 1024 } as const;

/**
 * Small calls share batch INSERTs — plain calls and per-user calls alike (`targets` or
 * `set_conversation` for one contact: the commonest high-volume use of a hook). A call with
 * many targets, a large request or a free payload (up to the body limit each) goes alone, so a
 * batch statement stays under 500 × 16 KiB whatever the load; so do broadcasts whose delay a
 * max_delay_ms may shorten (that needs the oldest pending trigger, read with the insert).
 */
export function batchable({ broadcast, parsed }: TriggerToRecord): boolean {
  const { request } = parsed;
  if (broadcast.max_delay_ms !== null || request.payload !== null) return false;
  if (request.mode === 'targets' && request.targets.length > BATCHED_CALL_LIMITS.targets) return false;
  return Buffer.byteLength(JSON.stringify(request)) <= BATCHED_CALL_LIMITS.requestBytes;
}

/** The hot path: the row joins the turn's batch INSERT; the delay is the broadcast's own. */
export async function recordBatched(deps: HookDeps, trigger: TriggerToRecord): Promise<Recorded> {
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
export async function recordTrigger(db: Db, trigger: TriggerToRecord): Promise<Recorded> {
  const { broadcast, callerAddress, method, parsed } = trigger;
  const capped = broadcast.max_delay_ms !== null;
  const row = await insertTrigger(db, { broadcastId: broadcast.id, callerAddress, method, request: parsed.request, notes: parsed.notes }, capped);
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

export async function recordIdempotently(db: Db, trigger: TriggerToRecord, key: string): Promise<Recorded | { replay: unknown }> {
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
