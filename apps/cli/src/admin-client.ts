import type { Readable } from 'node:stream';
import { apiErrorFrom, ApiError, UsageError } from './errors';
import { send, type HttpAnswer } from './http';
import { uploadStream, type UploadProgress } from './upload';

/**
 * The admin process's own default address: ADMIN_PORT defaults to 3001 (packages/config), and
 * it listens on every interface, or on loopback only while it has no key — loopback reaches it
 * either way.
 */
export const DEFAULT_ADMIN_URL = 'http://127.0.0.1:3001';

export interface AdminTarget {
  baseUrl: URL;
  /** Unset is allowed: a development server without a key answers without one. */
  apiKey: string | undefined;
}

/** HERALD_ADMIN_URL and ADMIN_API_KEY, checked before anything is sent (a bad URL is exit 2). */
export function adminTarget(env: NodeJS.ProcessEnv): AdminTarget {
  const raw = env['HERALD_ADMIN_URL']?.trim() || DEFAULT_ADMIN_URL;
  let baseUrl: URL;
  try {
    baseUrl = new URL(raw);
  } catch {
    baseUrl = new URL('invalid:');
  }
  if (baseUrl.protocol !== 'http:' && baseUrl.protocol !== 'https:') {
    throw new UsageError(`HERALD_ADMIN_URL is not an http(s) URL: ${raw}`, "set it to the admin API's address, e.g. http://127.0.0.1:3001");
  }
  return { baseUrl, apiKey: env['ADMIN_API_KEY'] || undefined };
}

/** What to do about a status, for the call at hand (404: "check the run id …"), over the defaults. */
export interface CallContext {
  hints?: Partial<Record<number, string>>;
}

/** The admin API over HTTP: the key on every call, its error bodies turned into ApiError. */
export class AdminClient {
  constructor(readonly target: AdminTarget) {}

  /** `path` under the base URL, keeping any base path (an admin API behind a proxy at /herald). */
  url(path: string, query: Record<string, string | undefined> = {}): URL {
    const url = new URL(this.target.baseUrl);
    url.pathname = `${url.pathname.replace(/\/+$/, '')}${path}`;
    for (const [name, value] of Object.entries(query)) if (value !== undefined) url.searchParams.set(name, value);
    return url;
  }

  async get<T>(path: string, query: Record<string, string | undefined> = {}, context: CallContext = {}): Promise<T> {
    const answer = await send(this.url(path, query), { headers: this.headers({ accept: 'application/json' }) }, this.whereHint());
    return this.judge<T>(answer, context);
  }

  /**
   * Streams `source` as the body of a POST (see upload.ts); resolves with the API's JSON answer
   * once the server has read it all and committed.
   */
  async upload<T>(path: string, contentType: string, source: Readable, progress: UploadProgress & { size?: number }, context: CallContext = {}): Promise<T> {
    const answer = await uploadStream({
      url: this.url(path),
      headers: this.headers({ 'content-type': contentType, accept: 'application/json' }),
      source,
      whereHint: this.whereHint(),
      ...progress,
    });
    return this.judge<T>(answer, context);
  }

  private judge<T>(answer: HttpAnswer, context: CallContext): T {
    if (answer.status < 200 || answer.status >= 300) {
      throw apiErrorFrom(answer.status, answer.statusText, answer.body, this.hintFor(answer.status, context));
    }
    try {
      return JSON.parse(answer.body) as T;
    } catch {
      throw new ApiError(answer.status, 'not_json', `the server answered ${answer.status} with something that is not JSON`, {
        hint: `check that HERALD_ADMIN_URL (${this.target.baseUrl.href}) is Herald's admin API`,
      });
    }
  }

  private headers(extra: Record<string, string>): Record<string, string> {
    return { ...extra, ...(this.target.apiKey ? { authorization: `Bearer ${this.target.apiKey}` } : {}) };
  }

  private whereHint(): string {
    return `check HERALD_ADMIN_URL (now ${this.target.baseUrl.href}) and that the admin API is running there`;
  }

  /** What to do about a refusal, where the status alone says it; else the API's message does. */
  private hintFor(status: number, context: CallContext): string | undefined {
    const specific = context.hints?.[status];
    if (specific) return specific;
    if (status === 401) {
      return this.target.apiKey
        ? `check ADMIN_API_KEY: the server at ${this.target.baseUrl.origin} does not accept it`
        : "set ADMIN_API_KEY to the server's admin API key (herald reads no .env file: export it)";
    }
    if (status === 404) return `check the id, and that HERALD_ADMIN_URL (${this.target.baseUrl.href}) is the right deployment`;
    if (status === 503) return 'the server cannot reach its database or Redis right now: try again shortly';
    if (status >= 500) return "the server failed: its log has the reference above (the admin process's logs)";
    return undefined;
  }
}
