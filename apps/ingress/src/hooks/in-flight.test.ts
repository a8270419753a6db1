import { InFlightCalls } from './in-flight';

describe('InFlightCalls', () => {
  it('is drained at once when nothing is being handled', async () => {
    await expect(new InFlightCalls().drained()).resolves.toBeUndefined();
  });

  it('drains only after every tracked call has ended, failed ones included', async () => {
    const inFlight = new InFlightCalls();
    const ends: Array<() => void> = [];
    const call = (fail: boolean) =>
      inFlight.track(() => new Promise<void>((resolve, reject) => ends.push(() => (fail ? reject(new Error('refused')) : resolve()))));
    const ok = call(false);
    const failing = call(true).catch((error: Error) => error.message);

    let drained = false;
    const draining = inFlight.drained().then(() => (drained = true));
    ends[0]!();
    await ok;
    await Promise.resolve();
    expect(drained).toBe(false);

    ends[1]!();
    expect(await failing).toBe('refused');
    await draining;
    expect(drained).toBe(true);
  });
});
