import type { IncomingMessage } from 'node:http';
import { AppError, isJsonBodyType, notJsonBody } from '@herald/core';
import { assertJsonDepth } from '@herald/service';

/**
 * Reads a hook call's body (SPEC §3, check 4): larger than `limitBytes` → 413 (refused before
 * reading when Content-Length says so); empty → undefined (the configured audience); of a
 * type that is not read as JSON (`isJsonBodyType`, the admin API's rule too) → 415; else the
 * parsed value, or 400 saying where the JSON breaks (or that it nests too deep).
 */
export async function readJsonBody(req: IncomingMessage, limitBytes: number): Promise<unknown> {
  const text = (await readRawBody(req, limitBytes)).toString('utf8');
  if (text.trim() === '') return undefined;

  const type = req.headers['content-type'];
  if (!isJsonBodyType(type)) throw notJsonBody(type);
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (error) {
    throw new AppError(400, 'bad_request', 'Request body is not valid JSON', [{ path: 'body', message: (error as Error).message, expected: 'a JSON object' }]);
  }
  // Before anything recurses over it (the payload parser, JSON.stringify, Postgres's jsonb).
  assertJsonDepth(value);
  return value;
}

/** The body's bytes, as sent (signatures are computed over them); larger than `limitBytes` → 413. */
export async function readRawBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limitBytes) throw tooLarge(limitBytes);
  const { chunks, size } = await collect(req, limitBytes);
  return Buffer.concat(chunks, size);
}

/**
 * The body's chunks, refusing (413) as soon as they pass the limit. Plain events rather than
 * `for await`: the async iterator costs more than the small bodies hooks carry.
 * A caller that hangs up before its body is read ends the request with 'close' and no 'end' or
 * 'error' — possibly before this is called, while the call waited for its checks (the rate
 * limits ask Redis). Without a rejection then, the call would wait forever, and a stopping
 * ingress with it (it waits for every call in flight): so that, too, ends the read.
 */
function collect(req: IncomingMessage, limitBytes: number): Promise<{ chunks: Buffer[]; size: number }> {
  return new Promise((resolve, reject) => {
    if (req.destroyed && !req.readableEnded) {
      reject(cutOff());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limitBytes) {
        req.off('data', onData);
        req.resume(); // drain without buffering, so the connection can still answer
        reject(tooLarge(limitBytes));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve({ chunks, size }));
    req.once('error', reject);
    req.once('close', () => reject(cutOff())); // after 'end' a rejection changes nothing
  });
}

function cutOff(): AppError {
  return new AppError(400, 'bad_request', 'The request body was cut off: the caller closed the connection before sending all of it');
}

function tooLarge(limitBytes: number): AppError {
  return new AppError(413, 'payload_too_large', `Request body is larger than ${limitBytes} bytes`, [
    { path: 'body', message: 'is too large', expected: `at most ${limitBytes} bytes` },
  ]);
}
