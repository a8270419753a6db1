import { describeAudience } from '@herald/core';
import type { BotRecord, Broadcast } from '@herald/db';
import { formatTime, html, type SafeHtml } from '../html';
import { statusPill } from '../layout';

/**
 * A broadcast's settings as a person reads them. No hook URL: Herald keeps only its token's
 * digest (the API shows the URL once, in the answers of create and rotate-hook), and a console
 * page ends up in screenshots and screen shares anyway.
 */
export function broadcastSettings(broadcast: Broadcast, bot: BotRecord | undefined): SafeHtml {
  const { message } = broadcast;
  const overrides = Object.entries(message.channels ?? {});
  return html`<dl class="settings">
    <dt>Bot</dt>
    <dd>${bot ? bot.name : null} <span class="muted mono">${broadcast.bot_id}</span></dd>
    <dt>Enabled</dt>
    <dd>${statusPill(broadcast.enabled ? 'yes' : 'no')}</dd>
    <dt>Audience</dt>
    <dd>${describeAudience(broadcast.audience)}</dd>
    <dt>Message</dt>
    <dd><pre data-field="message">${message.text}</pre></dd>
    ${
      overrides.length
        ? html`<dt>Per channel</dt>
            <dd>
              ${overrides.map(
                ([channel, override]) =>
                  html`<div>
                    <strong>${channel}</strong>
                    <pre>${JSON.stringify(override, null, 2)}</pre>
                  </div>`,
              )}
            </dd>`
        : null
    }
    <dt>Delay</dt>
    <dd>${broadcast.delay_ms} ms after the last call${broadcast.max_delay_ms !== null ? `, at most ${broadcast.max_delay_ms} ms after the first` : null}</dd>
    <dt>Methods</dt>
    <dd>${[broadcast.allow_get ? 'GET' : null, broadcast.allow_post ? 'POST' : null].filter(Boolean).join(', ') || 'none'}</dd>
    <dt>Callers</dt>
    <dd>${broadcast.allowed_hosts.length ? broadcast.allowed_hosts.join(', ') : 'any address'}</dd>
    <dt>Direct mode</dt>
    <dd>${broadcast.direct_mode ? 'yes: the hook URL alone launches it' : "no: callers send the bot's API token"}</dd>
    <dt>Payload</dt>
    <dd>${broadcast.require_valid_filter ? 'audience filters, validated' : 'any JSON object, as {{payload.…}}'}</dd>
    <dt>Created</dt>
    <dd>${formatTime(broadcast.created_at)}</dd>
    <dt>Updated</dt>
    <dd>${formatTime(broadcast.updated_at)}</dd>
    <dt>Hook rotated</dt>
    <dd>${broadcast.hook_rotated_at ? formatTime(broadcast.hook_rotated_at) : 'never'}</dd>
  </dl>`;
}
