import Joi from 'joi';
import type { Job, JobsOptions } from 'bullmq';

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
}

export type JobName = keyof JobPayloads;
export type JobPayload<K extends JobName> = JobPayloads[K];

/** BullMQ queue names. One Worker per queue, so each can be scaled and limited on its own. */
export const QUEUE_NAMES = ['dispatch', 'maintenance'] as const;
export type QueueName = (typeof QUEUE_NAMES)[number];

export interface JobDefinition<P> {
  queue: QueueName;
  schema: Joi.ObjectSchema<P>;
  /** Attempts, backoff and retention. Let BullMQ own retries: processors throw to retry. */
  options: JobsOptions;
  /**
   * Makes the job a re-armable timer (see `JobProducer.armTimer`): at most one job per id is
   * waiting at a time. For the dispatch job the id is the broadcast's: one timer per broadcast.
   */
  timerId?: (payload: P) => string;
}

const uuid = Joi.string().guid().required();

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
};

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
  if (error) throw new InvalidJobPayloadError(name, error.details.map((d) => d.message));
  return value as JobPayloads[K];
}

/** A processor for job `K`. `Ctx` is what the worker process hands every processor. */
export type Processor<K extends JobName, Ctx> = (job: Job<JobPayloads[K]>, ctx: Ctx) => Promise<void>;

/** One processor per job name: a missing one is a compile error. */
export type ProcessorMap<Ctx> = { readonly [K in JobName]: Processor<K, Ctx> };
