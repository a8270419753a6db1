/**
 * Progress on stderr, never stdout (stdout is for the result, `--json` or not). On a terminal
 * one line is redrawn in place with `\r`; anywhere else (a CI log, a file, a test reading the
 * pipe) a plain line is printed at most every `logIntervalMs`, so the log shows progress
 * without a line per chunk.
 */

export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(text: string): unknown;
}

/** Redraws on a terminal: often enough to look live, rarely enough to cost nothing. */
const TTY_REDRAW_MS = 100;
export const DEFAULT_LOG_INTERVAL_MS = 1_000;

export class ProgressLine {
  readonly tty: boolean;
  private lastDrawAt = -Infinity;
  private lastText: string | undefined;
  /** A terminal line drawn without its newline yet. */
  private open = false;

  constructor(
    private readonly stream: ProgressStream,
    private readonly options: { enabled: boolean; logIntervalMs?: number; now?: () => number },
  ) {
    this.tty = stream.isTTY === true;
  }

  /** Draws `render(tty)` unless the last draw was too recent; `render` runs only when drawn. */
  update(render: (tty: boolean) => string): void {
    if (!this.options.enabled) return;
    const now = this.now();
    const interval = this.tty ? TTY_REDRAW_MS : (this.options.logIntervalMs ?? DEFAULT_LOG_INTERVAL_MS);
    if (now - this.lastDrawAt < interval) return;
    this.draw(render(this.tty), now);
  }

  /** Draws the final state whatever the throttle, and ends the terminal line. */
  finish(render: (tty: boolean) => string): void {
    if (!this.options.enabled) return;
    this.draw(render(this.tty), this.now());
    this.break();
  }

  /** Ends a terminal line in progress, so that what is written next starts on a line of its own. */
  break(): void {
    if (!this.open) return;
    this.stream.write('\n');
    this.open = false;
  }

  private draw(text: string, now: number): void {
    this.lastDrawAt = now;
    if (this.tty) {
      this.stream.write(`\r${fit(text, this.stream.columns)}\x1b[K`);
      this.open = true;
    } else if (text !== this.lastText) {
      this.stream.write(`${text}\n`);
    }
    this.lastText = text;
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }
}

/**
 * A line cut to one character short of the terminal's width — a line that wraps can no longer
 * be redrawn by \r — at the last gap of two spaces that fits, so that whole fields drop off
 * the end rather than half of one. A width of 0 (some ptys report it) is taken as 80.
 */
export function fit(text: string, columns: number | undefined): string {
  const width = Math.max(20, (columns || 80) - 1);
  if (text.length <= width) return text;
  const gap = text.lastIndexOf('  ', width);
  return gap > 0 ? text.slice(0, gap) : text.slice(0, width);
}

export function bar(fraction: number, width = 24): string {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

export function percent(fraction: number): string {
  return `${Math.floor(Math.min(1, Math.max(0, fraction)) * 100)}%`;
}

export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function formatBytes(bytes: number): string {
  if (bytes < 1_000) return `${bytes} B`;
  if (bytes < 1_000_000) return `${(bytes / 1_000).toFixed(1)} kB`;
  if (bytes < 1_000_000_000) return `${(bytes / 1_000_000).toFixed(1)} MB`;
  return `${(bytes / 1_000_000_000).toFixed(2)} GB`;
}

/** A time left, to the second: `45s`, `3m05s`, `1h02m`. */
export function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.ceil(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3_600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3_600)}h${String(Math.floor((s % 3_600) / 60)).padStart(2, '0')}m`;
}

/** A time taken, rounded (a time left is rounded up): `0.4 s`, `19.2 s`, `1m02s`. */
export function formatElapsed(ms: number): string {
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`;
  const s = Math.round(ms / 1_000);
  if (s < 3_600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3_600)}h${String(Math.floor((s % 3_600) / 60)).padStart(2, '0')}m`;
}
