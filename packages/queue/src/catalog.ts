import Joi from 'joi';
import type { Job, JobsOptions } from 'bullmq';
import { CHANNEL_NAMES, type ChannelName } from '@herald/core';

/**
 * The job catalog: the single source of truth for every background job (STYLE §1).
 * A job's name fixes its queue, its payload schema, its retry settings and its id rule;
 * the worker's processor map is typed against `JobName`, so a job without a processor does
 * not compile. Jobs carry ids, never state: processors reload rows and exit early when the
 * work is already done, which is what makes a retried or duplicated job harmless.
 */

export interface JobPayloads {
  /** Turn a broadcast's pending triggers into a run. Armed by the hook, fired by its timer. */
  'broadcast.dispatch': { broadcastId: string };
  /** Repairs what Redis lost or a crash left behind, from Postgres (run by a job scheduler). */
  'maintenance.reconcile': Record<string, never>;
  /** Deletes finished runs, their deliveries and triggers past RETENTION_DAYS (run by a job scheduler). */
  'maintenance.retention': Record<string, never>;
  /**
   * A chunk of a run's deliveries on one channel: those with ids in [firstId, lastId]. Ids are
   * decimal strings (bigint). Added by the dispatch once the run's delivery rows are written;
   * added again (with a `generation`) when some of them wait for a retry, a paused connection,
   * or were left behind by a dead worker. The claim in Postgres makes any overlap harmless.
   */
  'delivery.chunk': { runId: string; channel: ChannelName; firstId: string; lastId: string; generation?: string };
}

export type JobName = keyof JobPayloads;
export type JobPayload<K extends JobName> = JobPayloads[K];

/**
 * Jobs produced by a release whose consumer is not built yet: they wait in their queue, and a
 * worker runs no BullMQ Worker on it. Every job has a consumer today; a name listed here drops
 * the processor map's demand for it.
 */
export type UnconsumedJobName = never;
export type ConsumedJobName = Exclude<JobName, UnconsumedJobName>;

/**
 * BullMQ queue names. One Worker per queue, so each can be scaled and limited on its own; one
 * delivery queue per channel, so a slow or throttled provider never holds up another channel.
 */
export const QUEUE_NAMES = [
  'dispatch',
  'maintenance',
  'deliver-whatsapp',
  'deliver-sms',
  'deliver-rcs',
  'deliver-telegram',
  'deliver-messenger',
  'deliver-web',
  'deliver-custom',
] as const;
export type QueueName = (typeof QUEUE_NAMES)[number];

export const DELIVERY_QUEUES: { readonly [C in ChannelName]: QueueName } = {
  WhatsAppChannel: 'deliver-whatsapp',
  SMSChannel: 'deliver-sms',
  RCSChannel: 'deliver-rcs',
  TelegramChannel: 'deliver-telegram',
  FacebookChannel: 'deliver-messenger',
  WebChannel: 'deliver-web',
  CustomChannel: 'deliver-custom',
};

export interface JobDefinition<P> {
  /**
   * The job's queue: fixed, or routed by its payload among several (a delivery chunk goes to
   * its channel's queue).
   */
  queue: QueueName | { route: (payload: P) => QueueName; among: readonly QueueName[] };
  schema: Joi.ObjectSchema<P>;
  /** Attempts, backoff and retention. Let BullMQ own retries: processors throw to retry. */
  options: JobsOptions;
  /**
   * Makes the job a re-armable timer (see `JobProducer.armTimer`): at most one job per id is
   * waiting at a time. For the dispatch job the id is the broadcast's: one timer per broadcast.
   */
  timerId?: (payload: P) => string;
  /**
   * A fixed BullMQ job id: adding a job whose id is already in the queue does nothing, which
   * makes re-adding after a crash harmless. BullMQ refuses ids with ':' and all-digit ids.
   */
  jobId?: (payload: P) => string;
}

const uuid = Joi.string().guid().required();
/** A bigint id as decimal text: pg returns bigint as strings, and JSON has no 64-bit integers. */
const bigintId = Joi.string()
  .pattern(/^[1-9][0-9]{0,18}$/)
  .required();

const DAY_S = 24 * 3600;

export const jobCatalog: { readonly [K in JobName]: JobDefinition<JobPayloads[K]> } = {
  'broadcast.dispatch': {
    queue: 'dispatch',
    schema: Joi.object<JobPayloads['broadcast.dispatch']>({ broadcastId: uuid }),
    options: {
      attempts: 8,
      backoff: { type: 'exponential', delay: 2_000 },
      removeOnComplete: { age: DAY_S, count: 10_000 },
      removeOnFail: { age: 7 * DAY_S },
    },
    timerId: ({ broadcastId }) => `broadcast.dispatch:${broadcastId}`,
  },
  'maintenance.reconcile': {
    queue: 'maintenance',
    schema: Joi.object<Record<string, never>>({}),
    // The next scheduled run is the retry: a failed reconcile is simply done again.
    options: { attempts: 1, removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } },
  },
  'maintenance.retention': {
    queue: 'maintenance',
    schema: Joi.object<Record<string, never>>({}),
    // As the reconcile: the next pass is the retry, and it carries on where this one stopped.
    options: { attempts: 1, removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } },
  },
  'delivery.chunk': {
    queue: { route: ({ channel }) => DELIVERY_QUEUES[channel], among: Object.values(DELIVERY_QUEUES) },
    schema: Joi.object<JobPayloads['delivery.chunk']>({
      runId: uuid,
      channel: Joi.string()
        .valid(...CHANNEL_NAMES)
        .required(),
      firstId: bigintId,
      lastId: bigintId,
      generation: Joi.string().pattern(/^[a-z][a-z0-9]{0,40}$/),
    }),
    // Retries here are for the chunk's own failures (Postgres down); a message's retries wait
    // in Postgres. A chunk that still fails for good is picked up by the reconciler's sweep.
    options: {
      attempts: 8,
      backoff: { type: 'exponential', delay: 2_000 },
      removeOnComplete: { age: DAY_S, count: 100_000 },
      removeOnFail: { age: 7 * DAY_S },
    },
    // A chunk starts at a delivery id, and a delivery belongs to one run and one channel; a
    // later add of the same chunk names its generation (e.g. the time it is due).
    jobId: ({ runId, firstId, generation }) => `chunk-${runId}-${firstId}${generation ? `-${generation}` : ''}`,
  },
};

/** The queue a job goes to. */
export function queueOf<K extends JobName>(name: K, payload: JobPayloads[K]): QueueName {
  const { queue } = jobCatalog[name] as JobDefinition<JobPayloads[K]>;
  return typeof queue === 'string' ? queue : queue.route(payload);
}

/** Every queue the given jobs can be in: the queues a worker consuming them runs Workers on. */
export function queuesOf(names: readonly JobName[]): QueueName[] {
  const queues = names.flatMap((name) => {
    const { queue } = jobCatalog[name];
    return typeof queue === 'string' ? [queue] : queue.among;
  });
  return [...new Set(queues)];
}

export function isJobName(name: string): name is JobName {
  return Object.hasOwn(jobCatalog, name);
}

export class InvalidJobPayloadError extends Error {
  constructor(
    readonly jobName: string,
    readonly problems: string[],
  ) {
    super(`invalid payload for ${jobName}: ${problems.join('; ')}`);
    this.name = 'InvalidJobPayloadError';
  }
}

/** Checks a payload against its schema; producers call it before adding, workers on receipt. */
export function validatePayload<K extends JobName>(name: K, payload: unknown): JobPayloads[K] {
  const { value, error } = jobCatalog[name].schema.validate(payload, { abortEarly: false, stripUnknown: true });
  if (error)
    throw new InvalidJobPayloadError(
      name,
      error.details.map((d) => d.message),
    );
  return value;
}

/** A processor for job `K`. `Ctx` is what the worker process hands every processor. */
export type Processor<K extends JobName, Ctx> = (job: Job<JobPayloads[K]>, ctx: Ctx) => Promise<void>;

/** One processor per consumed job name: a missing one is a compile error. */
export type ProcessorMap<Ctx> = { readonly [K in ConsumedJobName]: Processor<K, Ctx> };
