import { html, type SafeHtml } from './html';

/**
 * A run's progress as an SVG bar: sent, failed and skipped side by side, as shares of
 * `targeted`; the rest of the track is what is still pending. SVG geometry is set with
 * attributes, not `style=`, so the strict Content-Security-Policy needs no 'unsafe-inline'.
 * The live endpoint sends the same geometry, so the browser script does no arithmetic.
 */

export const OUTCOMES = ['sent', 'failed', 'skipped'] as const;
export type Outcome = (typeof OUTCOMES)[number];

export interface ProgressCounts {
  targeted: number;
  sent: number;
  failed: number;
  skipped: number;
}

/** x and width of each segment, in percent of the track, two decimals. */
export type BarGeometry = Record<Outcome, { x: number; width: number }>;

export function barGeometry(counts: ProgressCounts): BarGeometry {
  const share = (n: number) => (counts.targeted > 0 ? Math.min(100, (n / counts.targeted) * 100) : 0);
  const round = (n: number) => Math.round(n * 100) / 100;
  let x = 0;
  const geometry = {} as BarGeometry;
  for (const outcome of OUTCOMES) {
    const width = Math.min(share(counts[outcome]), 100 - x);
    geometry[outcome] = { x: round(x), width: round(width) };
    x += width;
  }
  return geometry;
}

/** `7 of 10 done (70 %)`, or what a run with no audience yet shows. */
export function progressLabel(counts: ProgressCounts): string {
  const done = counts.sent + counts.failed + counts.skipped;
  if (counts.targeted === 0) return `${done} done, none targeted yet`;
  return `${done} of ${counts.targeted} done (${Math.floor((Math.min(done, counts.targeted) / counts.targeted) * 100)} %)`;
}

export function progressBar(counts: ProgressCounts): SafeHtml {
  const geometry = barGeometry(counts);
  const label = progressLabel(counts);
  return html`<div class="progress">
    <svg class="bar" viewBox="0 0 100 10" preserveAspectRatio="none" role="img" aria-label="${label}">
      <rect class="track" x="0" y="0" width="100" height="10"></rect>
      ${OUTCOMES.map(
        (outcome) =>
          html`<rect class="${outcome}" data-bar="${outcome}" x="${geometry[outcome].x}" y="0" width="${geometry[outcome].width}" height="10"></rect>`,
      )}
    </svg>
    <span class="progress-label" data-field="label">${label}</span>
  </div>`;
}
