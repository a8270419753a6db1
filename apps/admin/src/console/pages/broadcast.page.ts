import type { BotRecord, Broadcast } from '@herald/db';
import { html, type SafeHtml } from '../html';
import { consolePaths, layout, statusPill, type ConsoleContext } from '../layout';
import { progressBar } from '../progress-bar';
import { isFinal, runFields, type PresentedRun } from '../run-fields';
import { broadcastSettings } from './broadcast-settings';

export interface BroadcastView {
  broadcast: Broadcast;
  bot: BotRecord | undefined;
  /** Newest first: one page of them. */
  runs: readonly PresentedRun[];
  olderRunsHref: string | undefined;
  /** The outcome chart over the runs shown. */
  chart: SafeHtml;
}

/** A broadcast's settings, its runs with live progress, and its deliveries over time. */
export function broadcastPage(context: ConsoleContext, view: BroadcastView, now = new Date()): SafeHtml {
  const { broadcast, bot } = view;
  return layout(context, {
    title: broadcast.name,
    crumbs: [{ label: 'Broadcasts', href: consolePaths.home }, { label: bot ? bot.name : broadcast.bot_id }, { label: broadcast.name }],
    body: html` <section class="card">
        <h2>Settings</h2>
        ${broadcastSettings(broadcast, bot)}
      </section>
      <h2>Runs</h2>
      ${
        view.runs.length === 0
          ? html`<p class="empty">No runs yet: a run starts ${broadcast.delay_ms} ms after the hook is called.</p>`
          : html`<table class="runs">
              <thead>
                <tr>
                  <th>Run</th>
                  <th>Status</th>
                  <th>Progress</th>
                  <th class="num">Targeted</th>
                  <th class="num">Sent</th>
                  <th class="num">Failed</th>
                  <th class="num">Skipped</th>
                  <th>Duration</th>
                </tr>
              </thead>
              <tbody>
                ${view.runs.map((run) => runRow(run, now))}
              </tbody>
            </table>`
      }
      ${view.olderRunsHref ? html`<p class="pager"><a href="${view.olderRunsHref}" data-link="older-runs">Older runs →</a></p>` : null}
      <h2>Deliveries over time</h2>
      ${view.chart}`,
  });
}

function runRow(run: PresentedRun, now: Date): SafeHtml {
  const fields = runFields(run, now);
  return html`<tr data-run-id="${run.id}" ${isFinal(run.status) ? null : html` data-live-run="${consolePaths.runProgress(run.id)}"`}>
    <td>
      <a href="${consolePaths.run(run.id)}">${fields.created_at}</a>
      <div class="muted mono">${run.id.slice(0, 8)}</div>
    </td>
    <td>${statusPill(run.status, { live: true })} <span class="live" data-field="live">${fields.live}</span></td>
    <td>${progressBar(run.counts)}</td>
    <td class="num" data-field="targeted">${fields.targeted}</td>
    <td class="num" data-field="sent">${fields.sent}</td>
    <td class="num" data-field="failed">${fields.failed}</td>
    <td class="num" data-field="skipped">${fields.skipped}</td>
    <td data-field="duration">${fields.duration}</td>
  </tr>`;
}
