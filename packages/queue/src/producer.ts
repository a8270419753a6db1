import type { JobsOptions, Queue } from 'bullmq';
import { createQueue, type QueueBackend } from './backend';
import { jobCatalog, queueOf, validatePayload, type JobDefinition, type JobName, type JobPayloads, type QueueName } from './catalog';

/** Job states in which a timer job still holds its deduplication id: it will run. */
const PENDING_STATES: ReadonlySet<string> = new Set(['delayed', 'waiting', 'active', 'prioritized', 'waiting-children']);

/**
 * Adds catalog jobs to their queues. One instance per process; on Redis it shares one
 * connection between all its queues.
 */
export class JobProducer {
  private readonly queues = new Map<QueueName, Queue>();

  constructor(
    private readonly backend: QueueBackend,
    /** Connection errors of the queues (Redis down); an unheard 'error' event would be fatal. */
    private readonly onError: (error: Error) => void = () => undefined,
  ) {}

  queue(name: QueueName): Queue {
    let queue = this.queues.get(name);
    if (!queue) {
      // BullMQ checks the Redis version once, when a Queue is made; on a fail-fast connection
      // that is not up yet the check fails and the Queue never recovers. So none is made until
      // the connection is ready: until then adds fail (and are retried by the caller's caller).
      const { backend } = this;
      if (backend.kind === 'redis' && backend.connection.options.enableOfflineQueue === false && backend.connection.status !== 'ready') {
        throw new Error(`redis connection is ${backend.connection.status}`);
      }
      // Producers answer HTTP requests: with Redis down an add must fail at once (the caller
      // has already made its work durable elsewhere), not wait for the connection.
      queue = createQueue(backend, name, { skipWaitingForReady: true });
      queue.on('error', this.onError);
      this.queues.set(name, queue);
    }
    return queue;
  }

  /** Validates the payload, then adds the job with the catalog's options (overridable). */
  async add<K extends JobName>(name: K, payload: JobPayloads[K], options: JobsOptions = {}): Promise<string> {
    const data = validatePayload(name, payload);
    const job = await this.queue(queueOf(name, data)).add(name, data, { ...this.jobOptions(name, data), ...options });
    if (!job.id) throw new Error(`BullMQ returned no id for ${name}`);
    return job.id;
  }

  /**
   * Adds many jobs of one kind: one round trip per queue they go to (BullMQ's addBulk is one
   * MULTI). A job whose catalog id is already in its queue is left as it is.
   */
  async addBulk<K extends JobName>(name: K, payloads: readonly JobPayloads[K][]): Promise<void> {
    const byQueue = new Map<QueueName, { name: K; data: JobPayloads[K]; opts: JobsOptions }[]>();
    for (const payload of payloads) {
      const data = validatePayload(name, payload);
      const queue = queueOf(name, data);
      const jobs = byQueue.get(queue) ?? [];
      jobs.push({ name, data, opts: this.jobOptions(name, data) });
      byQueue.set(queue, jobs);
    }
    await Promise.all([...byQueue].map(([queue, jobs]) => this.queue(queue).addBulk(jobs)));
  }

  /** The catalog's options for one job, with its fixed id when the catalog gives one. */
  private jobOptions<K extends JobName>(name: K, data: JobPayloads[K]): JobsOptions {
    const definition = jobCatalog[name] as JobDefinition<JobPayloads[K]>;
    return definition.jobId ? { ...definition.options, jobId: definition.jobId(data) } : definition.options;
  }

  /**
   * Arms the job's timer to fire `delayMs` from now, replacing the previous delay (SPEC §3.2).
   * BullMQ's deduplication does it in one Lua script, so concurrent calls never leave two jobs:
   * - the timer is still delayed → that job is replaced by this one, due `delayMs` from now;
   * - the job is waiting (fired, not yet picked up) → nothing to do: when it runs it claims
   *   every trigger committed before it, this call's included;
   * - the job is running (`keepLastIfActive`) → this one is kept and queued, with its delay,
   *   when the running one finishes: a call during a dispatch gets a dispatch of its own.
   * No `jobId` and no TTL: either would defeat the replacement (see NOTES.md).
   */
  async armTimer<K extends JobName>(name: K, payload: JobPayloads[K], delayMs: number): Promise<void> {
    const data = validatePayload(name, payload);
    const { queue, timerId } = this.timer(name, data);
    await queue.add(name, data, {
      ...jobCatalog[name].options,
      delay: Math.max(0, Math.round(delayMs)),
      deduplication: { id: timerId, replace: true, keepLastIfActive: true },
    });
  }

  /**
   * Arms the timer unless it is armed; true when it armed it. For the reconciler, which arms
   * timers Redis lost. A partial loss can leave a deduplication entry naming a job that is in
   * no state (its hash kept, its delayed set gone): BullMQ then treats every `armTimer` as a
   * duplicate and the timer never fires. Such an entry is dropped first. (A hook call arming
   * the timer in between can leave two jobs; the second dispatch finds nothing pending.)
   */
  async ensureTimerArmed<K extends JobName>(name: K, payload: JobPayloads[K], delayMs: number): Promise<boolean> {
    const timer = await this.timerState(name, payload);
    if (timer.armed) return false;
    if (timer.jobId !== null) await timer.queue.removeDeduplicationKey(timer.timerId);
    await this.armTimer(name, payload, delayMs);
    return true;
  }

  /** Whether the job's timer is armed: a delayed, waiting or running job holds its id. */
  async isTimerArmed<K extends JobName>(name: K, payload: JobPayloads[K]): Promise<boolean> {
    return (await this.timerState(name, payload)).armed;
  }

  /** The job the timer's deduplication entry names (if any), and whether it will still run. */
  private async timerState<K extends JobName>(name: K, payload: JobPayloads[K]) {
    const { queue, timerId } = this.timer(name, payload);
    const jobId = await queue.getDeduplicationJobId(timerId);
    const armed = jobId !== null && PENDING_STATES.has(await queue.getJobState(jobId));
    return { queue, timerId, jobId, armed };
  }

  /** The queue and deduplication id of a timer job. */
  private timer<K extends JobName>(name: K, payload: JobPayloads[K]): { queue: Queue; timerId: string } {
    const { timerId } = jobCatalog[name] as JobDefinition<JobPayloads[K]>;
    if (!timerId) throw new Error(`${name} is not a timer job`);
    return { queue: this.queue(queueOf(name, payload)), timerId: timerId(payload) };
  }

  /**
   * Creates the job scheduler that adds `name` every `everyMs`, unless it exists. Every worker
   * calls this periodically, so a scheduler that Redis lost comes back; an existing one is left
   * alone (re-upserting would move its next run).
   */
  async ensureScheduler<K extends JobName>(name: K, payload: JobPayloads[K], everyMs: number): Promise<boolean> {
    const definition = jobCatalog[name];
    const queue = this.queue(queueOf(name, payload));
    if (await queue.getJobScheduler(name)) return false;
    const data = validatePayload(name, payload);
    await queue.upsertJobScheduler(name, { every: everyMs }, { name, data, opts: definition.options });
    return true;
  }

  /**
   * Whether the queues still hold what Herald gave them. On Redis, a marker key is set once the
   * queues are known to be complete (`markQueuesIntact`); a Redis flushed, or restarted without
   * its data, has lost it along with the jobs, and the reconciler rebuilds the jobs from
   * Postgres before marking. Queues kept in Postgres are lost only with the data itself.
   */
  async areQueuesIntact(): Promise<boolean> {
    const { backend } = this;
    if (backend.kind === 'postgres') return true;
    return (await backend.connection.exists(markerKey(backend.prefix))) === 1;
  }

  async markQueuesIntact(): Promise<void> {
    const { backend } = this;
    if (backend.kind === 'redis') await backend.connection.set(markerKey(backend.prefix), new Date().toISOString());
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((queue) => queue.close()));
    this.queues.clear();
  }
}

/**
 * Under the prefix, so on a Redis Cluster it shares the queues' hash slot, hence their master:
 * a master that comes back without its data has lost the marker along with the jobs, never
 * one without the other.
 */
function markerKey(prefix: string): string {
  return `${prefix}:herald:intact`;
}
