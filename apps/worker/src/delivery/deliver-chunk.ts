import { setTimeout as sleep } from 'node:timers/promises';
import { effectiveRatePerSecond, retryDelayMs, type ChannelName, type RetryPolicy } from '@herald/core';
import { adapterFor, type ChannelAdapter, type ConnectionSettings, type ConnectionThrottle, type OutboundHttp, type SendResult } from '@herald/channels';
import {
  claimDeliveries,
  closeQueuedDeliveries,
  loadChunkContext,
  nextDueInChunk,
  recordConnectionFault,
  setContactOptOut,
  type ChunkContext,
  type ChunkRange,
  type ClaimedDelivery,
  type Db,
  type DeliveryOutcome,
  type SecretKeyring,
} from '@herald/db';
import type { Logger } from '@herald/logger';
import type { JobPayload, JobProducer } from '@herald/queue';
import type { DeliveryMetrics } from './delivery-metrics';
import type { InFlightLimit } from './in-flight-limit';
import { planMessage, UnrenderableMessage, type MessagePlan } from './message-plan';
import { finalOutcome as final } from './final-outcome';
import type { OutcomeRecorder } from './outcome-recorder';
import { deliverToOutbox } from './deliver-to-outbox';

export interface DeliveryDeps {
  db: Db;
  logger: Logger;
  /** Adds the chunk again when some of it must wait (a retry, a paused connection, a shutdown). */
  producer: Pick<JobProducer, 'add'>;
  http: OutboundHttp;
  /** Opens the connections' credentials (sealed at rest with HERALD_SECRET_KEY). */
  secrets: SecretKeyring;
  throttle: ConnectionThrottle;
  inFlight: InFlightLimit;
  retryPolicy: RetryPolicy;
  /** Most deliveries claimed by one statement. */
  claimBatch: number;
  /** How long a claim holds its rows; after it another worker may send them (a dead worker's). */
  leaseMs: number;
  metrics: DeliveryMetrics;
  /** Aborted on SIGTERM: chunks stop claiming, finish what is in flight and hand the rest back. */
  stopping: AbortSignal;
  /** Compiled messages by run and channel (SPEC §4: compiled once per run). */
  plans: Map<string, MessagePlan>;
  /** Writes the outcomes of every send of this process, in batches per run. */
  recorder: OutcomeRecorder;
}

export type ChunkOutcome =
  | { outcome: 'run_not_active'; runStatus: string | null }
  | { outcome: 'closed'; reason: 'no_channel_connection' | 'connection_unauthorized' | 'template_invalid'; deliveries: number }
  | { outcome: 'delivered'; claimed: number; followUpAt: Date | null };

/** A throttle wait longer than this is not slept through: the chunk is added again for later. */
const MAX_INLINE_WAIT_MS = 2_000;
/** A chunk added again never comes back sooner than this (no hot loop over a busy range). */
const MIN_FOLLOW_UP_MS = 1_000;
/**
 * On a rate-limited connection, a claim that comes back this long after its grants (a slow
 * statement: a new connection planning it, a busy Postgres) has them taken again before its
 * sends. Meanwhile the other senders went on at the rate; sent now on the old grants, these
 * messages would reach the provider bunched with theirs, past the rate in its one-second
 * windows (seen at a worker's start: claims of 15-40 ms, 53-54 messages in the first second
 * at 50/s).
 */
const LATE_GRANT_MS = 10;
const ACTIVE_RUN = new Set(['dispatching', 'delivering']);
const MAX_CACHED_PLANS = 500;

/**
 * Delivers one chunk of a run's deliveries on one channel (SPEC §4):
 * 1. Load the run, its message and the bot's connection for the channel; a run no longer
 *    active has nothing to send (a cancel skipped its queued deliveries).
 * 2. No connection → every queued delivery of the chunk is skipped (`no_channel_connection`);
 *    a connection refused by its provider → failed (`connection_unauthorized`).
 * 3. Otherwise, in a loop: take in-flight slots and throttle grants, claim that many due
 *    deliveries in Postgres, render and send each, record the outcomes in batches.
 * 4. Deliveries left waiting (a retry, a paused connection, a shutdown) get the chunk added
 *    again for when the first of them is due.
 */
export async function deliverChunk(deps: DeliveryDeps, chunk: JobPayload<'delivery.chunk'>): Promise<ChunkOutcome> {
  const log = deps.logger.child({ runId: chunk.runId, channel: chunk.channel });
  // A connection sealed under a key this worker lacks throws here: the job is retried, and the
  // reconciler brings the chunk back once the worker has the key (nothing is sent or lost).
  const context = await loadChunkContext(deps.db, deps.secrets, chunk.runId, chunk.channel);
  if (!context || !ACTIVE_RUN.has(context.run_status)) return { outcome: 'run_not_active', runStatus: context?.run_status ?? null };

  if (!context.connection_id || !context.provider) {
    return closeChunk(deps, chunk, { status: 'skipped', reason: 'no_channel_connection' });
  }
  if (context.fault_code) {
    return closeChunk(deps, chunk, {
      status: 'failed',
      reason: 'connection_unauthorized',
      errorCode: context.fault_code,
      lastError: 'the channel connection was refused by its provider; save it again to resume',
    });
  }

  let plan: MessagePlan;
  try {
    plan = planFor(deps, chunk.runId, chunk.channel, context);
  } catch (error) {
    // Saved before templates were checked: it can never render, so its deliveries fail now
    // (retrying would change nothing) with the reason and the position of the fault.
    if (!(error instanceof UnrenderableMessage)) throw error;
    return closeChunk(deps, chunk, { status: 'failed', reason: 'template_invalid', lastError: error.message });
  }
  const send = context.provider === 'web' ? await deliverToOutbox(deps, chunk, context, plan) : await deliverThroughProvider(deps, chunk, context, plan, log);
  const followUpAt = await addFollowUp(deps, chunk, send.deferredUntil);
  return { outcome: 'delivered', claimed: send.claimed, followUpAt };
}

type Closing = { status: 'skipped' | 'failed'; reason: ClosedReason; errorCode?: string; lastError?: string };
type ClosedReason = Extract<ChunkOutcome, { outcome: 'closed' }>['reason'];

/** Step 2: the chunk's queued deliveries all made final at once, without a send. */
async function closeChunk(deps: DeliveryDeps, chunk: ChunkRange, closing: Closing): Promise<ChunkOutcome> {
  const deliveries = await closeQueued(deps, { ...chunk, range: chunk }, closing);
  return { outcome: 'closed', reason: closing.reason, deliveries };
}

/** Makes queued deliveries (of a chunk, or of the run's channel) final, in Postgres and in the metrics. */
async function closeQueued(
  deps: DeliveryDeps,
  where: { runId: string; channel: ChannelName; range?: { firstId: string; lastId: string } },
  closing: Closing,
): Promise<number> {
  const deliveries = await closeQueuedDeliveries(deps.db, { ...where, ...closing });
  deps.metrics.deliveries.inc({ channel: where.channel, outcome: closing.status, reason: closing.reason }, deliveries);
  return deliveries;
}

function planFor(deps: DeliveryDeps, runId: string, channel: ChannelName, context: ChunkContext): MessagePlan {
  const key = `${runId}:${channel}`;
  let plan = deps.plans.get(key);
  if (!plan) {
    plan = planMessage(context.message, channel, context.payload);
    if (deps.plans.size >= MAX_CACHED_PLANS) deps.plans.delete(deps.plans.keys().next().value!);
    deps.plans.set(key, plan);
  }
  return plan;
}

export interface SendLoopResult {
  claimed: number;
  /** Set when the loop stopped early and the chunk must come back then. */
  deferredUntil: Date | null;
}

/** Step 3 for a real provider. */
async function deliverThroughProvider(deps: DeliveryDeps, chunk: ChunkRange, context: ChunkContext, plan: MessagePlan, log: Logger): Promise<SendLoopResult> {
  const adapter = adapterFor(context.provider!);
  if (!adapter) throw new Error(`no adapter for provider ${context.provider}`);
  const connection: ConnectionSettings = {
    id: context.connection_id!,
    channel: chunk.channel,
    provider: context.provider!,
    credentials: context.credentials ?? {},
    baseUrl: context.base_url,
  };
  const rate = effectiveRatePerSecond(context.provider!, context.rate_limit_per_second);
  const sending = new Set<Promise<void>>();
  let failure: unknown;
  const state = { faulted: false };
  let claimed = 0;
  let deferredUntil: Date | null = null;

  // Claims walk the chunk upwards: what lies below the last claim is final, being sent, or
  // waiting for a retry (the follow-up covers it), so no claim scans those rows again.
  let after = BigInt(chunk.firstId) - 1n;
  try {
    while (!deps.stopping.aborted && !state.faulted) {
      // Wait for half a batch of free slots: fewer, larger claims when the process is at capacity.
      const slots = await deps.inFlight.acquire(deps.claimBatch, Math.ceil(deps.claimBatch / 2));
      const take = await deps.throttle.take(connection.id, rate, slots).catch((error: unknown) => {
        deps.inFlight.release(slots);
        throw error;
      });
      if (take.granted === 0) {
        deps.inFlight.release(slots);
        if (take.waitMs > MAX_INLINE_WAIT_MS) {
          deferredUntil = new Date(Date.now() + take.waitMs);
          break;
        }
        await waitForThrottle(deps, take.waitMs, chunk.channel);
        continue;
      }
      deps.inFlight.release(slots - take.granted);
      const claim = { ...chunk, firstId: String(after + 1n), connectionId: connection.id, limit: take.granted, leaseMs: deps.leaseMs };
      const grantedAt = Date.now();
      const rows = await claimDeliveries(deps.db, claim).catch((error: unknown) => {
        deps.inFlight.release(take.granted);
        throw error;
      });
      const unused = take.granted - rows.length;
      if (unused > 0) {
        deps.inFlight.release(unused);
        await deps.throttle.refund(connection.id, rate, unused);
      }
      if (rows.length === 0) break;
      if (rate !== null && Date.now() - grantedAt > LATE_GRANT_MS) await retakeGrants(deps, connection.id, rate, rows.length, chunk.channel);
      claimed += rows.length;
      for (const row of rows) {
        if (BigInt(row.id) > after) after = BigInt(row.id);
        const done: Promise<void> = sendOne(deps, { adapter, connection, context, plan, row, state, chunk, log })
          .catch((error: unknown) => void (failure ??= error))
          .finally(() => {
            deps.inFlight.release(1);
            sending.delete(done);
          });
        sending.add(done);
      }
    }
  } finally {
    // Whatever ended the loop, the sends already made are awaited and their outcomes written.
    await Promise.all(sending);
    // The follow-up reads what is still waiting: every outcome of this chunk must be written.
    await deps.recorder.drain();
  }
  // A send whose aftermath failed (e.g. recording a connection fault): the job is retried.
  if (failure !== undefined) throw failure;
  if (deps.stopping.aborted && !deferredUntil) deferredUntil = new Date();
  return { claimed, deferredUntil };
}

/**
 * Grants given back and taken again, waiting for them as long as it takes: see LATE_GRANT_MS.
 * A grant whose time passed while no other sender used the connection comes back at once.
 */
async function retakeGrants(deps: DeliveryDeps, connectionId: string, rate: number, count: number, channel: ChannelName): Promise<void> {
  await deps.throttle.refund(connectionId, rate, count);
  for (let left = count; left > 0;) {
    const take = await deps.throttle.take(connectionId, rate, left);
    left -= take.granted;
    if (left > 0) await waitForThrottle(deps, take.waitMs, channel);
  }
}

async function waitForThrottle(deps: DeliveryDeps, ms: number, channel: ChannelName): Promise<void> {
  deps.metrics.throttleWaitSeconds.inc({ channel }, ms / 1000);
  await sleep(ms);
}

interface SendStep {
  adapter: ChannelAdapter;
  connection: ConnectionSettings;
  context: ChunkContext;
  plan: MessagePlan;
  row: ClaimedDelivery;
  state: { faulted: boolean };
  chunk: ChunkRange;
  log: Logger;
}

/** Renders, sends and classifies one delivery; its outcome goes to the recorder. */
async function sendOne(deps: DeliveryDeps, step: SendStep): Promise<void> {
  const { adapter, connection, context, row, chunk } = step;
  const rendered = step.plan.render(row);
  const record = (outcome: Omit<DeliveryOutcome, 'id' | 'claim_id' | 'text'>) => {
    const status = outcome.status === 'queued' ? 'retry' : outcome.status;
    deps.metrics.deliveries.inc({ channel: chunk.channel, outcome: status, reason: outcome.reason ?? '' });
    // Ids and codes only: never the text, the address or anything of the credentials.
    if (status !== 'sent') step.log.debug('delivery not sent', { deliveryId: row.id, status, reason: outcome.reason, code: outcome.error_code });
    // Awaited: when writes fall behind, the sender waits here holding its in-flight slot, so
    // what a crash can resend stays within DELIVERY_CONCURRENCY + MAX_UNWRITTEN_OUTCOMES.
    return deps.recorder.add(chunk.runId, { id: row.id, claim_id: row.claim_id, text: rendered.recordedText, ...outcome });
  };
  if (row.opted_out) return record(final('skipped', 'opted_out'));
  const to = adapter.recipient(rendered.contact);
  if (to === null) return record(final('skipped', 'unreachable'));
  if (rendered.empty) return record(final('skipped', 'empty_message'));

  const started = performance.now();
  const result = await adapter
    .send(connection, { deliveryId: row.id, runId: chunk.runId, broadcastId: context.broadcast_id, botId: context.bot_id, ...rendered }, deps.http)
    .catch((error: unknown): SendResult => ({ outcome: 'retry', code: 'internal', message: error instanceof Error ? error.message : String(error) }));
  deps.metrics.providerRequestSeconds.observe(
    { channel: chunk.channel, provider: connection.provider, result: result.outcome },
    (performance.now() - started) / 1000,
  );

  switch (result.outcome) {
    case 'sent':
      // With the connection, the provider's id is kept for receipts that name the message by it.
      return record({
        ...final('sent', null),
        provider_message_id: result.providerMessageId,
        connection_id: adapter.receiptsByProviderId ? connection.id : null,
      });
    case 'failed':
      await record({ ...final('failed', 'provider_rejected'), error_code: result.code, last_error: result.message });
      // The provider says the person opted out or blocked us (Twilio 21610, a Telegram block):
      // later runs skip them. Rare, so one statement each. The outcome is recorded already, so
      // a failure here is logged rather than failing the chunk (the next such refusal retries it).
      if (result.optOut) {
        await setContactOptOut(deps.db, context.bot_id, row.contact_id, result.optOut).catch((error: unknown) =>
          step.log.warn('could not opt the contact out', { deliveryId: row.id, error }),
        );
      }
      return;
    case 'retry': {
      if (result.throttled) await pauseConnection(deps, connection.id, result.retryAfterMs, step.log);
      const delay = retryDelayMs(deps.retryPolicy, row.attempts, result.retryAfterMs);
      if (delay === null) return record({ ...final('failed', 'retries_exhausted'), error_code: result.code, last_error: result.message });
      deps.metrics.retries.inc({ channel: chunk.channel, code: result.code });
      return record({ ...final('queued', null), error_code: result.code, last_error: result.message, next_attempt_at: new Date(Date.now() + delay) });
    }
    case 'connection_fault':
      await record({ ...final('failed', 'connection_unauthorized'), error_code: result.code, last_error: result.message });
      if (!step.state.faulted) {
        step.state.faulted = true;
        await stopConnection(deps, step, result);
      }
      return;
  }
}

/** A provider's "too many requests" pauses the connection for every worker (SPEC §4). */
async function pauseConnection(deps: DeliveryDeps, connectionId: string, retryAfterMs: number | undefined, log: Logger): Promise<void> {
  const ms = retryAfterMs ?? 1_000;
  await deps.throttle.pause(connectionId, ms).catch((error: unknown) => log.warn('could not pause the connection', { error }));
}

/**
 * The provider refused the connection itself (bad credentials, a refused destination): it is
 * marked faulted (shown by the admin API, checked by every chunk before it sends) and the
 * run's remaining deliveries on it fail at once instead of each trying the same credentials.
 */
async function stopConnection(deps: DeliveryDeps, step: SendStep, fault: { code: string; message: string }): Promise<void> {
  step.log.warn('channel connection refused by its provider: stopped', { connectionId: step.connection.id, code: fault.code });
  await recordConnectionFault(deps.db, step.connection.id, fault);
  await closeQueued(
    deps,
    { runId: step.chunk.runId, channel: step.chunk.channel },
    { status: 'failed', reason: 'connection_unauthorized', errorCode: fault.code, lastError: fault.message },
  );
}

/**
 * Step 4: adds the chunk again for its first delivery still waiting, with a job id naming that
 * time (a chunk processed twice adds one follow-up, not two). Null when none waits.
 */
async function addFollowUp(deps: DeliveryDeps, chunk: JobPayload<'delivery.chunk'>, deferredUntil: Date | null): Promise<Date | null> {
  const due = deferredUntil ?? (await nextDueInChunk(deps.db, chunk));
  if (!due) return null;
  const at = Math.max(due.getTime(), Date.now() + MIN_FOLLOW_UP_MS);
  const { generation: _previous, ...range } = chunk;
  await deps.producer.add('delivery.chunk', { ...range, generation: `r${at}` }, { delay: at - Date.now() });
  return new Date(at);
}
