interface Entry<V> {
  expiresAt: number;
  value: Promise<V>;
}

/**
 * Look-ups cached briefly: a hot key costs no database read, and a change still takes effect
 * within `ttlMs`. Concurrent misses share one load; a failed load (database down) is not cached.
 *
 * Bounded, least recently used first out, in O(1) per call (a Map iterates in insertion order,
 * and a hit moves its key to the end). Keys the loader found nothing for (`null`) are kept in a
 * second, separate map of their own bound: a scanner trying random keys evicts only other
 * misses, never the hot entries real callers use, and pays a database read only once per key.
 */
export class LoadingCache<V> {
  private readonly found = new Map<string, Entry<V>>();
  private readonly missing = new Map<string, Entry<V>>();

  constructor(
    private readonly load: (key: string) => Promise<V>,
    private readonly ttlMs: number,
    private readonly maxEntries: number,
    private readonly maxMissing = maxEntries,
  ) {}

  get(key: string): Promise<V> {
    const now = Date.now();
    const hit = this.fresh(this.found, key, now) ?? this.fresh(this.missing, key, now);
    if (hit) return hit.value;

    const entry: Entry<V> = { expiresAt: now + this.ttlMs, value: this.load(key) };
    this.put(this.found, key, entry, this.maxEntries);
    entry.value.then(
      (value) => {
        // Found nothing: from the map of hits to that of misses (if this load is still current).
        if (value === null && this.found.get(key) === entry) {
          this.found.delete(key);
          this.put(this.missing, key, entry, this.maxMissing);
        }
      },
      () => {
        if (this.found.get(key) === entry) this.found.delete(key);
      },
    );
    return entry.value;
  }

  /** Entries held: hits (and loads in flight), then misses. For tests and metrics. */
  size(): { found: number; missing: number } {
    return { found: this.found.size, missing: this.missing.size };
  }

  private fresh(map: Map<string, Entry<V>>, key: string, now: number): Entry<V> | undefined {
    const entry = map.get(key);
    if (!entry) return undefined;
    map.delete(key);
    if (entry.expiresAt <= now) return undefined;
    map.set(key, entry); // now the most recently used
    return entry;
  }

  private put(map: Map<string, Entry<V>>, key: string, entry: Entry<V>, max: number): void {
    map.delete(key);
    // The first key is the least recently used.
    while (map.size >= max) map.delete(map.keys().next().value!);
    map.set(key, entry);
  }
}
