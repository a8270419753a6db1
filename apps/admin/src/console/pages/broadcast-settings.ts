import type { Audience } from '@herald/core';
import type { BotRecord, Broadcast } from '@herald/db';
import { formatTime, html, type SafeHtml } from '../html';
import { statusPill } from '../layout';

/**
 * A broadcast's settings as a person reads them. The hook token is not shown: a console page
 * ends up in screenshots and screen shares, and the token is the hook's only secret.
 */
export function broadcastSettings(broadcast: Broadcast, bot: BotRecord | undefined): SafeHtml {
  const message = asMessage(broadcast.message);
  return html`<dl class="settings">
    <dt>Bot</dt>
    <dd>${bot ? bot.name : null} <span class="muted mono">${broadcast.bot_id}</span></dd>
    <dt>Enabled</dt>
    <dd>${statusPill(broadcast.enabled ? 'yes' : 'no')}</dd>
    <dt>Audience</dt>
    <dd>${audienceSummary(broadcast.audience)}</dd>
    <dt>Message</dt>
    <dd><pre data-field="message">${message.text}</pre></dd>
    ${
      message.channels.length
        ? html`<dt>Per channel</dt>
            <dd>
              ${message.channels.map(
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

/** `favorite_color Equals "red" AND age GreaterThan "30"`, or `all contacts of the bot`. */
export function audienceSummary(audience: unknown): string {
  if (!isAudience(audience)) return JSON.stringify(audience);
  if (audience.filters.length === 0) return 'all contacts of the bot';
  return audience.filters
    .map((f, i) => `${i > 0 ? `${audience.join[i - 1] ?? 'AND'} ` : ''}${f.field} ${f.criteria}${f.value === null ? '' : ` ${JSON.stringify(f.value)}`}`)
    .join(' ');
}

/** The stored JSON is written by the admin API's validated input; read it defensively all the same. */
function isAudience(value: unknown): value is Audience {
  const audience = value as Partial<Audience> | null;
  return typeof audience === 'object' && audience !== null && Array.isArray(audience.filters) && Array.isArray(audience.join);
}

function asMessage(value: unknown): { text: string; channels: [string, unknown][] } {
  const message = (typeof value === 'object' && value !== null ? value : {}) as { text?: unknown; channels?: unknown };
  const channels = typeof message.channels === 'object' && message.channels !== null ? Object.entries(message.channels) : [];
  return { text: typeof message.text === 'string' ? message.text : JSON.stringify(value), channels };
}
