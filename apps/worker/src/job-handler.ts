import { UnrecoverableError, type Job } from 'bullmq';
import { InvalidJobPayloadError, isJobName, validatePayload, type ConsumedJobName, type JobName, type Processor, type ProcessorMap } from '@herald/queue';
import type { WorkerContext } from './worker-context';

/**
 * The function a BullMQ Worker calls for each job: routes it to its processor by name after
 * checking the payload against the catalog. A job that can never succeed (unknown name,
 * invalid payload) fails at once with `UnrecoverableError`; anything a processor throws is
 * left to BullMQ's retries (STYLE §3: never catch-and-log here).
 */
export function createJobHandler(processors: ProcessorMap<WorkerContext>, ctx: WorkerContext) {
  return async (job: Job): Promise<void> => {
    if (!isJobName(job.name) || !isConsumed(job.name, processors)) {
      throw new UnrecoverableError(`no processor for job name ${job.name}`);
    }
    await run(job.name, job, processors, ctx);
  };
}

function isConsumed(name: JobName, processors: ProcessorMap<WorkerContext>): name is ConsumedJobName {
  return Object.hasOwn(processors, name);
}

async function run<K extends ConsumedJobName>(name: K, job: Job, processors: ProcessorMap<WorkerContext>, ctx: WorkerContext): Promise<void> {
  try {
    job.data = validatePayload(name, job.data);
  } catch (error) {
    if (error instanceof InvalidJobPayloadError) throw new UnrecoverableError(error.message);
    throw error;
  }
  const processor = processors[name] as Processor<K, WorkerContext>;
  await processor(job, { ...ctx, logger: ctx.logger.child({ jobId: job.id, job: name }) });
}
