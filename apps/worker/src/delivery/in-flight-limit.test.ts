import { InFlightLimit } from './in-flight-limit';

describe('InFlightLimit', () => {
  it('grants up to what is free, and waits for the minimum asked', async () => {
    const limit = new InFlightLimit(10);
    expect(await limit.acquire(8)).toBe(8);
    expect(limit.inUse).toBe(8);
    let granted: number | undefined;
    void limit.acquire(5, 4).then((n) => (granted = n));
    await Promise.resolve();
    expect(granted).toBeUndefined(); // 2 free, 4 needed
    limit.release(1);
    await Promise.resolve();
    expect(granted).toBeUndefined();
    limit.release(1);
    await Promise.resolve();
    expect(granted).toBe(4);
    expect(limit.inUse).toBe(10);
  });

  it('serves waiters in order and never exceeds its capacity', async () => {
    const limit = new InFlightLimit(3);
    await limit.acquire(3);
    const order: number[] = [];
    const first = limit.acquire(2, 2).then((n) => order.push(n));
    const second = limit.acquire(1).then((n) => order.push(n));
    limit.release(3);
    await Promise.all([first, second]);
    expect(order).toEqual([2, 1]);
    expect(limit.inUse).toBe(3);
    limit.release(10);
    expect(limit.inUse).toBe(0);
  });
});
