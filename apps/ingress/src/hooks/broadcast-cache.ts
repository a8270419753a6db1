import { tokenDigest } from '@herald/core';
import { findHookBroadcast, type Db, type HookBroadcast } from '@herald/db';
import { AddressList } from './caller-address';

export interface CachedBroadcast extends HookBroadcast {
  /** `allowed_hosts` compiled; null when empty (any caller). */
  allowList: AddressList | null;
}

interface Entry {
  expiresAt: number;
  value: Promise<CachedBroadcast | null>;
}

/**
 * Hook look-ups by token, cached briefly: a hot hook then costs no database read, and a
 * disable, update or rotation still takes effect within `ttlMs` (SPEC: within 2 s). Unknown
 * tokens are cached too, so a scanner cannot turn the hook into a database load generator;
 * the cache is bounded for the same reason. Concurrent misses share one query.
 */
export class HookBroadcastCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly db: Db,
    private readonly ttlMs = 1_000,
    private readonly maxEntries = 10_000,
  ) {}

  get(token: string): Promise<CachedBroadcast | null> {
    const digest = tokenDigest(token);
    const key = digest.toString('base64');
    const now = Date.now();
    const hit = this.entries.get(key);
    if (hit && hit.expiresAt > now) return hit.value;

    const value = this.load(digest);
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) this.evictExpiredOrOldest(now);
    this.entries.set(key, { expiresAt: now + this.ttlMs, value });
    // A failed load (database down) must not be cached.
    value.catch(() => this.entries.delete(key));
    return value;
  }

  private async load(digest: Buffer): Promise<CachedBroadcast | null> {
    const row = await findHookBroadcast(this.db, digest);
    if (!row) return null;
    return { ...row, allowList: row.allowed_hosts.length ? new AddressList(row.allowed_hosts) : null };
  }

  private evictExpiredOrOldest(now: number): void {
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
    // Maps iterate in insertion order: the first key is the oldest.
    while (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }
}
