import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Router } from 'express';
import { QUEUE_NAMES, type JobProducer } from '@herald/queue';

export const DASHBOARD_PATH = '/ops/queues';

/** bull-board over every queue of the catalog: what is waiting, delayed, running, failed. */
export function queuesDashboard(producer: JobProducer): Router {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(DASHBOARD_PATH);
  createBullBoard({
    queues: QUEUE_NAMES.map((name) => new BullMQAdapter(producer.queue(name))),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'Herald queues' } },
  });
  return serverAdapter.getRouter() as Router;
}
