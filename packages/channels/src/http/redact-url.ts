/**
 * Provider credentials travel in URLs (Telegram: `/bot123456:ABC-DEF/sendMessage`, Graph:
 * `?access_token=`), so no message Herald builds may carry a URL's path or query verbatim.
 */

/** A Telegram bot token as a path segment: `bot<bot id>:<secret>` (`:` possibly percent-encoded). */
const BOT_TOKEN_SEGMENT = /^bot\d+(?::|%3a)/i;
/**
 * Any other long segment mixing letters and digits is treated as a secret too (Discord and
 * Slack webhook tokens live in the path); numeric ids (`/v19.0/1098765432/messages`) stay.
 */
const OPAQUE_SEGMENT = /^(?=[^/]*\d)(?=[^/]*[a-z])[\w~.:%-]{24,}$/i;

/**
 * `scheme://host:port/path` with token-like path segments replaced by `<redacted>` (a Telegram
 * token segment by `bot<redacted>`); credentials, query and fragment dropped.
 */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return '<invalid url>';
  }
  if (!['http:', 'https:', 'ws:', 'wss:'].includes(parsed.protocol)) return `${parsed.protocol}<redacted>`;
  const path = parsed.pathname
    .split('/')
    .map((segment) => (BOT_TOKEN_SEGMENT.test(segment) ? 'bot<redacted>' : OPAQUE_SEGMENT.test(segment) ? '<redacted>' : segment))
    .join('/');
  return `${parsed.protocol}//${parsed.host}${path}`;
}

const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi;
const BARE_BOT_TOKEN = /\bbot\d+:[\w-]+/gi;

/** Redacts every URL (and bare Telegram token) found in a free text, e.g. a library's error message. */
export function redactText(text: string): string {
  return text.replace(URL_IN_TEXT, (url) => redactUrl(url)).replace(BARE_BOT_TOKEN, 'bot<redacted>');
}
