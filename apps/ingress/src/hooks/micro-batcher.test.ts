import { ItemFailed, MicroBatcher } from './micro-batcher';

describe('MicroBatcher', () => {
  it('flushes everything submitted in one turn together, answering each in order', async () => {
    const batches: number[][] = [];
    const batcher = new MicroBatcher<number, number>(async (items) => {
      batches.push(items);
      return items.map((n) => n * 10);
    });
    const results = await Promise.all([1, 2, 3].map((n) => batcher.submit(n)));
    expect(results).toEqual([10, 20, 30]);
    expect(batches).toEqual([[1, 2, 3]]);
    expect(await batcher.submit(4)).toBe(40);
    expect(batches).toEqual([[1, 2, 3], [4]]);
  });

  it('splits at the maximum batch size', async () => {
    const sizes: number[] = [];
    const batcher = new MicroBatcher<number, number>(
      async (items) => {
        sizes.push(items.length);
        return items;
      },
      { maxBatch: 2 },
    );
    await Promise.all([1, 2, 3, 4, 5].map((n) => batcher.submit(n)));
    expect(sizes).toEqual([2, 2, 1]);
  });

  it('fails every item of a failed batch, and carries on with the next', async () => {
    let fail = true;
    const batcher = new MicroBatcher<number, number>(async (items) => {
      if (fail) throw new Error('database down');
      return items;
    });
    const failed = await Promise.allSettled([1, 2].map((n) => batcher.submit(n)));
    expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    fail = false;
    expect(await batcher.submit(3)).toBe(3);
  });

  it('rejects an item that failed on its own and answers the others', async () => {
    const batcher = new MicroBatcher<number, number>(async (items) => items.map((n) => (n === 2 ? new ItemFailed(new Error('bad 2')) : n)));
    const results = await Promise.allSettled([1, 2, 3].map((n) => batcher.submit(n)));
    expect(results).toEqual([
      { status: 'fulfilled', value: 1 },
      { status: 'rejected', reason: new Error('bad 2') },
      { status: 'fulfilled', value: 3 },
    ]);
  });
});

describe('MicroBatcher with maxInFlight', () => {
  /** A flush whose promises the test ends by hand, recording each batch. */
  function heldFlushes() {
    const batches: number[][] = [];
    const release: Array<() => void> = [];
    const flush = (items: number[]) =>
      new Promise<number[]>((resolve) => {
        batches.push(items);
        release.push(() => resolve(items));
      });
    return { batches, release, flush };
  }
  const turn = () => new Promise((resolve) => setImmediate(resolve));

  it('gathers what arrives while the limit is reached into one next flush', async () => {
    const { batches, release, flush } = heldFlushes();
    const batcher = new MicroBatcher<number, number>(flush, { maxInFlight: 1 });
    const first = batcher.submit(1);
    await turn();
    const later = [2, 3, 4].map((n) => batcher.submit(n));
    await turn();
    await turn();
    expect(batches).toEqual([[1]]); // 2–4 wait for the flush in flight
    release[0]!();
    expect(await first).toBe(1);
    await turn();
    expect(batches).toEqual([[1], [2, 3, 4]]);
    release[1]!();
    expect(await Promise.all(later)).toEqual([2, 3, 4]);
  });

  it('starts the next batch when a failed flush ends, and still respects maxBatch', async () => {
    const batches: number[][] = [];
    let fail = true;
    const batcher = new MicroBatcher<number, number>(
      async (items) => {
        batches.push(items);
        await turn();
        if (fail) {
          fail = false;
          throw new Error('database down');
        }
        return items;
      },
      { maxInFlight: 1, maxBatch: 2 },
    );
    const results = await Promise.allSettled([1, 2, 3, 4, 5].map((n) => batcher.submit(n)));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled']);
    expect(batches).toEqual([[1, 2], [3, 4], [5]]);
  });
});
