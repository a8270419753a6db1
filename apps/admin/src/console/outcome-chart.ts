import type { OutcomeBucket } from '@herald/db';
import { formatTime, html, type SafeHtml } from './html';
import { OUTCOMES } from './progress-bar';

/**
 * Deliveries over time as an inline SVG of stacked bars, one per time bucket (sent at the
 * bottom, then failed, then skipped), each with a tooltip. Pure: the buckets come from
 * `deliveryOutcomesByBucket`, counted by Postgres.
 */

export const MAX_BUCKETS = 60;
const NICE_SECONDS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1_800, 3_600, 7_200, 10_800, 21_600, 43_200, 86_400, 172_800, 604_800];
const DAY_SECONDS = 86_400;

/** The narrowest round bucket width that covers `spanMs` in at most MAX_BUCKETS bars. */
export function pickBucketSeconds(spanMs: number): number {
  const span = Math.max(0, spanMs) / 1_000;
  const nice = NICE_SECONDS.find((seconds) => span / seconds <= MAX_BUCKETS);
  return nice ?? Math.ceil(span / MAX_BUCKETS / DAY_SECONDS) * DAY_SECONDS;
}

export interface ChartInput {
  buckets: readonly OutcomeBucket[];
  bucketSeconds: number;
  /** The period shown; buckets outside it widen it (an outcome recorded after a run was cancelled). */
  from: Date;
  to: Date;
}

const WIDTH = 720;
const HEIGHT = 200;
const PLOT = { left: 44, right: 8, top: 10, bottom: 24 };
/** Bars beyond this are not drawn, whatever the data (a safety bound, not a design point). */
const HARD_MAX_BARS = 4 * MAX_BUCKETS;

export function outcomeChart({ buckets, bucketSeconds, from, to }: ChartInput): SafeHtml {
  if (buckets.length === 0) return html`<p class="empty" data-chart="empty">No delivery has an outcome yet.</p>`;
  const widthMs = bucketSeconds * 1_000;
  const start = Math.floor(from.getTime() / widthMs) * widthMs;
  const indexOf = (at: Date) => Math.round((at.getTime() - start) / widthMs);
  const lastIndex = Math.max(Math.ceil((to.getTime() - start) / widthMs) - 1, ...buckets.map((b) => indexOf(b.bucket_start)));
  const count = Math.min(Math.max(1, lastIndex + 1), HARD_MAX_BARS);
  const drawn = buckets.filter((b) => indexOf(b.bucket_start) >= 0 && indexOf(b.bucket_start) < count);
  const highest = Math.max(1, ...drawn.map((b) => b.sent + b.failed + b.skipped));

  const plotWidth = WIDTH - PLOT.left - PLOT.right;
  const plotHeight = HEIGHT - PLOT.top - PLOT.bottom;
  const slot = plotWidth / count;
  const barWidth = Math.max(1, slot * 0.8);
  const scale = plotHeight / highest;
  const fixed = (n: number) => Math.round(n * 100) / 100;
  const bottom = PLOT.top + plotHeight;
  const end = new Date(start + count * widthMs);

  const bars = drawn.map((bucket) => {
    const x = fixed(PLOT.left + indexOf(bucket.bucket_start) * slot + (slot - barWidth) / 2);
    let y = bottom;
    const rects = OUTCOMES.filter((outcome) => bucket[outcome] > 0).map((outcome) => {
      const height = bucket[outcome] * scale;
      y -= height;
      return html`<rect class="${outcome}" x="${x}" y="${fixed(y)}" width="${fixed(barWidth)}" height="${fixed(height)}"></rect>`;
    });
    const bucketEnd = new Date(bucket.bucket_start.getTime() + widthMs);
    const title = `${axisTime(bucket.bucket_start, bucketSeconds)} – ${axisTime(bucketEnd, bucketSeconds)}: ${bucket.sent} sent, ${bucket.failed} failed, ${bucket.skipped} skipped`;
    return html`<g
      class="bucket"
      data-start="${bucket.bucket_start.toISOString()}"
      data-sent="${bucket.sent}"
      data-failed="${bucket.failed}"
      data-skipped="${bucket.skipped}"
      ><title>${title}</title>${rects}</g
    >`;
  });

  const caption = `Outcomes per ${widthLabel(bucketSeconds)} from ${formatTime(new Date(start))} to ${formatTime(end)}; highest bar ${highest}`;
  return html`<figure class="chart">
    <svg viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${caption}" data-bucket-seconds="${bucketSeconds}">
      <line class="axis" x1="${PLOT.left}" y1="${bottom}" x2="${WIDTH - PLOT.right}" y2="${bottom}"></line>
      <line class="axis" x1="${PLOT.left}" y1="${PLOT.top}" x2="${PLOT.left}" y2="${bottom}"></line>
      <text class="tick" x="${PLOT.left - 6}" y="${PLOT.top + 4}" text-anchor="end">${highest}</text>
      <text class="tick" x="${PLOT.left - 6}" y="${bottom}" text-anchor="end">0</text>
      <text class="tick" x="${PLOT.left}" y="${HEIGHT - 6}" text-anchor="start">${axisTime(new Date(start), bucketSeconds)}</text>
      <text class="tick" x="${WIDTH - PLOT.right}" y="${HEIGHT - 6}" text-anchor="end">${axisTime(end, bucketSeconds)}</text>
      ${bars}
    </svg>
    <figcaption>
      <span class="legend sent">sent</span> <span class="legend failed">failed</span> <span class="legend skipped">skipped</span>
      — ${caption}.
    </figcaption>
  </figure>`;
}

/** `5 s`, `15 min`, `6 h`, `2 d`: every width pickBucketSeconds gives is a whole number of its unit. */
export function widthLabel(seconds: number): string {
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3_600) return `${seconds / 60} min`;
  if (seconds < DAY_SECONDS) return `${seconds / 3_600} h`;
  return `${seconds / DAY_SECONDS} d`;
}

/** As precise as the buckets are: seconds for narrow ones, dates for wide ones (UTC). */
function axisTime(at: Date, bucketSeconds: number): string {
  const iso = at.toISOString();
  if (bucketSeconds < 60) return iso.slice(11, 19);
  if (bucketSeconds < DAY_SECONDS) return `${iso.slice(5, 10)} ${iso.slice(11, 16)}`;
  return iso.slice(0, 10);
}
