import { tokenDigest } from '@herald/core';
import { findHookBroadcast, type Db, type HookBroadcast } from '@herald/db';
import { LoadingCache } from '../loading-cache';
import { AddressList } from './caller-address';

export interface CachedBroadcast extends HookBroadcast {
  /** `allowed_hosts` compiled; null when empty (any caller). */
  allowList: AddressList | null;
}

/**
 * Hook look-ups by token, cached briefly (LoadingCache): a hot hook then costs no database
 * read, and a disable, update or rotation still takes effect within `ttlMs` (SPEC: within
 * 2 s). Keyed by the token's digest, never by the secret itself.
 */
export class HookBroadcastCache {
  private readonly cache: LoadingCache<CachedBroadcast | null>;

  constructor(db: Db, ttlMs = 1_000, maxEntries = 10_000) {
    this.cache = new LoadingCache((key) => load(db, Buffer.from(key, 'base64')), ttlMs, maxEntries);
  }

  get(token: string): Promise<CachedBroadcast | null> {
    return this.cache.get(tokenDigest(token).toString('base64'));
  }
}

async function load(db: Db, digest: Buffer): Promise<CachedBroadcast | null> {
  const row = await findHookBroadcast(db, digest);
  if (!row) return null;
  return { ...row, allowList: row.allowed_hosts.length ? new AddressList(row.allowed_hosts) : null };
}
