import type { Readable } from 'node:stream';
import { CsvError, parse } from 'csv-parse';
import { AppError, checkName, findUnstorableText, isSystemField, type ErrorDetail } from '@herald/core';
import { toErrorDetails } from '@herald/service';
import { contactSchema, type ContactBody } from '../schemas/admin.schemas';

/**
 * The record readers of the contact import (SPEC §5): each turns a request body stream into
 * contacts one at a time, so memory holds one line, never the file. A record that cannot be a
 * contact comes out as an error naming its line; a body that cannot be read at all (a line
 * over the limit, a broken CSV quote) ends the import with a 4xx.
 */

export type ImportRecord = { line: number; contact: ContactBody } | { line: number; error: ErrorDetail };

/** A contact with every variable at its limit is far smaller than this; it bounds memory. */
export const MAX_IMPORT_LINE_BYTES = 4 * 1024 * 1024;

/** NDJSON: one JSON object per line, shaped like an item of `POST /v1/bots/:id/contacts`. */
export async function* ndjsonRecords(input: Readable, maxLineBytes = MAX_IMPORT_LINE_BYTES): AsyncGenerator<ImportRecord> {
  for await (const { line, text } of lines(input, maxLineBytes)) {
    if (text.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      yield { line, error: { path: `line ${line}`, message: `is not JSON (${(error as Error).message})`, expected: 'one JSON object per line' } };
      continue;
    }
    yield checked(line, value);
  }
}

/**
 * CSV with a header row: the contact columns by name (`user_id`, `bot_channel`, …); every other
 * column is a variable of that name, its cells strings. An empty cell sets nothing.
 */
export async function* csvRecords(input: Readable, maxLineBytes = MAX_IMPORT_LINE_BYTES): AsyncGenerator<ImportRecord> {
  // Not destroyed when the import stops early: the caller drains the request, so its 400 is heard.
  const parser = input.pipe(parse({ bom: true, skip_empty_lines: true, max_record_size: maxLineBytes, info: true }));
  let header: string[] | undefined;
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
      if (!header) {
        header = checkedHeader(record);
        continue;
      }
      yield checked(info.lines, csvContact(header, record));
    }
  } catch (error) {
    if (error instanceof CsvError) {
      throw new AppError(400, 'bad_request', 'The CSV cannot be read; nothing was saved', [
        { path: `line ${String((error as CsvError & { lines?: number }).lines ?? '?')}`, message: error.message, expected: 'RFC 4180 CSV with a header row' },
      ]);
    }
    throw error;
  } finally {
    input.unpipe(parser);
  }
}

function checked(line: number, value: unknown): ImportRecord {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { line, error: { path: `line ${line}`, message: 'is not an object', expected: 'a contact object' } };
  }
  const unstorable = findUnstorableText(value, `line ${line}`);
  if (unstorable) return { line, error: unstorable };
  // The upsert call's schema and options; the first problem of a line is enough to fix it.
  const { value: contact, error } = contactSchema.validate(value, { abortEarly: true, convert: true, errors: { wrap: { label: '"' } } });
  if (error) {
    const detail = toErrorDetails(error.details)[0]!;
    return { line, error: { ...detail, path: `line ${line}.${detail.path}` } };
  }
  return { line, contact };
}

function checkedHeader(header: string[]): string[] {
  const errors: ErrorDetail[] = [];
  const seen = new Set<string>();
  header.forEach((name, i) => {
    if (seen.has(name)) errors.push({ path: `line 1.column ${i + 1}`, message: `repeats "${name}"`, expected: 'each column once' });
    seen.add(name);
    if (!isSystemField(name)) {
      const bad = checkName(name, `line 1.column ${i + 1}`);
      if (bad) errors.push(bad);
    }
  });
  if (!seen.has('bot_channel'))
    errors.push({ path: 'line 1', message: 'has no bot_channel column', expected: 'a header row naming bot_channel and user_id (or user_phone_number)' });
  if (errors.length) throw new AppError(400, 'validation_failed', 'The CSV header is invalid; nothing was saved', errors);
  return header;
}

function csvContact(header: readonly string[], cells: readonly string[]): Record<string, unknown> {
  const contact: Record<string, unknown> = {};
  const variables: Record<string, string> = {};
  header.forEach((name, i) => {
    const cell = cells[i];
    if (cell === undefined || cell === '') return;
    if (isSystemField(name)) contact[name] = cell;
    else variables[name] = cell;
  });
  if (Object.keys(variables).length) contact['variables'] = variables;
  return contact;
}

/**
 * Splits a byte stream into UTF-8 lines (`\n` or `\r\n`), numbered from 1. A line longer than
 * `maxLineBytes` ends the import with a 413 rather than growing memory without bound.
 */
async function* lines(input: Readable, maxLineBytes: number): AsyncGenerator<{ line: number; text: string }> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let line = 0;
  const tooLong = () =>
    new AppError(413, 'payload_too_large', 'A line of the import is too long; nothing was saved', [
      { path: `line ${line + 1}`, message: `is over ${maxLineBytes} bytes`, expected: `lines of at most ${maxLineBytes} bytes` },
    ]);
  // Not destroyed when the import stops early: the caller drains the request, so its 400 is heard.
  for await (const chunk of input.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    let start = 0;
    for (let end = chunk.indexOf(10); end !== -1; end = chunk.indexOf(10, start)) {
      if (pendingBytes + end - start > maxLineBytes) throw tooLong();
      const bytes = pending.length ? Buffer.concat([...pending, chunk.subarray(start, end)]) : chunk.subarray(start, end);
      pending = [];
      pendingBytes = 0;
      line++;
      yield { line, text: bytes.toString('utf8').replace(/\r$/, '') };
      start = end + 1;
    }
    if (start < chunk.length) {
      pending.push(chunk.subarray(start));
      pendingBytes += chunk.length - start;
      if (pendingBytes > maxLineBytes) throw tooLong();
    }
  }
  if (pendingBytes > 0) {
    line++;
    yield { line, text: Buffer.concat(pending).toString('utf8').replace(/\r$/, '') };
  }
}
