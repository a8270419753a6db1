import { effectiveRatePerSecond } from '@herald/core';
import type { Broadcast, ChannelConnection } from '@herald/db';

/** Response shapes of the admin API: snake_case, secrets never echoed back. */

export function hookUrl(publicUrl: string, token: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/hooks/${token}`;
}

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
    hook_url: hookUrl(publicUrl, b.hook_token),
    hook_rotated_at: b.hook_rotated_at,
    created_at: b.created_at,
    updated_at: b.updated_at,
  };
}

/**
 * Credentials are write-only: the response names them, never shows them. `fault` is set when
 * the provider refused the connection itself (e.g. rejected credentials): sending on it has
 * stopped until it is saved again.
 */
export function presentChannelConnection(c: ChannelConnection) {
  return {
    bot_id: c.bot_id,
    channel: c.channel,
    provider: c.provider,
    base_url: c.base_url,
    rate_limit_per_second: c.rate_limit_per_second,
    effective_rate_limit_per_second: effectiveRatePerSecond(c.provider, c.rate_limit_per_second),
    credential_names: Object.keys(c.credentials).sort(),
    fault: c.fault_code ? { code: c.fault_code, message: c.fault_message, at: c.fault_at } : null,
    created_at: c.created_at,
    updated_at: c.updated_at,
  };
}
