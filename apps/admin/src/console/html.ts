/**
 * HTML from template literals, escaped by construction: every value interpolated into `html`
 * is escaped unless it is itself the result of `html` (already safe). There is no way to
 * mark an arbitrary string as safe, so nothing from the database reaches a page unescaped.
 * Booleans and Dates are not accepted: write `cond ? html`…` : null` and `formatTime(date)`.
 */

/** Not exported: only this module can brand a string as escaped markup. */
const ESCAPED = Symbol('escaped-html');

export interface SafeHtml {
  readonly [ESCAPED]: string;
}

function escaped(text: string): SafeHtml {
  return { [ESCAPED]: text };
}

function isSafeHtml(value: unknown): value is SafeHtml {
  return typeof value === 'object' && value !== null && ESCAPED in value;
}

/** The markup, to send. */
export function markup(fragment: SafeHtml): string {
  return fragment[ESCAPED];
}

export type HtmlValue = SafeHtml | string | number | null | undefined | readonly HtmlValue[];

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Safe in text and in a quoted attribute value (every attribute here is double-quoted). */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

function render(value: HtmlValue): string {
  if (value === null || value === undefined) return '';
  if (isSafeHtml(value)) return value[ESCAPED];
  if (Array.isArray(value)) return (value as readonly HtmlValue[]).map(render).join('');
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    out += render(value) + (strings[i + 1] ?? '');
  });
  return escaped(out);
}

/** `2026-11-27 10:04:05 UTC`: one zone for everyone reading the same run. */
export function formatTime(at: Date | null | undefined): string {
  return at ? `${at.toISOString().slice(0, 19).replace('T', ' ')} UTC` : '—';
}

/** `1 h 2 min`, `3 min 4 s`, `5.2 s`, `120 ms`. */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1_000);
  if (seconds < 3_600) return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 1_440) return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
  return `${Math.floor(minutes / 1_440)} d ${Math.floor((minutes % 1_440) / 60)} h`;
}

/** A path and its query string; empty values are left out. */
export function hrefWithQuery(path: string, query: Record<string, string | undefined>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value) params.set(key, value);
  const search = params.toString();
  return search ? `${path}?${search}` : path;
}
