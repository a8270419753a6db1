interface Entry<V> {
  expiresAt: number;
  value: Promise<V>;
}

/**
 * Look-ups cached briefly: a hot key costs no database read, and a change still takes effect
 * within `ttlMs`. Misses are cached too (the loader's null), so a scanner cannot turn a public
 * route into a database load generator, and the cache is bounded for the same reason.
 * Concurrent misses share one load; a failed load (database down) is not cached.
 */
export class LoadingCache<V> {
  private readonly entries = new Map<string, Entry<V>>();

  constructor(
    private readonly load: (key: string) => Promise<V>,
    private readonly ttlMs: number,
    private readonly maxEntries: number,
  ) {}

  get(key: string): Promise<V> {
    const now = Date.now();
    const hit = this.entries.get(key);
    if (hit && hit.expiresAt > now) return hit.value;

    const value = this.load(key);
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) this.evictExpiredOrOldest(now);
    this.entries.set(key, { expiresAt: now + this.ttlMs, value });
    value.catch(() => this.entries.delete(key));
    return value;
  }

  private evictExpiredOrOldest(now: number): void {
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
    // Maps iterate in insertion order: the first key is the oldest.
    while (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }
}
