import { effectiveRatePerSecond } from '@herald/core';
import { RATE_WINDOW_SECONDS, type Broadcast, type ChannelConnection, type Run } from '@herald/db';

/** Response shapes of the admin API: snake_case, secrets never echoed back. */

export function hookUrl(publicUrl: string, token: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/hooks/${token}`;
}

/**
 * A broadcast as every answer shows it. No `hook_url`: only the token's digest is stored, so
 * the URL is shown once, by create and rotate-hook (`presentBroadcastWithHook`); this shows
 * `hook_url_hint`, the URL with all but the token's last 4 characters left out, to tell which
 * URL is current.
 */
export function presentBroadcast(b: Broadcast, publicUrl: string) {
  return {
    id: b.id,
    bot_id: b.bot_id,
    name: b.name,
    enabled: b.enabled,
    audience: b.audience,
    message: b.message,
    allowed_hosts: b.allowed_hosts,
    allow_get: b.allow_get,
    allow_post: b.allow_post,
    direct_mode: b.direct_mode,
    require_valid_filter: b.require_valid_filter,
    delay_ms: b.delay_ms,
    max_delay_ms: b.max_delay_ms,
    hook_url_hint: hookUrl(publicUrl, `…${b.hook_token_hint}`),
    hook_rotated_at: b.hook_rotated_at,
    created_at: b.created_at,
    updated_at: b.updated_at,
  };
}

/** The answer of create and rotate-hook: the broadcast with its new `hook_url`, shown this once. */
export function presentBroadcastWithHook(b: Broadcast, publicUrl: string, token: string) {
  return { ...presentBroadcast(b, publicUrl), hook_url: hookUrl(publicUrl, token) };
}

/**
 * Credentials are write-only: the response names them, never shows them. `fault` is set when
 * the provider refused the connection itself (e.g. rejected credentials): sending on it has
 * stopped until it is saved again.
 */
export function presentChannelConnection(c: ChannelConnection, publicUrl: string) {
  return {
    id: c.id,
    bot_id: c.bot_id,
    channel: c.channel,
    provider: c.provider,
    base_url: c.base_url,
    rate_limit_per_second: c.rate_limit_per_second,
    effective_rate_limit_per_second: effectiveRatePerSecond(c.provider, c.rate_limit_per_second),
    credential_names: Object.keys(c.credentials).sort(),
    // The web channel's "provider" is Herald's own outbox: nothing calls back.
    callback_url: c.provider === 'web' ? null : `${publicUrl.replace(/\/+$/, '')}/callbacks/${c.id}`,
    fault: c.fault_code ? { code: c.fault_code, message: c.fault_message, at: c.fault_at } : null,
    created_at: c.created_at,
    updated_at: c.updated_at,
  };
}

/**
 * A run as the API shows it, from the counters the delivery stage keeps on the run in the same
 * transaction as each outcome (exact, and no scan of its deliveries). `pending` is what is not
 * final yet (queued, waiting for a retry, or being sent); `handed_off` how many deliveries the
 * dispatch has handed to the channel queues so far. `rate_per_second` is the rate of the last
 * few seconds of outcomes; 0 once none came for a while.
 */
export function presentRun(run: Run, now = new Date()) {
  const done = run.sent + run.failed + run.skipped;
  const activeFor = run.rate_window_at ? (now.getTime() - run.rate_window_at.getTime()) / 1000 : Infinity;
  const rate = activeFor > 2 * RATE_WINDOW_SECONDS ? 0 : (run.rate_per_second ?? (activeFor > 0 ? run.rate_window_done / activeFor : 0));
  return {
    id: run.id,
    broadcast_id: run.broadcast_id,
    status: run.status,
    counts: {
      targeted: run.targeted,
      handed_off: run.handed_off,
      pending: Math.max(0, (run.status === 'dispatching' ? run.handed_off : run.targeted) - done),
      sent: run.sent,
      failed: run.failed,
      skipped: run.skipped,
      delivered: run.delivered,
      read: run.read,
    },
    rate_per_second: run.status === 'dispatching' || run.status === 'delivering' ? Math.round(rate * 10) / 10 : 0,
    error: run.error,
    created_at: run.created_at,
    delivering_at: run.delivering_at,
    completed_at: run.status === 'completed' ? run.finished_at : null,
    finished_at: run.finished_at,
    updated_at: run.updated_at,
  };
}
