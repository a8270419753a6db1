import { generateHookToken } from '@herald/core';
import {
  createBotRow,
  createBroadcastRow,
  freePort,
  SPEC_EXAMPLE_HOOK_BODY,
  startReadyProcess,
  TEST_REDIS_URL,
  useTestDatabase,
  useTestRedis,
  type StartedProcess,
} from '@herald/testing';
import { runCli } from './testing/run-cli';

/** `herald hook call` against the real ingress process (built), on this file's database and queue prefix. */

describe('herald hook call', () => {
  let ingress: StartedProcess | undefined;
  let port: number;
  // Declared first, so it runs first: the ingress stops before its database is dropped.
  afterAll(() => ingress?.stop());
  const database = useTestDatabase();
  const redis = useTestRedis();
  beforeAll(async () => {
    ({ process: ingress, port } = await startReadyProcess('ingress', {
      DATABASE_URL: database.current.url,
      REDIS_URL: TEST_REDIS_URL,
      QUEUE_PREFIX: redis.current.prefix,
      LOG_LEVEL: 'warn',
    }));
  });

  const hookUrl = (token: string) => `http://127.0.0.1:${port}/hooks/${token}`;
  const triggersOf = (broadcastId: string) =>
    database.current.db.selectFrom('triggers').select(['id', 'status', 'request']).where('broadcast_id', '=', broadcastId).execute();

  it('calls the hook and prints its answer; the trigger is recorded', async () => {
    const bot = await createBotRow(database.current.db);
    const broadcast = await createBroadcastRow(database.current.db, bot.id);

    const plain = await runCli(['hook', 'call', hookUrl(broadcast.hook_token)]);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/^200 OK\n\{\n {2}"status": "scheduled",\n {2}"trigger_id": "[0-9a-f-]{36}",/);

    const json = await runCli(['hook', 'call', hookUrl(broadcast.hook_token), '--data', JSON.stringify(SPEC_EXAMPLE_HOOK_BODY), '--json']);
    expect(json.code).toBe(0);
    const answer = JSON.parse(json.stdout) as { status: number; body: { status: string; trigger_id: string; broadcast_id: string } };
    expect(answer).toMatchObject({ status: 200, body: { status: 'scheduled', broadcast_id: broadcast.id } });

    // The URL from the environment, out of ps.
    expect((await runCli(['hook', 'call'], { HERALD_HOOK_URL: hookUrl(broadcast.hook_token) })).code).toBe(0);

    const triggers = await triggersOf(broadcast.id);
    expect(triggers).toHaveLength(3);
    const called = triggers.find((t) => t.id === answer.body.trigger_id);
    expect(called).toMatchObject({ status: 'pending' });
    expect(JSON.stringify(called!.request)).toContain('favorite_color');
  });

  it('never repeats a hook URL it cannot use (it is a secret)', async () => {
    const secret = 'hooks-secret-0123456789abcdef';
    const notAUrl = await runCli(['hook', 'call', `127.0.0.1/hooks/${secret}`]);
    expect(notAUrl.code).toBe(2);
    expect(`${notAUrl.stdout}${notAUrl.stderr}`).not.toContain(secret);
    expect((await runCli(['hook', 'call'])).stderr).toContain('HERALD_HOOK_URL');
  });

  it('sends the bot token a broadcast not in direct mode needs, and says so when it is missing', async () => {
    const bot = await createBotRow(database.current.db);
    const broadcast = await createBroadcastRow(database.current.db, bot.id, { direct_mode: false });

    const without = await runCli(['hook', 'call', hookUrl(broadcast.hook_token)]);
    expect(without.code).toBe(1);
    expect(without.stdout).toMatch(/^401 Unauthorized\n/);
    expect(without.stderr).toContain("hint: this broadcast is not in direct mode: export the bot's API token as HERALD_BOT_TOKEN");

    // No --token option: an argument shows in ps.
    expect((await runCli(['hook', 'call', hookUrl(broadcast.hook_token), '--token', bot.api_token])).code).toBe(2);
    expect((await runCli(['hook', 'call', hookUrl(broadcast.hook_token)], { HERALD_BOT_TOKEN: bot.api_token })).code).toBe(0);
    expect(await triggersOf(broadcast.id)).toHaveLength(1);
  });

  it('exits 1 on a refusal with the answer on stdout: unknown hook, invalid payload', async () => {
    const unknown = await runCli(['hook', 'call', hookUrl(generateHookToken()), '--json']);
    expect(unknown.code).toBe(1);
    expect(JSON.parse(unknown.stdout)).toEqual({
      status: 404,
      body: { error: { code: 'not_found', message: 'No enabled broadcast has this hook', details: [] } },
    });
    expect(unknown.stderr).toContain('hint: no enabled broadcast has this hook');

    const bot = await createBotRow(database.current.db);
    const broadcast = await createBroadcastRow(database.current.db, bot.id);
    const invalid = await runCli([
      'hook',
      'call',
      hookUrl(broadcast.hook_token),
      '--data',
      '{"audience_filters":"city","audience_criteria":"Sounds like","audience_values":"Rome"}',
    ]);
    expect(invalid.code).toBe(1);
    expect(invalid.stdout).toMatch(/^400 Bad Request\n/);
    expect(invalid.stdout).toContain('"code": "validation_failed"');
    expect(await triggersOf(broadcast.id)).toEqual([]);
  });

  it('exits 3 when no ingress answers', async () => {
    const url = `http://127.0.0.1:${await freePort()}/hooks/${generateHookToken()}`;
    const result = await runCli(['hook', 'call', url]);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('(ECONNREFUSED)\nhint: check the hook URL and that the ingress is running there');
  });
});
