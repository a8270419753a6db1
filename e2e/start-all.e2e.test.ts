import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { freePort, REPO_ROOT, testQueuePrefix, TEST_REDIS_URL, useTestDatabase, waitFor } from '@herald/testing';

/** What `pnpm start` runs after building: migrations, then the three processes together. */
describe('scripts/start-all.mjs (pnpm start)', () => {
  const database = useTestDatabase({ migrated: false });

  it('migrates an empty database, brings all three processes to ready, and stops them with exit 0', async () => {
    const ports = { INGRESS_PORT: await freePort(), ADMIN_PORT: await freePort(), WORKER_PORT: await freePort() };
    const child = spawn(process.execPath, [join(REPO_ROOT, 'scripts', 'start-all.mjs')], {
      env: {
        PATH: process.env['PATH'] ?? '',
        DATABASE_URL: database.current.url,
        REDIS_URL: TEST_REDIS_URL,
        QUEUE_PREFIX: testQueuePrefix(),
        HOST: '127.0.0.1',
        ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

    try {
      for (const port of Object.values(ports)) {
        await waitFor(
          async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200,
          { timeoutMs: 20_000, what: `/readyz on ${port}\n${output}` },
        );
      }
      expect(output).toContain('"message":"migrations applied"');
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(output.match(/"message":"stopped"/g)).toHaveLength(3);
  });
});
