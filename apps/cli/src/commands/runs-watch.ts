import { setTimeout as sleep } from 'node:timers/promises';
import { FINAL_RUN_STATUSES, type RunStatus } from '@herald/core';
import { expectPositionals, idArgument, integerOption } from '../args';
import { ApiError, EXIT, UnreachableError } from '../errors';
import { bar, formatCount, formatElapsed, percent } from '../progress';
import type { CommandSpec } from './command';

const COMMAND = 'runs watch';

/** Where a run's life ends: nothing changes a run after these. */
const FINAL_STATUSES: ReadonlySet<string> = new Set(FINAL_RUN_STATUSES);

/** `GET /v1/runs/:id` (apps/admin runs.route.ts presentRun). */
export interface RunView {
  id: string;
  broadcast_id: string;
  status: RunStatus;
  counts: { targeted: number; handed_off: number; pending: number; sent: number; failed: number; skipped: number };
  rate_per_second: number;
  error: string | null;
  created_at: string;
  finished_at: string | null;
}

/**
 * After the first answer, the server may go away for a while (a deploy, a restart) without the
 * watch giving up: polls that cannot reach it, or get a 5xx, are retried for this long.
 */
const OUTAGE_TOLERANCE_MS = 30_000;

export function isFinal(run: RunView): boolean {
  return FINAL_STATUSES.has(run.status);
}

export function renderRun(run: RunView, tty: boolean): string {
  const { targeted, sent, failed, skipped, handed_off } = run.counts;
  const done = sent + failed + skipped;
  const fraction = targeted > 0 ? done / targeted : isFinal(run) ? 1 : 0;
  const handedOff = run.status === 'dispatching' ? `handed off ${formatCount(handed_off)}` : undefined;
  const rate = run.rate_per_second > 0 ? `${run.rate_per_second.toLocaleString('en-US')}/s` : undefined;
  if (tty) {
    // Most telling first: on a narrow terminal the fields at the end are the ones left out.
    const head = `${bar(fraction, 16)} ${percent(fraction).padStart(4)}`;
    return [
      head,
      `sent ${formatCount(sent)}`,
      `failed ${formatCount(failed)}`,
      `skipped ${formatCount(skipped)}`,
      `of ${formatCount(targeted)}`,
      handedOff,
      rate,
      run.status,
    ]
      .filter(Boolean)
      .join('  ');
  }
  const rest = [handedOff, rate].filter(Boolean).join(', ');
  return `run ${run.status}: ${formatCount(done)} of ${formatCount(targeted)} done (${formatCount(sent)} sent, ${formatCount(failed)} failed, ${formatCount(skipped)} skipped)${rest ? `, ${rest}` : ''}`;
}

export function runSummary(run: RunView): string {
  const { targeted, sent, failed, skipped } = run.counts;
  const took = run.finished_at ? ` in ${formatElapsed(Date.parse(run.finished_at) - Date.parse(run.created_at))}` : '';
  const error = run.error ? `; error: ${run.error}` : '';
  return `run ${run.id} ${run.status}${took}: ${formatCount(targeted)} targeted, ${formatCount(sent)} sent, ${formatCount(failed)} failed, ${formatCount(skipped)} skipped${error}`;
}

function isTransient(error: unknown): boolean {
  return error instanceof UnreachableError || (error instanceof ApiError && error.status >= 500);
}

export const runsWatch: CommandSpec = {
  words: ['runs', 'watch'],
  synopsis: 'RUN_ID [--interval MS]',
  summary: "follow a run's deliveries until it ends",
  help: `Polls GET /v1/runs/:id and shows sent, failed and skipped against targeted on stderr
until the run is completed, failed or cancelled; then prints the run's summary.

Arguments:
  RUN_ID            the run (GET /v1/broadcasts/:id/runs lists a broadcast's runs)
Options:
  --interval MS     time between polls (100 to 3600000, default 1000)

Exit code 0 when the run completed, 1 when it ended failed or cancelled. Once the run has
been read, the server may be away for up to 30 s (a restart) without the watch giving up.
Ctrl+C stops watching; the run goes on. With --json: the final run, as GET /v1/runs/:id.

Example:
  herald runs watch 5f0c2d1e-7b3a-4e8f-9a6b-2c4d1e0f3a5b --interval 500`,
  options: { interval: { type: 'string' } },

  async run(ctx, { positionals, values }) {
    expectPositionals(positionals, ['RUN_ID'], COMMAND);
    const runId = idArgument(positionals[0]!, 'run');
    const intervalMs = integerOption(values, 'interval', { min: 100, max: 3_600_000, fallback: 1_000 });
    const client = ctx.admin();
    const read = () => client.get<RunView>(`/v1/runs/${runId}`, {}, { hints: { 404: `check the run id: this server has no run ${runId}` } });
    ctx.onInterrupt(`stopped watching; the run goes on (herald runs watch ${runId} follows it again)`);
    const progress = ctx.out.progress();

    // The first read fails at once: a wrong URL, key or id is not an outage to wait out.
    let run = await read();
    let lastReadAt = ctx.now();
    let away = false;
    while (!isFinal(run)) {
      progress.update((tty) => renderRun(run, tty));
      await sleep(intervalMs);
      try {
        run = await read();
        lastReadAt = ctx.now();
        if (away) ctx.out.note('herald: the server answers again');
        away = false;
      } catch (error) {
        if (!isTransient(error) || ctx.now() - lastReadAt > OUTAGE_TOLERANCE_MS) throw error;
        if (!away) ctx.out.note(`herald: ${(error as Error).message}; retrying for up to ${OUTAGE_TOLERANCE_MS / 1000} s`);
        away = true;
      }
    }
    progress.finish((tty) => renderRun(run, tty));

    ctx.out.result(run, () => runSummary(run));
    if (run.status === 'completed') return EXIT.ok;
    ctx.out.warn(
      `the run ended ${run.status}`,
      run.status === 'cancelled' ? 'the broadcast was cancelled (POST /v1/broadcasts/:id/cancel)' : "the run's error above says why",
    );
    return EXIT.failed;
  },
};
