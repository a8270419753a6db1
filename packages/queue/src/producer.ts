import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { jobCatalog, validatePayload, type JobName, type JobPayloads, type QueueName } from './catalog';

/**
 * Adds catalog jobs to their queues. One instance per process; it shares one Redis connection
 * between all its queues.
 */
export class JobProducer {
  private readonly queues = new Map<QueueName, Queue>();

  constructor(
    private readonly connection: Redis,
    private readonly prefix: string,
  ) {}

  queue(name: QueueName): Queue {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Queue(name, { connection: this.connection, prefix: this.prefix });
      this.queues.set(name, queue);
    }
    return queue;
  }

  /** Validates the payload, then adds the job with the catalog's options (overridable). */
  async add<K extends JobName>(name: K, payload: JobPayloads[K], options: JobsOptions = {}): Promise<string> {
    const definition = jobCatalog[name];
    const data = validatePayload(name, payload);
    const job = await this.queue(definition.queue).add(name, data, { ...definition.options, ...options });
    if (!job.id) throw new Error(`BullMQ returned no id for ${name}`);
    return job.id;
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((queue) => queue.close()));
    this.queues.clear();
  }
}
