import { FINAL_RUN_STATUSES, type RunStatus } from '@herald/core';
import type { presentRun } from '../presenters';
import { formatDuration, formatTime } from './html';
import { barGeometry, progressLabel, type BarGeometry } from './progress-bar';

/** A run as GET /v1/runs/:id shows it: the console shows the same numbers, from the same code. */
export type PresentedRun = ReturnType<typeof presentRun>;

/** A run in a final status changes no more: the page stops polling it. */
export function isFinal(status: RunStatus): boolean {
  return (FINAL_RUN_STATUSES as readonly RunStatus[]).includes(status);
}

/**
 * What a page shows of a run, as text, by the name of the `data-field` that shows it. The
 * server renders these into the page and the live endpoint sends them again, so the first
 * paint and every update say exactly the same thing.
 */
export function runFields(run: PresentedRun, now = new Date()) {
  const final = isFinal(run.status);
  const end = run.finished_at ?? (final ? run.updated_at : now);
  return {
    status: run.status,
    targeted: String(run.counts.targeted),
    handed_off: String(run.counts.handed_off),
    sent: String(run.counts.sent),
    failed: String(run.counts.failed),
    skipped: String(run.counts.skipped),
    delivered: String(run.counts.delivered),
    read: String(run.counts.read),
    pending: String(run.counts.pending),
    rate: `${run.rate_per_second} /s`,
    created_at: formatTime(run.created_at),
    delivering_at: formatTime(run.delivering_at),
    finished_at: formatTime(run.finished_at),
    duration: `${formatDuration(end.getTime() - run.created_at.getTime())}${final ? '' : ' so far'}`,
    label: progressLabel(run.counts),
    live: final ? '' : 'updating live',
  };
}

export type RunFields = ReturnType<typeof runFields>;

/** The body of the live endpoint: the run as the API shows it, plus what the page displays. */
export function liveRun(run: PresentedRun, now = new Date()): { run: PresentedRun; final: boolean; fields: RunFields; bar: BarGeometry } {
  return { run, final: isFinal(run.status), fields: runFields(run, now), bar: barGeometry(run.counts) };
}
