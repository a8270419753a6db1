import type { ConnectionSettings, SendResult } from '../adapter';

/** The API root to call: the connection's `baseUrl` (tests, gateways) or the provider's public one. */
export function apiRoot(connection: ConnectionSettings, publicRoot: string): string {
  return (connection.baseUrl?.trim() || publicRoot).replace(/\/+$/, '');
}

export type Credentials<N extends string> = { [K in N]: string };

/**
 * The named credentials, or the connection fault that names the missing ones (never a value).
 * A blank credential counts as missing.
 */
export function requireCredentials<N extends string>(
  connection: ConnectionSettings,
  names: readonly N[],
): { credentials: Credentials<N> } | { fault: SendResult } {
  const missing = names.filter((name) => !connection.credentials[name]?.trim());
  if (missing.length > 0) return { fault: missingCredentials(missing.join(', ')) };
  const credentials = Object.fromEntries(names.map((name) => [name, connection.credentials[name]!.trim()]));
  return { credentials: credentials as Credentials<N> };
}

export function missingCredentials(what: string): SendResult {
  return { outcome: 'connection_fault', code: 'missing_credentials', message: `missing credentials: ${what}` };
}

/** An optional credential: its trimmed value, or undefined when absent or blank. */
export function optionalCredential(connection: ConnectionSettings, name: string): string | undefined {
  return connection.credentials[name]?.trim() || undefined;
}

/**
 * A contact's phone number in E.164 with its `+`, or null: separators dropped, a leading `00`
 * (the international prefix) read as `+`, a `+` added when missing. A number that still starts
 * with 0 is a national number no provider can route.
 */
export function e164(raw: string | null): string | null {
  if (raw === null) return null;
  const compact = raw.trim().replace(/[\s().\-/]/g, '');
  const digits = compact.replace(/^(\+|00)/, '');
  if (!/^[1-9]\d{2,14}$/.test(digits)) return null;
  return `+${digits}`;
}
