import { AppError } from './errors';

const JSON_TYPES = /^application\/([\w.+-]+\+)?json$/i;
/** What `curl -d` and hand-written clients send JSON as when nobody sets a type. */
const CASUAL_TYPES = /^(text\/plain|application\/x-www-form-urlencoded)$/i;

/**
 * The one rule for request bodies, on the hook and the admin API alike: a body is read as JSON
 * when its Content-Type is a JSON type, none, or one that `curl -d` sends by default; any
 * other type is refused (415). Whatever the type, JSON that does not parse is a 400 saying
 * where it breaks.
 */
export function isJsonBodyType(contentType: string | undefined): boolean {
  const type = (contentType ?? '').split(';')[0]!.trim();
  return type === '' || JSON_TYPES.test(type) || CASUAL_TYPES.test(type);
}

/** The bare media type of a Content-Type header, for error messages. */
export function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim() || 'no Content-Type';
}

/** The 415 for a body of a type that is not read as JSON (`isJsonBodyType`). */
export function notJsonBody(contentType: string | undefined): AppError {
  return new AppError(415, 'unsupported_media_type', 'Request body must be JSON', [
    { path: 'content-type', message: `is ${mediaType(contentType)}`, expected: 'application/json' },
  ]);
}

/** A JSON object (not an array, not null): what a parsed body or a provider's answer must be to be read by field. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
