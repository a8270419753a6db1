import { randomBytes } from 'node:crypto';
import { credentialsByKey, SecretKeyring, secretKeyId } from '@herald/db';
import { startProcess, testQueuePrefix, type StartedProcess } from '@herald/testing';
import { useDeliveryKit } from './support/delivery-kit';

/**
 * Replacing HERALD_SECRET_KEY without downtime, on the built worker and migrate command
 * (docs/operations.md, Secrets at rest): workers given the new key with the old one as a
 * previous key deliver on connections sealed under the old key, and on plain ones from before
 * any key; `migrate secrets rotate` seals them all under the new key; workers with the new key
 * alone deliver on them after that. A key nobody configured fails the command and changes
 * nothing; `migrate up` with a key seals plain credentials too.
 */
describe('rotating HERALD_SECRET_KEY', () => {
  const kit = useDeliveryKit();
  const [oldKey, newKey, strayKey] = [randomBytes(32), randomBytes(32), randomBytes(32)];
  const b64 = (key: Buffer) => key.toString('base64');

  /** The migrate command with `args` and these keys; its exit code and output. */
  async function migrate(args: string[], keys: Record<string, string>): Promise<{ code: number | null; output: string }> {
    const process: StartedProcess = startProcess(
      'migrate',
      { DATABASE_URL: kit.database.current.url, LOG_LEVEL: 'info', HERALD_SECRET_KEY: '', ...keys },
      args,
    );
    const { code } = await process.exited;
    return { code, output: process.output() };
  }

  async function delivered(prefix: string, broadcastId: string, contacts: number): Promise<void> {
    const runId = await kit.launch(prefix, broadcastId);
    const run = await kit.finished(runId, 20_000);
    expect({ status: run.status, sent: run.sent }).toEqual({ status: 'completed', sent: contacts });
  }

  it('old key as a previous key, secrets rotate, then the new key alone', async () => {
    const prefix = testQueuePrefix();
    const sealedBefore = await kit.audience('custom', 3, null, SecretKeyring.of(oldKey));
    const plainBefore = await kit.audience('custom', 2, null, SecretKeyring.none()); // saved before any key was set
    expect(await credentialsByKey(kit.database.current.db)).toEqual([
      { kid: null, connections: 1 },
      { kid: secretKeyId(oldKey), connections: 1 },
    ]);

    // 1. Every process gets the new key, the old one as a previous key: both connections still send.
    const during = await kit.startWorker(prefix, { HERALD_SECRET_KEY: b64(newKey), HERALD_PREVIOUS_SECRET_KEYS: b64(oldKey) });
    await delivered(prefix, sealedBefore.broadcast.id, 3);
    await delivered(prefix, plainBefore.broadcast.id, 2);

    // 2. The stored credentials, sealed again under the new key (twice: the second finds nothing to do).
    for (let pass = 0; pass < 2; pass++) {
      const rotated = await migrate(['secrets', 'rotate'], { HERALD_SECRET_KEY: b64(newKey), HERALD_PREVIOUS_SECRET_KEYS: b64(oldKey) });
      expect(rotated.code).toBe(0);
      expect(rotated.output).toContain('every channel connection is sealed under the current secret key');
    }
    expect(await credentialsByKey(kit.database.current.db)).toEqual([{ kid: secretKeyId(newKey), connections: 2 }]);
    const status = await migrate(['secrets', 'status'], { HERALD_SECRET_KEY: b64(newKey) });
    expect(status).toEqual({ code: 0, output: expect.stringContaining(`       2  ${secretKeyId(newKey)}  current key\n`) });

    // 3. The old key dropped everywhere: the new one alone opens everything.
    await during.stop('SIGTERM');
    await kit.startWorker(prefix, { HERALD_SECRET_KEY: b64(newKey) });
    await delivered(prefix, sealedBefore.broadcast.id, 3);
    await delivered(prefix, plainBefore.broadcast.id, 2);

    // 4. Run with a key that opens none of them: it says which key is missing, exits 1, changes nothing.
    const stray = await migrate(['secrets', 'rotate'], { HERALD_SECRET_KEY: b64(strayKey) });
    expect(stray.code).toBe(1);
    expect(stray.output).toContain(`"kid":"${secretKeyId(newKey)}"`);
    expect(stray.output).not.toContain(b64(strayKey));
    expect(await credentialsByKey(kit.database.current.db)).toEqual([{ kid: secretKeyId(newKey), connections: 2 }]);

    // 5. Without a key there is nothing to seal with.
    const keyless = await migrate(['secrets', 'rotate'], {});
    expect(keyless.code).toBe(2);
    expect(keyless.output).toContain('secrets rotate seals under HERALD_SECRET_KEY');
  }, 120_000);

  it('migrate up with a key seals credentials stored before it', async () => {
    await kit.audience('custom', 1, null, SecretKeyring.none());
    expect((await migrate(['up'], {})).code).toBe(0); // without a key: left plain
    expect(await credentialsByKey(kit.database.current.db)).toContainEqual({ kid: null, connections: 1 });
    const up = await migrate(['up'], { HERALD_SECRET_KEY: b64(newKey) });
    expect(up.code).toBe(0);
    expect(up.output).toContain('channel credentials sealed under the current secret key');
    expect((await credentialsByKey(kit.database.current.db)).find((k) => k.kid === null)).toBeUndefined();
  }, 60_000);
});
