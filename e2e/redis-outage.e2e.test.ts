import { spawn, type ChildProcess } from 'node:child_process';
import { freePort, startReadyProcess, testQueuePrefix, useTestDatabase, waitFor, type StartedProcess } from '@herald/testing';

/**
 * Redis going away under running processes, as the logs and the exit code show it (issue 13):
 * one line when the outage starts and one when it ends, not one per failed command with its
 * stack; and a worker told to stop while Redis is down exits 0 at once instead of waiting out
 * its shutdown deadline for a fetch loop stuck reconnecting.
 */

describe('Redis down under running processes', () => {
  const database = useTestDatabase();
  let server: ChildProcess | undefined;
  const processes: StartedProcess[] = [];
  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop('SIGKILL')));
    server?.kill('SIGKILL');
  });

  function startRedis(port: number): ChildProcess {
    return spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  }
  async function stopRedis(): Promise<void> {
    const stopping = server!;
    const exited = new Promise((resolve) => stopping.once('exit', resolve));
    stopping.kill('SIGKILL');
    await exited;
  }
  const linesOf = (process: StartedProcess, message: string) =>
    process
      .output()
      .split('\n')
      .filter((line) => line.includes(`"message":"${message}"`))
      .map((line) => JSON.parse(line) as Record<string, unknown>);

  it('logs one line per outage and its end, and a worker stopped during one exits 0 at once', async () => {
    const redisPort = await freePort();
    server = startRedis(redisPort);
    const env = {
      DATABASE_URL: database.current.url,
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      QUEUE_PREFIX: testQueuePrefix(),
      LOG_LEVEL: 'info',
      SHUTDOWN_TIMEOUT_MS: '8000',
    };
    const { process: worker } = await startReadyProcess('worker', env);
    const { process: ingress } = await startReadyProcess('ingress', env);
    processes.push(worker, ingress);

    // 1. An outage of a few seconds, then Redis back on the same port.
    await stopRedis();
    await waitFor(() => linesOf(worker, 'redis unavailable: retrying until it answers').length > 0, { timeoutMs: 10_000, what: 'the outage line' });
    await new Promise((resolve) => setTimeout(resolve, 5_000)); // reconnect attempts pile up meanwhile
    server = startRedis(redisPort);
    await waitFor(() => linesOf(worker, 'redis available again').length > 0, { timeoutMs: 15_000, what: 'the recovery line' });
    await waitFor(() => linesOf(ingress, 'redis available again').length > 0, { timeoutMs: 15_000, what: "the ingress's recovery line" });

    for (const process of [worker, ingress]) {
      expect(linesOf(process, 'redis unavailable: retrying until it answers')).toHaveLength(1);
      const [recovered] = linesOf(process, 'redis available again');
      expect(recovered).toMatchObject({ level: 'info', downMs: expect.any(Number), errorsWhileDown: expect.any(Number) });
      expect(recovered!['downMs']).toBeGreaterThanOrEqual(5_000);
      // Nothing else about it: no error lines, no stacks.
      expect(process.output()).not.toContain('"level":"error"');
      expect(process.output()).not.toContain('"stack"');
    }
    console.log(`worker: ${String(linesOf(worker, 'redis available again')[0]!['errorsWhileDown'])} connection errors folded into 2 lines`);

    // 2. Redis gone again, and the worker told to stop.
    await stopRedis();
    await waitFor(() => linesOf(worker, 'redis unavailable: retrying until it answers').length === 2, { timeoutMs: 10_000, what: 'the second outage line' });
    const stopped = await worker.stop('SIGTERM');
    expect(stopped.code).toBe(0);
    // Its shutdown deadline is 8 s; it used to be spent whole, then exit 1.
    expect(stopped.elapsedMs).toBeLessThan(5_000);
    expect(worker.output()).toContain('"message":"stopped"');
    expect(worker.output()).not.toContain('shutdown did not finish in time');
  }, 90_000);
});
