import { Router, type Request } from 'express';
import { AppError } from '@herald/core';
import { findBot, type Db } from '@herald/db';
import type { Logger } from '@herald/logger';
import { importContacts } from '../contacts/import-contacts';
import { csvRecords, ndjsonRecords } from '../contacts/import-records';
import { notFound, resourceId } from '../http/ids';

const NDJSON_TYPES = ['application/x-ndjson', 'application/ndjson', 'application/jsonl'];
const CSV_TYPES = ['text/csv'];

/**
 * `POST /v1/bots/:id/contacts/import`: millions of contacts streamed as NDJSON or CSV (SPEC §5),
 * read as they arrive, in constant memory. Mounted before the JSON body parser: the body is a
 * stream, not a document. Answers `{rows, created, updated}` once everything is committed.
 */
export function contactImportRouter(db: Db, logger: Logger): Router {
  const router = Router();
  router.post('/v1/bots/:id/contacts/import', async (req, res) => {
    try {
      const botId = resourceId(req.params['id'], 'bot');
      const format = importFormat(req);
      if (!(await findBot(db, botId))) throw notFound('bot');
      const records = format === 'csv' ? csvRecords(req) : ndjsonRecords(req);
      const started = Date.now();
      const result = await importContacts(db, botId, records, logger);
      logger.info('contacts imported', { botId, format, ...result, ms: Date.now() - started });
      res.json(result);
    } finally {
      // An import refused part-way has not read the whole body: drain it, so the client can
      // finish sending and read the answer instead of seeing the connection cut.
      if (!req.readableEnded) req.resume();
    }
  });
  return router;
}

function importFormat(req: Request): 'ndjson' | 'csv' {
  if (req.is(NDJSON_TYPES)) return 'ndjson';
  if (req.is(CSV_TYPES)) return 'csv';
  throw new AppError(415, 'unsupported_media_type', 'An import is NDJSON or CSV', [
    { path: 'content-type', message: `is ${req.get('content-type') ?? 'missing'}`, expected: [...NDJSON_TYPES, ...CSV_TYPES].join(' or ') },
  ]);
}
