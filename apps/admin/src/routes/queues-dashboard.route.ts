import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Express, NextFunction, RequestHandler, Response } from 'express';
import { AppError } from '@herald/core';
import { QUEUE_NAMES, type JobProducer } from '@herald/queue';

export const DASHBOARD_PATH = '/ops/queues';

/**
 * bull-board over every queue of the catalog: what is waiting, delayed, running, failed.
 * Built on first use, once Redis is up (the producer makes no queue before that), so an admin
 * started while Redis is down serves the board as soon as Redis returns.
 */
export function queuesDashboard(producer: JobProducer): RequestHandler {
  let board: Express | undefined;
  return (req, res, next) => {
    if (!board) {
      try {
        board = buildBoard(producer);
      } catch {
        next(new AppError(503, 'service_unavailable', 'Redis is unavailable; the queue dashboard needs it', [], 5));
        return;
      }
    }
    withoutRemoteResources(res, next);
    board(req, res, next);
  };
}

/**
 * bull-board's page links a Google Fonts stylesheet. An admin console must work with no
 * internet (air-gapped hosts, a closed network where the request hangs and blocks rendering),
 * so the page is sent without it: the board falls back to the system font.
 */
const REMOTE_STYLESHEET = /<link\b[^>]*href="https?:\/\/[^"]*"[^>]*rel="stylesheet"[^>]*>/g;

function withoutRemoteResources(res: Response, next: NextFunction): void {
  const render = res.render.bind(res);
  res.render = (view: string, options?: object) =>
    render(view, options ?? {}, (error: Error | null, html: string) => {
      if (error) next(error);
      else res.send(html.replace(REMOTE_STYLESHEET, ''));
    });
}

function buildBoard(producer: JobProducer): Express {
  const queues = QUEUE_NAMES.map((name) => new BullMQAdapter(producer.queue(name)));
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(DASHBOARD_PATH);
  createBullBoard({ queues, serverAdapter, options: { uiConfig: { boardTitle: 'Herald queues' } } });
  // The board is an Express app of its own, with Express's defaults: it would announce
  // `X-Powered-By: Express` on every answer. The admin app's headers (no framing, nosniff,
  // no-store) are set before it runs and stay.
  const board = serverAdapter.getRouter() as Express;
  board.disable('x-powered-by');
  return board;
}
