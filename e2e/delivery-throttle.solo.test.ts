import { fakeAnswers, testQueuePrefix } from '@herald/testing';
import { useDeliveryKit } from './support/delivery-kit';

/**
 * The per-connection throttle shared by real worker processes (SPEC §4), measured where a
 * provider would measure it: at the receiver. Timing assertions, so this file runs alone
 * (`.solo.test.ts`: the second pass of `pnpm test`).
 */
describe('one connection, three worker processes', () => {
  const kit = useDeliveryKit();

  it('holds them to the connection rate: at most rate + 2 in any second, 1,000 at 50/s in 20 s -10%/+15%', async () => {
    const prefix = testQueuePrefix();
    const env = { DELIVERY_CHUNK_SIZE: '50' }; // 20 chunks: every worker gets some
    await Promise.all([kit.startWorker(prefix, env), kit.startWorker(prefix, env), kit.startWorker(prefix, env)]);
    const { broadcast } = await kit.audience('telegram', 1_000, 50);
    const run = await kit.finished(await kit.launch(prefix, broadcast.id), 60_000);

    expect(run).toMatchObject({ status: 'completed', sent: 1_000, failed: 0, skipped: 0 });
    const times = kit.fake
      .requestsOf('telegram')
      .map((r) => r.receivedAt)
      .sort((a, b) => a - b);
    expect(times).toHaveLength(1_000);
    let busiest = 0;
    for (let i = 0, j = 0; i < times.length; i++) {
      while (times[i]! - times[j]! >= 1_000) j++;
      busiest = Math.max(busiest, i - j + 1);
    }
    const seconds = (times[times.length - 1]! - times[0]!) / 1_000;
    console.log(`throttle: 1,000 sends at 50/s by 3 workers in ${seconds.toFixed(2)} s, busiest second ${busiest}`);
    expect(busiest).toBeLessThanOrEqual(52);
    expect(seconds).toBeGreaterThanOrEqual(18);
    // The rate itself is the two bounds above. This one only catches a throttle that stalls
    // (a lost wake-up, a serialised claim): 21.25–21.6 s in earlier runs, once 22.05 s on a
    // slower day, when the bound was 22 s; the pace is pnpm bench:deliver's to measure.
    expect(seconds).toBeLessThanOrEqual(23);
  }, 90_000);

  it('pauses the connection for every worker for the Retry-After of a 429', async () => {
    const prefix = testQueuePrefix();
    const env = { DELIVERY_CHUNK_SIZE: '10' };
    await Promise.all([kit.startWorker(prefix, env), kit.startWorker(prefix, env), kit.startWorker(prefix, env)]);
    const { broadcast } = await kit.audience('custom', 60, 20);
    kit.fake.script('custom', fakeAnswers.rateLimit(3));
    const run = await kit.finished(await kit.launch(prefix, broadcast.id), 30_000);

    expect(run).toMatchObject({ status: 'completed', sent: 60 });
    const requests = kit.fake.requestsOf('custom');
    const limited = requests.find((r) => r.answeredStatus === 429)!;
    const gaps = requests.filter((r) => r.receivedAt > limited.receivedAt).map((r) => r.receivedAt - limited.receivedAt);
    // Requests already in flight when the 429 came back arrive within a few ms of it; none is
    // made after that until the pause is over.
    console.log(`429 Retry-After 3: next request ${Math.min(...gaps.filter((gap) => gap > 100))} ms later`);
    expect(gaps.filter((gap) => gap > 100 && gap < 3_000)).toEqual([]);
  }, 60_000);
});
