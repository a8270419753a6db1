import { ItemFailed } from '../hooks/micro-batcher';
import { isolatingBadItems } from './record-callbacks';

/** A write that Postgres would refuse for the batch holding `bad` (a data exception, class 22). */
function writer(bad: string, calls: string[][]) {
  return async (items: string[]) => {
    calls.push(items);
    if (items.includes(bad)) throw Object.assign(new Error('invalid input syntax'), { code: '22007' });
  };
}

describe('isolatingBadItems', () => {
  it('writes each item alone after a data exception, failing only the bad one', async () => {
    const calls: string[][] = [];
    const results = await isolatingBadItems(writer('b', calls))(['a', 'b', 'c']);
    expect(results[0]).toBeUndefined();
    expect(results[1]).toBeInstanceOf(ItemFailed);
    expect(results[2]).toBeUndefined();
    expect(calls).toEqual([['a', 'b', 'c'], ['a'], ['b'], ['c']]);
  });

  it('fails the whole batch for any other error (Postgres down: every provider calls again)', async () => {
    const write = async () => {
      throw Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' });
    };
    await expect(isolatingBadItems(write)(['a', 'b'])).rejects.toThrow('connection refused');
  });
});
