import type { IncomingMessage } from 'node:http';
import { AppError } from '@herald/core';

const JSON_TYPES = /^application\/([\w.+-]+\+)?json$/i;
/** Types a caller sends by accident with a JSON body (`curl -d` sends form-urlencoded). */
const LENIENT_TYPES = /^(text\/plain|application\/x-www-form-urlencoded)$/i;

/**
 * Reads a hook call's body (SPEC §3, check 4): larger than `limitBytes` → 413 (refused before
 * reading when Content-Length says so); empty → undefined (the configured audience);
 * JSON → the parsed value, or 400 when it does not parse; a body that is neither → 415.
 */
export async function readJsonBody(req: IncomingMessage, limitBytes: number): Promise<unknown> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limitBytes) throw tooLarge(limitBytes);

  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limitBytes) {
      req.resume(); // drain without buffering, so the connection can answer
      throw tooLarge(limitBytes);
    }
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks, size).toString('utf8');
  if (text.trim() === '') return undefined;

  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
  const declaredJson = JSON_TYPES.test(type);
  if (!declaredJson && type !== '' && !LENIENT_TYPES.test(type)) throw notJson(type);
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    if (!declaredJson) throw notJson(type || 'no Content-Type');
    throw new AppError(400, 'bad_request', 'Request body is not valid JSON', [
      { path: 'body', message: (error as Error).message, expected: 'a JSON object' },
    ]);
  }
}

function tooLarge(limitBytes: number): AppError {
  return new AppError(413, 'payload_too_large', `Request body is larger than ${limitBytes} bytes`, [
    { path: 'body', message: 'is too large', expected: `at most ${limitBytes} bytes` },
  ]);
}

function notJson(type: string): AppError {
  return new AppError(415, 'unsupported_media_type', 'Request body must be JSON', [
    { path: 'content-type', message: `is ${type}`, expected: 'application/json' },
  ]);
}
