import { LoadingCache } from './loading-cache';

/** A loader over a fixed table that counts its calls: `null` for keys it does not have. */
function table(rows: Record<string, string>) {
  const loads: string[] = [];
  const load = async (key: string) => {
    loads.push(key);
    return rows[key] ?? null;
  };
  return { load, loads };
}

describe('LoadingCache', () => {
  it('loads a key once while fresh, and shares one load between concurrent misses', async () => {
    const { load, loads } = table({ a: 'A' });
    const cache = new LoadingCache(load, 60_000, 10);
    expect(await Promise.all([cache.get('a'), cache.get('a')])).toEqual(['A', 'A']);
    expect(await cache.get('a')).toBe('A');
    expect(loads).toEqual(['a']);
  });

  it('evicts the least recently used, so a hot key stays', async () => {
    const { load, loads } = table({ a: 'A', b: 'B', c: 'C', d: 'D' });
    const cache = new LoadingCache(load, 60_000, 3);
    for (const key of ['a', 'b', 'c']) await cache.get(key);
    await cache.get('a'); // a is now the most recently used; b the least
    await cache.get('d'); // evicts b
    loads.length = 0;
    for (const key of ['a', 'c', 'd']) await cache.get(key);
    expect(loads).toEqual([]);
    await cache.get('b');
    expect(loads).toEqual(['b']);
  });

  it('keeps misses apart: a flood of unknown keys never evicts a known one, and is bounded', async () => {
    const { load, loads } = table({ hot: 'H' });
    const cache = new LoadingCache(load, 60_000, 2, 100);
    await cache.get('hot');
    for (let i = 0; i < 10_000; i++) expect(await cache.get(`random-${i}`)).toBeNull();
    expect(cache.size()).toEqual({ found: 1, missing: 100 });
    loads.length = 0;
    expect(await cache.get('hot')).toBe('H');
    expect(await cache.get('random-9999')).toBeNull(); // a recent miss: no second read
    expect(loads).toEqual([]);
  });

  it('loads again once the entry expired, and never caches a failed load', async () => {
    let fail = true;
    let calls = 0;
    const cache = new LoadingCache(
      async () => {
        calls++;
        if (fail) throw new Error('database down');
        return 'V';
      },
      20,
      10,
    );
    await expect(cache.get('k')).rejects.toThrow('database down');
    fail = false;
    expect(await cache.get('k')).toBe('V');
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(await cache.get('k')).toBe('V');
    expect(calls).toBe(3);
  });
});
