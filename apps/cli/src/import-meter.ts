import { bar, formatBytes, formatCount, formatEta, percent } from './progress';

const NEWLINE = 0x0a;

export interface ImportSnapshot {
  bytes: number;
  /** Undefined when the size is not known beforehand (stdin): no percentage, no ETA. */
  totalBytes: number | undefined;
  rows: number;
  rowsPerSecond: number;
  /** From the bytes still to send at the average byte rate so far; undefined until it means something. */
  etaSeconds: number | undefined;
}

/**
 * Counts what an import has sent: bytes, and rows as the newlines among them. The server reads
 * as fast as it writes (backpressure), so the bytes sent are its progress too, a socket buffer
 * ahead. Rows are an estimate — blank lines count, a CSV cell spanning lines counts twice —
 * which the server's own count in the final answer replaces.
 */
export class ImportMeter {
  private bytes = 0;
  private newlines = 0;
  private endsWithNewline = true;

  constructor(private readonly options: { totalBytes: number | undefined; headerLines: number; startedAt: number }) {}

  add(chunk: Buffer): void {
    this.bytes += chunk.length;
    for (let at = chunk.indexOf(NEWLINE); at !== -1; at = chunk.indexOf(NEWLINE, at + 1)) this.newlines++;
    if (chunk.length > 0) this.endsWithNewline = chunk[chunk.length - 1] === NEWLINE;
  }

  /** `sent`: everything is sent, so a last line without its newline is a row too. */
  snapshot(now: number, sent = false): ImportSnapshot {
    const lines = this.newlines + (sent && !this.endsWithNewline ? 1 : 0);
    const rows = Math.max(0, lines - this.options.headerLines);
    const seconds = (now - this.options.startedAt) / 1_000;
    const { totalBytes } = this.options;
    const byteRate = seconds > 0 ? this.bytes / seconds : 0;
    // Half a second of data before a rate is trusted for an ETA.
    const etaSeconds = totalBytes !== undefined && seconds >= 0.5 && byteRate > 0 ? (totalBytes - this.bytes) / byteRate : undefined;
    return { bytes: this.bytes, totalBytes, rows, rowsPerSecond: seconds > 0 ? rows / seconds : 0, etaSeconds: sent ? 0 : etaSeconds };
  }
}

/** The progress line: with a bar on a terminal, as a sentence in a log. */
export function renderImport(s: ImportSnapshot, tty: boolean): string {
  const fraction = s.totalBytes ? s.bytes / s.totalBytes : undefined;
  const rows = `${formatCount(s.rows)} rows`;
  const rate = `${formatCount(s.rowsPerSecond)} rows/s`;
  const size = s.totalBytes !== undefined ? `${formatBytes(s.bytes)} of ${formatBytes(s.totalBytes)}` : `${formatBytes(s.bytes)} sent`;
  const eta = fraction !== undefined ? `ETA ${formatEta(s.etaSeconds ?? Number.NaN)}` : undefined;
  if (tty) {
    // Fits 80 columns with a 20-wide bar; the log line below has room to spell things out.
    const ttySize = s.totalBytes !== undefined ? `${formatBytes(s.bytes)}/${formatBytes(s.totalBytes)}` : size;
    const head = fraction !== undefined ? `${bar(fraction, 20)} ${percent(fraction).padStart(4)}` : 'importing';
    return [head, rows, `${formatCount(s.rowsPerSecond)}/s`, ttySize, eta].filter(Boolean).join('  ');
  }
  return `import: ${[fraction !== undefined ? percent(fraction) : undefined, rows, rate, size, eta].filter(Boolean).join(', ')}`;
}
