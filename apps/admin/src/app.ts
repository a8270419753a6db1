import express, { type Express, type Request, type RequestHandler } from 'express';
import { AppError, findUnstorableText, isJsonBodyType, notJsonBody } from '@herald/core';
import type { Db, SecretKeyring } from '@herald/db';
import type { Logger } from '@herald/logger';
import { createServiceApp, jsonDepthError, noStore, type ReadinessChecks } from '@herald/service';
import type { Registry } from 'prom-client';
import type { JobProducer } from '@herald/queue';
import { adminConsole, CONSOLE_PATH } from './console/console.router';
import { requireAdminKey } from './http/require-admin-key';
import { openApiDocument } from './openapi/document';
import { botsRouter } from './routes/bots.route';
import { broadcastsRouter } from './routes/broadcasts.route';
import { contactImportRouter } from './routes/contact-import.route';
import { contactsRouter } from './routes/contacts.route';
import { DASHBOARD_PATH, queuesDashboard } from './routes/queues-dashboard.route';
import { runsRouter } from './routes/runs.route';
import { webOutboxRouter } from './routes/web-outbox.route';

export interface AdminDeps {
  logger: Logger;
  checks: ReadinessChecks;
  metrics: Registry;
  /** `embedded` or `services`, shown by `/readyz`. */
  backend?: string;
  db: Db;
  /** Seals channel credentials when saved, opens them to name them (HERALD_SECRET_KEY). */
  secrets: SecretKeyring;
  adminApiKey: string | undefined;
  /** Keys that may use the console and the GET routes only. */
  readOnlyApiKeys?: readonly string[];
  /** Base of every hook_url the API hands out. */
  publicUrl: string;
  /** The queues the dashboard shows; no dashboard without it. */
  producer?: JobProducer;
  /** Private or loopback destinations a connection's base_url may name (SSRF allow-list). */
  outboundAllowedDestinations?: readonly string[];
}

/** 10,000 contacts with variables fit well inside this. */
const JSON_LIMIT = '16mb';

/**
 * "JSON in and out", by the hook's rule (`isJsonBodyType`): JSON sent as text/plain or
 * form-urlencoded (what `curl -d` says) is read as JSON; a body of another type is refused
 * rather than silently ignored.
 */
const requireJsonBody: RequestHandler = (req, _res, next) => {
  const hasBody = Number(req.get('content-length') ?? 0) > 0 || req.get('transfer-encoding') !== undefined;
  if (hasBody && !isJsonBodyType(req.get('content-type'))) {
    next(notJsonBody(req.get('content-type')));
    return;
  }
  next();
};

/** Text Postgres cannot store gets a 400 naming it, whichever route the input is for. */
const storable =
  (input: (req: Request) => { value: unknown; path: string } | undefined): RequestHandler =>
  (req, _res, next) => {
    const checked = input(req);
    const unstorable = checked && findUnstorableText(checked.value, checked.path);
    next(unstorable ? new AppError(400, 'validation_failed', 'The request is invalid', [unstorable]) : undefined);
  };
const requireStorableQuery = storable((req) => ({ value: req.query, path: 'query' }));
const requireStorableBody = storable((req) => (req.body === undefined ? undefined : { value: req.body, path: 'body' }));

/**
 * JSON.parse takes any nesting, but the code after it recurses (Joi, JSON.stringify of a
 * variable, Postgres's jsonb input): a body nested thousands deep would overflow a stack there
 * and answer 500. Refused here, before anything walks it.
 */
const requireShallowBody: RequestHandler = (req, _res, next) => {
  next(jsonDepthError(req.body));
};

/** The management API (SPEC §5). No `listen`, so tests can mount it. */
export function createApp({
  logger,
  checks,
  metrics,
  backend,
  db,
  secrets,
  adminApiKey,
  readOnlyApiKeys = [],
  publicUrl,
  producer,
  outboundAllowedDestinations = [],
}: AdminDeps): Express {
  const keys = { readOnlyKeys: readOnlyApiKeys };
  return createServiceApp({
    logger,
    checks,
    metrics,
    ...(backend ? { backend } : {}),
    routes: (app) => {
      // Answers from here on carry hook_urls, bot tokens and contacts' data: never cached.
      app.use(noStore);
      // The API's description is public; everything else under /v1 needs the key.
      app.get('/v1/openapi.json', (_req, res) => {
        res.json(openApiDocument);
      });
      app.use('/v1', requireAdminKey(adminApiKey, keys), requireStorableQuery);
      if (producer) app.use(DASHBOARD_PATH, requireAdminKey(adminApiKey, { ...keys, allowBasic: true }), queuesDashboard(producer));
      app.use(CONSOLE_PATH, adminConsole({ db, adminApiKey, readOnlyApiKeys, dashboardPath: producer ? DASHBOARD_PATH : undefined }));
      app.use(contactImportRouter(db, logger)); // streams its body: before the JSON parser
      // Every body that reaches the parser passed requireJsonBody: read it as JSON whatever its type.
      app.use(requireJsonBody, express.json({ limit: JSON_LIMIT, type: () => true }), requireShallowBody, requireStorableBody);
      app.use(botsRouter(db, secrets, publicUrl, outboundAllowedDestinations));
      app.use(contactsRouter(db));
      app.use(broadcastsRouter(db, publicUrl));
      app.use(runsRouter(db));
      app.use(webOutboxRouter(db));
    },
  });
}
