import { Router } from 'express';
import { DELIVERY_REASONS, DELIVERY_STATUSES, TRIGGER_STATUSES } from '@herald/core';
import { cancelBroadcast, findBroadcast, findRun, findTrigger, listDeliveries, listRuns, listTriggers, type Db } from '@herald/db';
import { notFound, resourceId } from '../http/ids';
import { beforeCreatedAt, bigintCursor, createdAtCursorOf, isCreatedAtCursor, oneOf, page, pageRequest } from '../http/pagination';
import { presentRun } from '../presenters';

const isSeqCursor = bigintCursor('seq');
const isIdCursor = bigintCursor('id');

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
    const { limit, cursor } = pageRequest(req.query, isCreatedAtCursor);
    if (!(await findBroadcast(db, broadcastId))) throw notFound('broadcast');
    const runs = await listRuns(db, broadcastId, { limit, before: beforeCreatedAt(cursor) });
    const listed = page(runs, limit, createdAtCursorOf);
    res.json({ ...listed, data: listed.data.map((run) => presentRun(run)) });
  });

  router.get('/v1/runs/:id', async (req, res) => {
    const run = await findRun(db, resourceId(req.params['id'], 'run'));
    if (!run) throw notFound('run');
    res.json(presentRun(run));
  });

  router.get('/v1/runs/:id/deliveries', async (req, res) => {
    const runId = resourceId(req.params['id'], 'run');
    const { limit, cursor } = pageRequest(req.query, isIdCursor);
    const status = oneOf(req.query['status'], DELIVERY_STATUSES, 'status');
    const reason = oneOf(req.query['reason'], DELIVERY_REASONS, 'reason');
    if (!(await findRun(db, runId))) throw notFound('run');
    const deliveries = await listDeliveries(db, runId, { limit, afterId: cursor?.id, status, reason });
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
