import { AppError, type ErrorDetail } from '@herald/core';
import { setIdleInTransactionTimeout, upsertContacts, type Db } from '@herald/db';
import type { Logger } from '@herald/logger';
import type { ContactBody } from '../schemas/admin.schemas';
import type { ImportRecord } from './import-records';
import { normaliseContacts } from './normalise-contacts';

/** Contacts per upsert statement: big enough to be set-based, small enough to hold in memory. */
const BATCH_SIZE = 1_000;
/** Problems reported at most; past this the import stops reading. */
const MAX_ERRORS = 100;
const PROGRESS_EVERY = 100_000;
/**
 * How long the import's transaction may sit idle waiting for the client's next bytes. Past it
 * Postgres ends the transaction (rolled back: nothing saved) and frees the contacts it locked,
 * which a stalled or very slow client would otherwise hold until Node's request timeout.
 */
export const IMPORT_IDLE_TIMEOUT_MS = 30_000;

export interface ImportResult {
  rows: number;
  created: number;
  updated: number;
}

/**
 * Upserts a stream of contacts in batches of BATCH_SIZE, all in one transaction: a bad record
 * anywhere, or a client that goes away, rolls back every batch before it, so a rejected import
 * changes nothing (SPEC §7). Records keep being read after the first problem (nothing more is
 * written) so one answer lists up to MAX_ERRORS of them. Contacts upserted here are locked
 * until the import commits, or until the client has sent nothing for `idleTimeoutMs`.
 */
export async function importContacts(
  db: Db,
  botId: string,
  records: AsyncIterable<ImportRecord>,
  logger: Logger,
  { idleTimeoutMs = IMPORT_IDLE_TIMEOUT_MS } = {},
): Promise<ImportResult> {
  return db.transaction().execute(async (trx) => {
    await setIdleInTransactionTimeout(trx, idleTimeoutMs);
    const totals: ImportResult = { rows: 0, created: 0, updated: 0 };
    const errors: ErrorDetail[] = [];
    let batch: ContactBody[] = [];
    let lines: number[] = [];
    // One upsert in flight while the next batch is read and checked: Node parses while Postgres
    // writes. One at a time, because a transaction is one connection. `writing` never rejects;
    // a failure is kept and thrown where the write is waited for.
    let writing: Promise<void> = Promise.resolve();
    let writeFailure: { error: unknown } | undefined;
    const writesDone = async () => {
      await writing;
      if (writeFailure) throw writeFailure.error;
    };

    const flush = async () => {
      const { rows, errors: invalid } = normaliseContacts(batch, (i) => `line ${lines[i]}`);
      batch = [];
      lines = [];
      errors.push(...invalid);
      await writesDone();
      if (errors.length || !rows.length) return;
      writing = upsertContacts(trx, botId, rows).then(
        ({ created, updated }) => {
          totals.created += created;
          totals.updated += updated;
        },
        (error: unknown) => {
          writeFailure = { error };
        },
      );
    };

    try {
      for await (const record of records) {
        if ('error' in record) {
          errors.push(record.error);
        } else {
          totals.rows++;
          batch.push(record.contact);
          lines.push(record.line);
          if (batch.length >= BATCH_SIZE) await flush();
          if (totals.rows % PROGRESS_EVERY === 0) logger.info('contact import progress', { botId, rows: totals.rows });
        }
        if (errors.length >= MAX_ERRORS) break;
      }
      if (errors.length < MAX_ERRORS) await flush();
    } finally {
      // Whatever ends the loop, the last statement is done before the transaction ends.
      await writing;
    }
    await writesDone(); // a failed write fails the import

    if (errors.length) {
      const read = errors.length >= MAX_ERRORS ? `the first ${MAX_ERRORS} problems` : `${errors.length} problem${errors.length === 1 ? '' : 's'}`;
      // A line's own problems are found as it is read, identity problems when its batch is
      // checked: listed in line order all the same.
      const inLineOrder = errors.slice(0, MAX_ERRORS).sort((a, b) => lineOf(a) - lineOf(b));
      throw new AppError(400, 'validation_failed', `The import has ${read}; nothing was saved`, inLineOrder);
    }
    if (totals.rows === 0) {
      throw new AppError(400, 'validation_failed', 'The import has no contacts', [
        { path: 'body', message: 'has no records', expected: 'at least one contact' },
      ]);
    }
    return totals;
  });
}

/** The line a problem's path names (`line 12.user_id` → 12). */
function lineOf(detail: ErrorDetail): number {
  return Number(/^line (\d+)/.exec(detail.path)?.[1] ?? 0);
}
