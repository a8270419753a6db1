import type { ErrorDetail } from '@herald/core';

/**
 * The exit codes, the CLI's contract with scripts (docs/cli.md lists them): a script can tell
 * "you called me wrong" (2) from "the server said no" (1) from "there was no server" (3)
 * without reading any text.
 */
export const EXIT = {
  ok: 0,
  /** The API answered an error (4xx/5xx), or the watched run ended failed or cancelled. */
  failed: 1,
  /** Bad or missing arguments or environment; nothing was sent. */
  usage: 2,
  /** The server could not be reached, or the connection broke before it answered. */
  unreachable: 3,
  /** Ctrl+C (128 + SIGINT), as shells report it. */
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** What `--json` prints on stdout when a command fails: one document, like a success. */
export interface ErrorJson {
  error: { code: string; message: string; status?: number; details: ErrorDetail[]; hint?: string };
}

/**
 * An expected failure: it carries its exit code and a hint saying what to do about it, and is
 * reported as text on stderr (and as JSON on stdout with `--json`). Anything else that escapes
 * a command is a bug in the CLI, reported with its stack.
 */
export abstract class CliError extends Error {
  abstract readonly exitCode: ExitCode;
  abstract readonly code: string;
  readonly details: ErrorDetail[];
  readonly hint: string | undefined;

  constructor(message: string, { hint, details = [] }: { hint?: string | undefined; details?: ErrorDetail[] } = {}) {
    super(message);
    this.name = new.target.name;
    this.hint = hint;
    this.details = details;
  }

  toJson(): ErrorJson {
    return { error: { code: this.code, message: this.message, details: this.details, ...(this.hint ? { hint: this.hint } : {}) } };
  }
}

export class UsageError extends CliError {
  readonly exitCode = EXIT.usage;
  readonly code = 'usage';

  constructor(message: string, hint = 'see herald --help') {
    super(message, { hint });
  }
}

export class UnreachableError extends CliError {
  readonly exitCode = EXIT.unreachable;
  readonly code = 'unreachable';
}

/** The server answered 4xx/5xx; `message` and `details` are its own (`{"error":{…}}`). */
export class ApiError extends CliError {
  readonly exitCode = EXIT.failed;
  readonly code: string;

  constructor(
    readonly status: number,
    code: string,
    message: string,
    options: { hint?: string | undefined; details?: ErrorDetail[] } = {},
  ) {
    super(message, options);
    this.code = code;
  }

  override toJson(): ErrorJson {
    const json = super.toJson();
    return { error: { ...json.error, status: this.status } };
  }
}

/**
 * Reads Herald's error body `{"error":{code, message, details}}`; anything else (a proxy's HTML
 * page, an empty 502) becomes a message quoting the start of what came back.
 */
export function apiErrorFrom(status: number, statusText: string, body: string, hint: string | undefined): ApiError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    parsed = undefined;
  }
  const error = (parsed as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)?.error;
  if (error && typeof error.message === 'string') {
    const details = Array.isArray(error.details) ? (error.details as ErrorDetail[]) : [];
    return new ApiError(status, typeof error.code === 'string' ? error.code : `http_${status}`, error.message, { hint, details });
  }
  const excerpt = body.trim().slice(0, 200);
  return new ApiError(status, `http_${status}`, `HTTP ${status} ${statusText}${excerpt ? `: ${excerpt}` : ''}`, { hint });
}
