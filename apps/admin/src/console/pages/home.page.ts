import { describeAudience } from '@herald/core';
import type { BotRecord, Broadcast } from '@herald/db';
import { formatTime, html, type SafeHtml } from '../html';
import { consolePaths, layout, statusPill, type ConsoleContext } from '../layout';

export interface BotBroadcasts {
  bot: BotRecord;
  /** Newest first, at most one page of them. */
  broadcasts: readonly Broadcast[];
  /** More broadcasts than shown. */
  more: boolean;
}

/** Every bot, newest first, each with its broadcasts, newest first. */
export function homePage(context: ConsoleContext, view: { bots: readonly BotBroadcasts[]; olderBotsHref: string | undefined }): SafeHtml {
  return layout(context, {
    title: 'Broadcasts',
    body: html` ${view.bots.length === 0 ? html`<p class="empty">No bots yet: create one with <code>POST /v1/bots</code>.</p>` : null}
    ${view.bots.map(botSection)}
    ${view.olderBotsHref ? html`<p class="pager"><a href="${view.olderBotsHref}" data-link="older-bots">Older bots →</a></p>` : null}`,
  });
}

function botSection({ bot, broadcasts, more }: BotBroadcasts): SafeHtml {
  return html`<section class="bot" data-bot-id="${bot.id}">
    <h2>${bot.name} <span class="muted mono">${bot.id}</span></h2>
    ${
      broadcasts.length === 0
        ? html`<p class="empty">No broadcasts.</p>`
        : html`<table>
            <thead>
              <tr>
                <th>Broadcast</th>
                <th>Enabled</th>
                <th>Audience</th>
                <th class="num">Delay</th>
                <th>Created</th>
              </tr>
            </thead>
            <tbody>
              ${broadcasts.map(
                (b) =>
                  html`<tr data-broadcast-id="${b.id}">
                    <td><a href="${consolePaths.broadcast(b.id)}">${b.name}</a></td>
                    <td>${statusPill(b.enabled ? 'yes' : 'no')}</td>
                    <td>${describeAudience(b.audience)}</td>
                    <td class="num">${b.delay_ms} ms</td>
                    <td>${formatTime(b.created_at)}</td>
                  </tr>`,
              )}
            </tbody>
          </table>`
    }
    ${more ? html`<p class="muted">Only the newest ${broadcasts.length} are shown; <code>GET /v1/bots/${bot.id}/broadcasts</code> lists them all.</p>` : null}
  </section>`;
}
