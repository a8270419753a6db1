import { Router } from 'express';
import {
  cancelBroadcast,
  countDeliveries,
  findBroadcast,
  findRun,
  findTrigger,
  listDeliveries,
  listRuns,
  listTriggers,
  type Db,
  type DeliveryCounts,
  type Run,
} from '@herald/db';
import { notFound, resourceId } from '../http/ids';
import { bigintCursor, oneOf, page, pageRequest } from '../http/pagination';

const TRIGGER_STATUSES = ['pending', 'dispatched', 'cancelled', 'failed'] as const;
const DELIVERY_STATUSES = ['queued', 'sent', 'failed', 'skipped'] as const;

const isSeqCursor = bigintCursor('seq');
const isIdCursor = bigintCursor('id');
const isRunCursor = (v: unknown): v is { created_at: string; id: string } =>
  typeof v === 'object' &&
  v !== null &&
  !Number.isNaN(Date.parse(String((v as { created_at?: unknown }).created_at))) &&
  /^[0-9a-f-]{36}$/.test(String((v as { id?: unknown }).id));

/**
 * A run as the API shows it. `counts` are exact when given (one pass over the run's
 * deliveries, for `GET /v1/runs/:id`); a list shows the counters recorded on each run instead,
 * so a page of million-delivery runs does not scan them all. `handed_off` is how many
 * deliveries the dispatch has handed to the channel queues so far: its progress while large.
 */
function presentRun(run: Run, exact?: DeliveryCounts) {
  const recordedPending = Math.max(0, run.targeted - run.sent - run.failed - run.skipped);
  return {
    id: run.id,
    broadcast_id: run.broadcast_id,
    status: run.status,
    counts: {
      targeted: run.targeted,
      handed_off: run.handed_off,
      sent: exact?.sent ?? run.sent,
      failed: exact?.failed ?? run.failed,
      skipped: exact?.skipped ?? run.skipped,
      pending: exact?.queued ?? recordedPending,
    },
    error: run.error,
    created_at: run.created_at,
    delivering_at: run.delivering_at,
    finished_at: run.finished_at,
    updated_at: run.updated_at,
  };
}

/** Triggers, runs and deliveries, read-only, plus cancelling a broadcast's work in progress. */
export function runsRouter(db: Db): Router {
  const router = Router();

  router.get('/v1/triggers/:id', async (req, res) => {
    const trigger = await findTrigger(db, resourceId(req.params['id'], 'trigger'));
    if (!trigger) throw notFound('trigger');
    res.json(trigger);
  });

  router.get('/v1/broadcasts/:id/triggers', async (req, res) => {
    const broadcastId = resourceId(req.params['id'], 'broadcast');
    const { limit, cursor } = pageRequest(req.query, isSeqCursor);
    const status = oneOf(req.query['status'], TRIGGER_STATUSES, 'status');
    if (!(await findBroadcast(db, broadcastId))) throw notFound('broadcast');
    const triggers = await listTriggers(db, broadcastId, { limit, beforeSeq: cursor?.seq, status });
    res.json(page(triggers, limit, (last) => ({ seq: last.seq })));
  });

  router.get('/v1/broadcasts/:id/runs', async (req, res) => {
    const broadcastId = resourceId(req.params['id'], 'broadcast');
    const { limit, cursor } = pageRequest(req.query, isRunCursor);
    if (!(await findBroadcast(db, broadcastId))) throw notFound('broadcast');
    const runs = await listRuns(db, broadcastId, { limit, before: cursor && { createdAt: new Date(cursor.created_at), id: cursor.id } });
    const listed = page(runs, limit, (last) => ({ created_at: last.created_at.toISOString(), id: last.id }));
    res.json({ ...listed, data: listed.data.map((run) => presentRun(run)) });
  });

  router.get('/v1/runs/:id', async (req, res) => {
    const run = await findRun(db, resourceId(req.params['id'], 'run'));
    if (!run) throw notFound('run');
    res.json(presentRun(run, await countDeliveries(db, run.id)));
  });

  router.get('/v1/runs/:id/deliveries', async (req, res) => {
    const runId = resourceId(req.params['id'], 'run');
    const { limit, cursor } = pageRequest(req.query, isIdCursor);
    const status = oneOf(req.query['status'], DELIVERY_STATUSES, 'status');
    if (!(await findRun(db, runId))) throw notFound('run');
    const deliveries = await listDeliveries(db, runId, { limit, afterId: cursor?.id, status });
    res.json(page(deliveries, limit, (last) => ({ id: last.id })));
  });

  router.post('/v1/broadcasts/:id/cancel', async (req, res) => {
    const broadcastId = resourceId(req.params['id'], 'broadcast');
    if (!(await findBroadcast(db, broadcastId))) throw notFound('broadcast');
    const cancelled = await cancelBroadcast(db, broadcastId);
    res.json({ cancelled_triggers: cancelled.triggers, cancelled_runs: cancelled.runs, skipped_deliveries: cancelled.skipped });
  });

  return router;
}
