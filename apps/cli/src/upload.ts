import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { UnreachableError, UsageError } from './errors';
import { unreachable, type HttpAnswer } from './http';

/** A socket with no byte moving either way for this long is a server that stopped answering. */
const IDLE_TIMEOUT_MS = 120_000;

export interface UploadProgress {
  /** Each chunk as it goes to the socket: paced by the server's reading (backpressure). */
  onChunk?(chunk: Buffer): void;
  /** The last byte is sent; what is left is the server's (the import's commit). */
  onSent?(): void;
}

export interface UploadRequest extends UploadProgress {
  url: URL;
  headers: Record<string, string>;
  source: Readable;
  /** Sent as Content-Length when known (a file); chunked otherwise (stdin). */
  size?: number;
  whereHint: string;
}

/**
 * POSTs a stream in constant memory: the file is piped into the request, never read whole.
 * node:http rather than fetch because the answer may come before the body is sent — the
 * server refuses a wrong key, an unknown bot or a wrong content type after the first bytes —
 * and then sending the rest of a large file would only waste time: on an answer the upload
 * stops. Every answer resolves (the caller judges its status); only a failure to talk to the
 * server rejects (UnreachableError), or a source that cannot be read (UsageError).
 */
export function uploadStream({ url, headers, source, size, whereHint, onChunk, onSent }: UploadRequest): Promise<HttpAnswer> {
  return new Promise<HttpAnswer>((resolve, reject) => {
    const request = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, {
      method: 'POST',
      headers: { ...headers, ...(size !== undefined ? { 'content-length': String(size) } : {}) },
    });
    let answered = false;
    let sourceError: Error | undefined;
    source.once('error', (error) => (sourceError = error));

    request.setTimeout(IDLE_TIMEOUT_MS, () => {
      request.destroy(new UnreachableError(`no byte moved to or from ${url.origin} for ${IDLE_TIMEOUT_MS / 1000} s`, { hint: whereHint }));
    });
    request.on('response', (response) => {
      answered = true;
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.once('end', () => {
        resolve({ status: response.statusCode ?? 0, statusText: response.statusMessage ?? '', body: Buffer.concat(chunks).toString('utf8') });
        // An early refusal: stop sending (a no-op once everything was sent).
        source.destroy();
        request.destroy();
      });
      response.once('error', (error) => reject(unreachable(error, url, whereHint)));
    });
    request.once('finish', () => onSent?.());
    // Our own listener too: the connection can also break after the pipeline has finished
    // (all sent, waiting for the answer), when the pipeline no longer listens.
    request.on('error', (error) => {
      if (!answered) reject(failure(error));
    });

    const meter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        onChunk?.(chunk);
        done(null, chunk);
      },
    });
    pipeline(source, meter, request).catch((error: unknown) => {
      if (!answered) reject(failure(error));
    });

    function failure(error: unknown): Error {
      if (error instanceof UnreachableError) return error;
      if (sourceError) return new UsageError(`cannot read the input: ${sourceError.message}`, 'check the file and try again; nothing was saved');
      return unreachable(error, url, whereHint);
    }
  });
}
