import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname } from 'node:path';
import type { Readable } from 'node:stream';
import { expectPositionals, idArgument, requiredOption, stringOption } from '../args';
import { EXIT, UsageError } from '../errors';
import { ImportMeter, renderImport } from '../import-meter';
import { formatCount, formatElapsed } from '../progress';
import type { CommandSpec } from './command';

const COMMAND = 'contacts import';

export type ImportFormat = 'ndjson' | 'csv';

/** The content types the import route reads (apps/admin contact-import.route.ts). */
const CONTENT_TYPE: Readonly<Record<ImportFormat, string>> = { ndjson: 'application/x-ndjson', csv: 'text/csv' };

const EXTENSIONS: Readonly<Record<string, ImportFormat>> = { '.ndjson': 'ndjson', '.jsonl': 'ndjson', '.csv': 'csv' };

/** The import route's answer: rows read, contacts created, contacts updated. */
export interface ImportResult {
  rows: number;
  created: number;
  updated: number;
}

/** --format when given, else the file's extension; stdin has none, so it needs --format. */
export function importFormat(file: string, explicit: string | undefined): ImportFormat {
  if (explicit !== undefined) {
    if (explicit === 'ndjson' || explicit === 'csv') return explicit;
    throw new UsageError(`--format is ${explicit}: expected ndjson or csv`);
  }
  if (file === '-') throw new UsageError('--format is required when the contacts come from stdin', 'add --format ndjson or --format csv');
  const format = EXTENSIONS[extname(file).toLowerCase()];
  if (!format) throw new UsageError(`cannot tell the format of ${file} from its extension`, 'name it .ndjson, .jsonl or .csv, or add --format ndjson|csv');
  return format;
}

/** The file (checked before anything is sent: a wrong path is exit 2, not a half-made request). */
async function openInput(file: string, stdin: Readable): Promise<{ source: Readable; size: number | undefined }> {
  if (file === '-') return { source: stdin, size: undefined };
  const info = await stat(file).catch((error: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot read ${file}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`, 'check the path');
  });
  if (!info.isFile()) throw new UsageError(`${file} is not a file`, 'name a .ndjson or .csv file, or - for stdin');
  return { source: createReadStream(file, { highWaterMark: 256 * 1024 }), size: info.size };
}

export const contactsImport: CommandSpec = {
  words: ['contacts', 'import'],
  synopsis: 'FILE --bot ID [--format ndjson|csv]',
  summary: 'stream a file of contacts into a bot (NDJSON or CSV, in constant memory)',
  help: `Streams FILE to POST /v1/bots/:id/contacts/import in constant memory, with a progress
bar on stderr (rows, rows/s, ETA). All or nothing: the server saves the contacts only if
every line is valid; otherwise it lists the bad lines (up to 100) and saves nothing.

Arguments:
  FILE                  .ndjson / .jsonl (one contact object per line) or .csv (header row);
                        - reads stdin (then --format is required)
Options:
  --bot ID              the bot the contacts belong to (required)
  --format ndjson|csv   overrides the format the extension implies

Prints the server's summary (rows, created, updated); with --json, its answer as is.

Examples:
  herald contacts import contacts.ndjson --bot 0b6c9f5e-8d1a-4c3e-9f2b-5a7d1e0c4b21
  gunzip -c export.csv.gz | herald contacts import - --format csv --bot $BOT`,
  options: { bot: { type: 'string' }, format: { type: 'string' } },

  async run(ctx, { positionals, values }) {
    // 1. Arguments and the file, before anything is sent.
    expectPositionals(positionals, ['FILE'], COMMAND);
    const file = positionals[0]!;
    const botId = idArgument(requiredOption(values, 'bot', COMMAND), 'bot');
    const format = importFormat(file, stringOption(values, 'format'));
    const client = ctx.admin();
    const { source, size } = await openInput(file, ctx.stdin);

    // 2. Upload, metering what goes out. The server reads as it writes, so what is sent is
    //    what it has read, give or take a socket buffer.
    const startedAt = ctx.now();
    const meter = new ImportMeter({ totalBytes: size, headerLines: format === 'csv' ? 1 : 0, startedAt });
    const progress = ctx.out.progress();
    ctx.onInterrupt('the upload stopped; the server rolls the import back, so nothing was saved');
    const result = await client.upload<ImportResult>(
      `/v1/bots/${botId}/contacts/import`,
      CONTENT_TYPE[format],
      source,
      {
        ...(size !== undefined ? { size } : {}),
        onChunk(chunk) {
          meter.add(chunk);
          const sent = meter.snapshot(ctx.now());
          // The last chunk's line is drawn by onSent, complete with its last row.
          if (sent.bytes !== size) progress.update((tty) => renderImport(sent, tty));
        },
        onSent() {
          progress.finish((tty) => renderImport(meter.snapshot(ctx.now(), true), tty));
          ctx.out.note('all sent; the server is committing the import…');
        },
      },
      {
        hints: {
          400: 'fix the lines listed and import the whole file again: nothing was saved',
          404: `check the bot id: this server has no bot ${botId}`,
          // Node's default requestTimeout on the admin server: one request, five minutes.
          408: 'the server cut the upload at its 5-minute limit per request: split the file into smaller imports; nothing was saved',
          413: 'a line is longer than the server takes (4 MiB): nothing was saved',
          415: 'pass --format ndjson or --format csv to say what the file holds',
        },
      },
    );

    // 3. The server's own count, which replaces the estimate of the progress line.
    const elapsedMs = ctx.now() - startedAt;
    ctx.out.result(result, () => {
      const rate = elapsedMs > 0 ? ` (${formatCount((result.rows * 1_000) / elapsedMs)} rows/s)` : '';
      return `imported ${formatCount(result.rows)} rows in ${formatElapsed(elapsedMs)}${rate}: ${formatCount(result.created)} created, ${formatCount(result.updated)} updated`;
    });
    return EXIT.ok;
  },
};
