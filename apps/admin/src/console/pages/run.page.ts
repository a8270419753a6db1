import { DELIVERY_REASONS, DELIVERY_STATUSES, type DeliveryReason, type DeliveryStatus } from '@herald/core';
import type { Broadcast, listDeliveries } from '@herald/db';
import { formatTime, hrefWithQuery, html, type SafeHtml } from '../html';
import { consolePaths, layout, statusPill, type ConsoleContext } from '../layout';
import { progressBar } from '../progress-bar';
import { isFinal, runFields, type PresentedRun, type RunFields } from '../run-fields';

export type DeliveryRow = Awaited<ReturnType<typeof listDeliveries>>[number];

export interface RunView {
  run: PresentedRun;
  broadcast: Broadcast | undefined;
  filters: { status: DeliveryStatus | undefined; reason: DeliveryReason | undefined };
  deliveries: readonly DeliveryRow[];
  /** The next page of deliveries under the same filters; undefined on the last page. */
  nextHref: string | undefined;
  /** Whether this is a later page (a link back to the first one is shown). */
  paged: boolean;
}

const NUMBERS: readonly { field: keyof RunFields; label: string; small?: boolean }[] = [
  { field: 'targeted', label: 'Targeted' },
  { field: 'sent', label: 'Sent' },
  { field: 'failed', label: 'Failed' },
  { field: 'skipped', label: 'Skipped' },
  { field: 'delivered', label: 'Delivered' },
  { field: 'read', label: 'Read' },
  { field: 'pending', label: 'Pending' },
  { field: 'handed_off', label: 'Handed off' },
  { field: 'rate', label: 'Rate', small: true },
  { field: 'created_at', label: 'Created', small: true },
  { field: 'delivering_at', label: 'Delivering since', small: true },
  { field: 'finished_at', label: 'Finished', small: true },
  { field: 'duration', label: 'Duration', small: true },
];

/** A run's numbers with live progress, and its deliveries filtered by status and reason. */
export function runPage(context: ConsoleContext, view: RunView, now = new Date()): SafeHtml {
  const { run, broadcast } = view;
  const fields = runFields(run, now);
  return layout(context, {
    title: `Run ${run.id}`,
    crumbs: [
      { label: 'Broadcasts', href: consolePaths.home },
      { label: broadcast ? broadcast.name : run.broadcast_id, href: consolePaths.broadcast(run.broadcast_id) },
      { label: `run ${run.id.slice(0, 8)}` },
    ],
    body: html` <section class="card run" ${isFinal(run.status) ? null : html` data-live-run="${consolePaths.runProgress(run.id)}"`}>
        <p>${statusPill(run.status, { live: true })} <span class="live" data-field="live">${fields.live}</span></p>
        <dl class="numbers">
          ${NUMBERS.map(
            ({ field, label, small }) =>
              html`<div>
                <dt>${label}</dt>
                <dd class="${small ? 'small' : null}" data-field="${field}">${fields[field]}</dd>
              </div>`,
          )}
        </dl>
        ${progressBar(run.counts)} ${run.error ? html`<p><strong>Error:</strong> <span data-field="error">${run.error}</span></p>` : null}
      </section>
      <h2>Deliveries</h2>
      ${filterForm(run.id, view.filters)} ${deliveriesTable(view.deliveries)}
      <p class="pager">
        ${view.paged ? html`<a href="${hrefWithQuery(consolePaths.run(run.id), view.filters)}" data-link="first-page">← First page</a>` : null}
        ${view.nextHref ? html`<a href="${view.nextHref}" data-link="next-page">Next page →</a>` : null}
      </p>`,
  });
}

/** A plain GET form: the filters live in the query string, so a filtered view can be linked. */
function filterForm(runId: string, filters: RunView['filters']): SafeHtml {
  const options = (values: readonly string[], selected: string | undefined) =>
    html`<option value="">any</option>
      ${values.map((v) => html`<option value="${v}" ${v === selected ? html` selected` : null}>${v}</option>`)}`;
  return html`<form class="filters" method="get" action="${consolePaths.run(runId)}">
    <label
      >Status
      <select name="status">
        ${options(DELIVERY_STATUSES, filters.status)}
      </select></label
    >
    <label
      >Reason
      <select name="reason">
        ${options(DELIVERY_REASONS, filters.reason)}
      </select></label
    >
    <button type="submit">Filter</button>
    ${filters.status || filters.reason ? html`<a href="${consolePaths.run(runId)}">Clear</a>` : null}
  </form>`;
}

function deliveriesTable(deliveries: readonly DeliveryRow[]): SafeHtml {
  if (deliveries.length === 0) return html`<p class="empty" data-deliveries="none">No delivery matches.</p>`;
  return html`<table class="deliveries">
    <thead>
      <tr>
        <th class="num">Id</th>
        <th>Contact</th>
        <th>Channel</th>
        <th>Status</th>
        <th>Reason</th>
        <th>Receipt</th>
        <th>Error</th>
        <th class="num">Attempts</th>
        <th>Text</th>
        <th>Updated</th>
      </tr>
    </thead>
    <tbody>
      ${deliveries.map(
        (d) =>
          html`<tr data-delivery-id="${d.id}" data-status="${d.status}" data-reason="${d.reason ?? ''}">
            <td class="num mono">${d.id}</td>
            <td class="mono">${d.user_id}</td>
            <td>${d.channel}</td>
            <td>${statusPill(d.status)}</td>
            <td>${d.reason ?? '—'}</td>
            <td>${receipt(d)}</td>
            <td>${d.error_code ? html`<code>${d.error_code}</code> ` : null}${d.last_error}</td>
            <td class="num">${d.attempts}</td>
            <td class="text" title="${d.text ?? ''}">${d.text ?? '—'}</td>
            <td>${formatTime(d.sent_at ?? d.updated_at)}</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

/** What the provider reported after accepting the message, furthest first, with when. */
function receipt(d: DeliveryRow): string {
  if (d.read_at) return `read ${formatTime(d.read_at)}`;
  if (d.delivered_at) return `delivered ${formatTime(d.delivered_at)}`;
  if (d.failed_at) return `undelivered ${formatTime(d.failed_at)}`;
  return '—';
}
