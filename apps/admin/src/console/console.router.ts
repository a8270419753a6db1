import { Router, type ErrorRequestHandler, type RequestHandler, type Response } from 'express';
import { AppError, DELIVERY_REASONS, DELIVERY_STATUSES, isAppError, isUuid } from '@herald/core';
import { deliveryOutcomesByBucket, findBot, findBroadcast, findRun, listBots, listBroadcasts, listDeliveries, listRuns, type Db, type Run } from '@herald/db';
import { notFound } from '../http/ids';
import { beforeCreatedAt, bigintCursor, createdAtCursorOf, isCreatedAtCursor, oneOf, page, pageRequest } from '../http/pagination';
import { requireAdminKey } from '../http/require-admin-key';
import { presentRun } from '../presenters';
import { FAVICON, SCRIPT, STYLESHEET } from './assets';
import { hrefWithQuery, html, markup, type SafeHtml } from './html';
import { consolePaths, errorPage, type ConsoleContext } from './layout';
import { outcomeChart, pickBucketSeconds } from './outcome-chart';
import { broadcastPage } from './pages/broadcast.page';
import { homePage } from './pages/home.page';
import { runPage } from './pages/run.page';
import { liveRun } from './run-fields';

export { CONSOLE_PATH } from './layout';

export interface ConsoleDeps {
  db: Db;
  adminApiKey: string | undefined;
  readOnlyApiKeys?: readonly string[];
  /** The queue dashboard's path, linked from every page; leave it out when there is no dashboard. */
  dashboardPath?: string | undefined;
}

const BOTS_PER_PAGE = 50;
const BROADCASTS_PER_BOT = 50;
const RUNS_PER_PAGE = 20;
const isIdCursor = bigintCursor('id');

/**
 * Every console answer: only this origin's files may run, style or be fetched, no page may
 * frame it (clickjacking), nothing is sniffed, and nothing is cached — the pages show live
 * data behind a key, and a shared proxy or the back button must not replay them.
 */
const securityHeaders: RequestHandler = (_req, res, next) => {
  res.set({
    'Content-Security-Policy':
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    'Cache-Control': 'no-store',
  });
  next();
};

/**
 * The read-only web console (docs/console.md), mounted at CONSOLE_PATH: server-rendered pages
 * over the same queries as the admin API, behind the same key — a browser logs in with HTTP
 * Basic, any user name, the key as the password.
 */
export function adminConsole({ db, adminApiKey, readOnlyApiKeys = [], dashboardPath }: ConsoleDeps): Router {
  const context: ConsoleContext = { dashboardPath };
  const router = Router();
  const sendPage = (res: Response, page: SafeHtml) => res.type('html').send(markup(page));

  router.use(securityHeaders, requireAdminKey(adminApiKey, { allowBasic: true, readOnlyKeys: readOnlyApiKeys }));

  router.get('/assets/console.css', (_req, res) => res.type('css').send(STYLESHEET));
  router.get('/assets/console.js', (_req, res) => res.type('js').send(SCRIPT));
  router.get('/assets/favicon.svg', (_req, res) => res.type('svg').send(FAVICON));

  // 1. Every bot (the GET /v1/bots query and page), each with its newest broadcasts.
  router.get('/', async (req, res) => {
    const { limit, cursor } = pageRequest({ ...req.query, limit: req.query['limit'] ?? String(BOTS_PER_PAGE) }, isCreatedAtCursor);
    const bots = await listBots(db, { limit, before: beforeCreatedAt(cursor) });
    const withBroadcasts = await Promise.all(
      bots.map(async (bot) => {
        const broadcasts = await listBroadcasts(db, bot.id, { limit: BROADCASTS_PER_BOT + 1 });
        return { bot, broadcasts: broadcasts.slice(0, BROADCASTS_PER_BOT), more: broadcasts.length > BROADCASTS_PER_BOT };
      }),
    );
    const next = page(bots, limit, createdAtCursorOf).next_cursor;
    sendPage(res, homePage(context, { bots: withBroadcasts, olderBotsHref: next ? hrefWithQuery(consolePaths.home, { cursor: next }) : undefined }));
  });

  // 2. A broadcast, a page of its runs, and the outcomes of those runs over time.
  router.get('/broadcasts/:id', async (req, res) => {
    const broadcastId = consoleId(req.params['id'], 'broadcast');
    const { limit, cursor } = pageRequest({ ...req.query, limit: req.query['limit'] ?? String(RUNS_PER_PAGE) }, isCreatedAtCursor);
    const broadcast = await findBroadcast(db, broadcastId);
    if (!broadcast) throw notFound('broadcast');
    const [bot, runs] = await Promise.all([findBot(db, broadcast.bot_id), listRuns(db, broadcastId, { limit, before: beforeCreatedAt(cursor) })]);
    const now = new Date();
    const chart = await outcomesChart(db, runs, now);
    const next = page(runs, limit, createdAtCursorOf).next_cursor;
    sendPage(
      res,
      broadcastPage(
        context,
        {
          broadcast,
          bot,
          runs: runs.map((run) => presentRun(run, now)),
          olderRunsHref: next ? hrefWithQuery(consolePaths.broadcast(broadcastId), { cursor: next }) : undefined,
          chart,
        },
        now,
      ),
    );
  });

  // 3. A run's numbers, and a page of its deliveries (the GET /v1/runs/:id/deliveries query).
  router.get('/runs/:id', async (req, res) => {
    const runId = consoleId(req.params['id'], 'run');
    // An empty select ("any") sends `status=`; that is no filter, not a bad one.
    const query = Object.fromEntries(Object.entries(req.query).filter(([, value]) => value !== ''));
    const { limit, cursor } = pageRequest(query, isIdCursor);
    const filters = { status: oneOf(query['status'], DELIVERY_STATUSES, 'status'), reason: oneOf(query['reason'], DELIVERY_REASONS, 'reason') };
    const run = await findRun(db, runId);
    if (!run) throw notFound('run');
    const [broadcast, deliveries] = await Promise.all([
      findBroadcast(db, run.broadcast_id),
      listDeliveries(db, runId, { limit, afterId: cursor?.id, ...filters }),
    ]);
    const next = page(deliveries, limit, (last) => ({ id: last.id })).next_cursor;
    const keep = { ...filters, limit: query['limit'] === undefined ? undefined : String(limit) };
    sendPage(
      res,
      runPage(context, {
        run: presentRun(run),
        broadcast,
        filters,
        deliveries,
        nextHref: next ? hrefWithQuery(consolePaths.run(runId), { ...keep, cursor: next }) : undefined,
        paged: cursor !== undefined,
      }),
    );
  });

  // The live progress the pages poll: the run as GET /v1/runs/:id shows it, plus what the page displays.
  router.get('/runs/:id/progress.json', async (req, res) => {
    const run = await findRun(db, consoleId(req.params['id'], 'run'));
    if (!run) throw notFound('run');
    res.json(liveRun(presentRun(run)));
  });

  router.use((req, _res, next) => next(new AppError(404, 'not_found', `No console page at ${req.path}`)));
  router.use(errorPages(context));
  return router;
}

/** The outcomes of the runs shown, over the time they span: the oldest one's start to the newest one's end. */
/** The chart covers the newest runs of the page, at most this many, whatever ?limit= asks. */
const CHART_RUNS = 20;
/** Counting a chart's deliveries stops here (a page of million-delivery runs): the page says so. */
const CHART_TIMEOUT_MS = 3_000;

async function outcomesChart(db: Db, pageRuns: readonly Run[], now: Date): Promise<SafeHtml> {
  const runs = pageRuns.slice(0, CHART_RUNS);
  if (runs.length === 0) return outcomeChart({ buckets: [], bucketSeconds: 1, from: now, to: now });
  const from = new Date(Math.min(...runs.map((r) => r.created_at.getTime())));
  const to = new Date(Math.max(...runs.map((r) => (r.finished_at ?? now).getTime())));
  const bucketSeconds = pickBucketSeconds(to.getTime() - from.getTime());
  const buckets = await deliveryOutcomesByBucket(db, { runIds: runs.map((r) => r.id), bucketSeconds, timeoutMs: CHART_TIMEOUT_MS });
  if (!buckets)
    return html`<p class="muted">These runs have too many deliveries to chart within ${CHART_TIMEOUT_MS / 1000} s; each run's numbers are below.</p>`;
  return outcomeChart({ buckets, bucketSeconds, from, to });
}

/** An id in a console URL: not a UUID at all is the caller's mistake (400), a UUID of nothing a 404. */
function consoleId(value: string | undefined, what: string): string {
  if (!isUuid(value)) {
    throw new AppError(400, 'bad_request', `That is not a ${what} id`, [
      { path: 'id', message: `is ${JSON.stringify(value ?? '')}`, expected: `a ${what} id (a UUID)` },
    ]);
  }
  return value.toLowerCase();
}

/**
 * Expected errors (bad id, unknown id, bad filter, no key) as pages a person can read; the
 * live endpoint keeps the API's JSON errors. Anything unexpected goes on to the app's one
 * error handler, which logs it under an error id.
 */
function errorPages(context: ConsoleContext): ErrorRequestHandler {
  return (error: unknown, req, res, next) => {
    if (!isAppError(error) || res.headersSent || req.path.endsWith('.json')) {
      next(error);
      return;
    }
    // The key check speaks to programs (Bearer); a person at a browser is told how to log in.
    const shown = error.status === 401 ? { status: 401, message: 'Log in with any user name and the admin API key as the password', details: [] } : error;
    res
      .status(error.status)
      .type('html')
      .send(markup(errorPage(context, shown)));
  };
}
