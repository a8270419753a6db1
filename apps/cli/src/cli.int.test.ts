import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { claimDeliveries, finishDeliveries, upsertContacts, type DeliveryOutcome, type Db } from '@herald/db';
import { contactUpsert, createBotRow, createBroadcastRow, freePort, useTestDatabase, waitFor } from '@herald/testing';
import { ADMIN_TEST_KEY as KEY, useAdminApp } from '../../admin/src/testing/admin-app';
import { runCli, startCli } from './testing/run-cli';

/**
 * The built `herald` as a user runs it — a child process, stdout and stderr pipes — against the
 * real admin app on loopback over this file's own database.
 */

describe('herald CLI against the admin API', () => {
  const database = useTestDatabase();
  const admin = useAdminApp(database);
  let db: Db;
  let dir: string;
  beforeAll(() => {
    db = database.current.db;
    dir = mkdtempSync(join(tmpdir(), 'herald-cli-test-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** What the CLI reads from the environment: this admin, this key; a progress line per chunk. */
  const env = (extra: Record<string, string> = {}) => ({ HERALD_ADMIN_URL: admin.url, ADMIN_API_KEY: KEY, HERALD_PROGRESS_INTERVAL_MS: '0', ...extra });
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const contactsOf = (botId: string) => db.selectFrom('contacts').selectAll().where('bot_id', '=', botId).orderBy('id').execute();

  describe('contacts import', () => {
    it('streams NDJSON with progress lines on stderr and prints the summary; every row is in the database', async () => {
      const bot = await createBotRow(db);
      const rows = 20_000; // ~1.4 MB: several chunks, so several progress lines
      const lines = Array.from({ length: rows }, (_, i) =>
        JSON.stringify({ user_id: `u${i}`, bot_channel: 'telegram', first_name: `Name ${i}`, variables: { n: i } }),
      );
      const path = file('contacts.ndjson', `${lines.join('\n')}\n`);

      const result = await runCli(['contacts', 'import', path, '--bot', bot.id], env());
      expect(result.stderr).not.toMatch(/herald:/);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^imported 20,000 rows in \d+\.\d s \([\d,]+ rows\/s\): 20,000 created, 0 updated\n$/);

      const progress = [...result.stderr.matchAll(/^import: (\d+)%, ([\d,]+) rows, ([\d,]+) rows\/s, .* of 1\.\d MB, ETA \S+$/gm)];
      expect(progress.length).toBeGreaterThanOrEqual(3);
      const percents = progress.map((m) => Number(m[1]));
      const counted = progress.map((m) => Number(m[2]!.replace(/,/g, '')));
      expect(percents).toEqual([...percents].sort((a, b) => a - b));
      expect(counted).toEqual([...counted].sort((a, b) => a - b));
      expect(percents.at(-1)).toBe(100);
      expect(counted.at(-1)).toBe(rows);
      expect(result.stderr).toContain('all sent; the server is committing the import…');

      const contacts = await contactsOf(bot.id);
      expect(contacts).toHaveLength(rows);
      expect(contacts[rows - 1]).toMatchObject({ user_id: 'u19999', bot_channel: 'TelegramChannel', first_name: 'Name 19999', variables: { n: 19_999 } });
    });

    it('streams CSV (extra columns are variables; a contact seen again is updated) and with --json prints only the answer on stdout', async () => {
      const bot = await createBotRow(db);
      await upsertContacts(db, bot.id, [contactUpsert('TelegramChannel', 't1', { first_name: 'Ann', variables: { tier: 'gold' } })]);
      const path = file('contacts.csv', 'bot_channel,user_id,first_name,city\ntelegram,t1,,Milan\ntelegram,t2,"Smith, Bo",\n');

      const result = await runCli(['--json', 'contacts', 'import', path, '--bot', bot.id], env());
      expect(result.code).toBe(0);
      expect(JSON.parse(result.stdout)).toEqual({ rows: 2, created: 1, updated: 1 });
      expect(result.stderr).toMatch(/^import: 100%, 2 rows, /m); // progress still on stderr
      const [ann, bo] = await contactsOf(bot.id);
      expect(ann).toMatchObject({ user_id: 't1', first_name: 'Ann', variables: { tier: 'gold', city: 'Milan' } });
      expect(bo).toMatchObject({ user_id: 't2', first_name: 'Smith, Bo', variables: {} });
    });

    it('reads stdin with --format, and --quiet leaves stderr empty', async () => {
      const bot = await createBotRow(db);
      const result = await runCli(['contacts', 'import', '-', '--format', 'ndjson', '--bot', bot.id, '--quiet'], env(), {
        stdin: '{"user_id":"s1","bot_channel":"web"}\n{"user_id":"s2","bot_channel":"web"}',
      });
      expect(result).toMatchObject({ code: 0, stderr: '' });
      expect(result.stdout).toMatch(/^imported 2 rows .*: 2 created, 0 updated\n$/);
      expect((await contactsOf(bot.id)).map((c) => c.user_id)).toEqual(['s1', 's2']);
    });

    it('reports bad lines with exit 1 and saves nothing; with --json the details are on stdout', async () => {
      const bot = await createBotRow(db);
      const lines = Array.from({ length: 50 }, (_, i) => JSON.stringify({ user_id: `u${i}`, bot_channel: 'telegram' }));
      lines[36] = JSON.stringify({ user_id: 'bad', bot_channel: 'carrier-pigeon' });
      lines[41] = '{not json';
      const path = file('bad.ndjson', lines.join('\n'));

      const result = await runCli(['contacts', 'import', path, '--bot', bot.id], env());
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain('herald: The import has 2 problems; nothing was saved (400 validation_failed)\n  line 37.bot_channel: ');
      expect(result.stderr).toMatch(/^ {2}line 42: is not JSON/m);
      expect(result.stderr).toContain('hint: fix the lines listed and import the whole file again: nothing was saved');

      const json = await runCli(['contacts', 'import', path, '--bot', bot.id, '--json'], env());
      expect(json.code).toBe(1);
      const { error } = JSON.parse(json.stdout) as { error: { status: number; code: string; details: { path: string }[] } };
      expect(error).toMatchObject({ status: 400, code: 'validation_failed' });
      expect(error.details.map((d) => d.path)).toEqual(['line 37.bot_channel', 'line 42']);
      expect(await contactsOf(bot.id)).toEqual([]);
    });

    it('with a wrong or missing key exits 1 and says to check ADMIN_API_KEY', async () => {
      const bot = await createBotRow(db);
      const path = file('one.ndjson', '{"user_id":"k","bot_channel":"web"}\n');
      const wrong = await runCli(['contacts', 'import', path, '--bot', bot.id], env({ ADMIN_API_KEY: 'not-the-key-0123456789' }));
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toMatch(/\(401 unauthorized\)\nhint: check ADMIN_API_KEY: the server at http:\/\/127\.0\.0\.1:\d+ does not accept it\n$/);
      const missing = await runCli(['broadcasts', 'list', '--bot', bot.id], { HERALD_ADMIN_URL: admin.url });
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain("hint: set ADMIN_API_KEY to the server's admin API key");
      expect(await contactsOf(bot.id)).toEqual([]);
    });

    it('names an unknown bot (404) with exit 1', async () => {
      const path = file('one-more.ndjson', '{"user_id":"k","bot_channel":"web"}\n');
      const id = randomUUID();
      const result = await runCli(['contacts', 'import', path, '--bot', id], env());
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`herald: No such bot (404 not_found)\nhint: check the bot id: this server has no bot ${id}`);
    });
  });

  describe('exit codes without an answer', () => {
    it.each([
      [[], 'Usage: herald <command>'],
      [['launch', 'rockets'], 'unknown command "launch rockets"'],
      [['contacts'], '"contacts" is not a command'],
      [['contacts', 'import', '--bot', '0b6c9f5e-8d1a-4c3e-9f2b-5a7d1e0c4b21'], 'missing FILE'],
      [['contacts', 'import', 'x.ndjson'], '--bot is required'],
      [['contacts', 'import', 'x.ndjson', '--bot', '42'], '"42" is not a bot id'],
      [['contacts', 'import', 'x.txt', '--bot', '0b6c9f5e-8d1a-4c3e-9f2b-5a7d1e0c4b21'], 'cannot tell the format of x.txt'],
      [['contacts', 'import', '/nonexistent/x.csv', '--bot', '0b6c9f5e-8d1a-4c3e-9f2b-5a7d1e0c4b21'], 'cannot read /nonexistent/x.csv: no such file'],
      [['broadcasts', 'list', '--bot', '0b6c9f5e-8d1a-4c3e-9f2b-5a7d1e0c4b21', '--limit', '501'], '--limit is 501: expected an integer from 1 to 500'],
      [['broadcasts', 'show'], 'missing ID'],
      [['broadcasts', 'show', '0b6c9f5e-8d1a-4c3e-9f2b-5a7d1e0c4b21', '--colour'], "Unknown option '--colour'"],
      [['runs', 'watch', '0b6c9f5e-8d1a-4c3e-9f2b-5a7d1e0c4b21', '--interval', '5'], '--interval is 5'],
      [['hook', 'call', 'http://127.0.0.1:1/hooks/x', '--data', '{nope'], '--data is not JSON'],
      [['hook', 'call', 'ftp://example.com/hooks/x'], 'the hook URL given is not http(s) (ftp:)'],
    ])('%j is a usage error (exit 2), nothing sent', async (args, message) => {
      // A closed port: had anything been sent, the exit code would be 3.
      const result = await runCli(args, { HERALD_ADMIN_URL: `http://127.0.0.1:${await freePort()}` });
      expect(result.stderr).toContain(message);
      expect(result.code).toBe(2);
    });

    it('a HERALD_ADMIN_URL that is not a URL is a usage error too, reported as JSON with --json', async () => {
      const result = await runCli(['broadcasts', 'show', '0b6c9f5e-8d1a-4c3e-9f2b-5a7d1e0c4b21', '--json'], { HERALD_ADMIN_URL: 'admin:3001' });
      expect(result.code).toBe(2);
      expect(JSON.parse(result.stdout)).toEqual({
        error: {
          code: 'usage',
          message: 'HERALD_ADMIN_URL is not an http(s) URL: admin:3001',
          details: [],
          hint: "set it to the admin API's address, e.g. http://127.0.0.1:3001",
        },
      });
    });

    it('--help is not an error: exit 0, the help on stdout', async () => {
      const result = await runCli(['runs', 'watch', '--help']);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^Usage: herald runs watch RUN_ID \[--interval MS\]/);
      expect(result.stderr).toBe('');
    });

    it('a server that cannot be reached is exit 3, with a hint naming HERALD_ADMIN_URL', async () => {
      const url = `http://127.0.0.1:${await freePort()}`;
      const result = await runCli(['broadcasts', 'show', '0b6c9f5e-8d1a-4c3e-9f2b-5a7d1e0c4b21'], { HERALD_ADMIN_URL: url });
      expect(result.code).toBe(3);
      expect(result.stderr).toBe(
        `herald: cannot reach ${url} (ECONNREFUSED)\nhint: check HERALD_ADMIN_URL (now ${url}/) and that the admin API is running there\n`,
      );
      const path = file('unreached.csv', 'bot_channel,user_id\nweb,1\n');
      const upload = await runCli(['contacts', 'import', path, '--bot', '0b6c9f5e-8d1a-4c3e-9f2b-5a7d1e0c4b21'], { HERALD_ADMIN_URL: url });
      expect(upload.code).toBe(3);
      expect(upload.stderr).toContain(`herald: cannot reach ${url} (ECONNREFUSED)`);
    });
  });

  describe('broadcasts', () => {
    it("lists a bot's broadcasts newest first, a page at a time or --all", async () => {
      const bot = await createBotRow(db);
      const made = [];
      for (const name of ['First', 'Second', 'Third']) made.push(await createBroadcastRow(db, bot.id, { name }));
      const [first, second, third] = made.map((b) => b.id);

      const page = await runCli(['broadcasts', 'list', '--bot', bot.id, '--limit', '2'], env());
      expect(page.code).toBe(0);
      const rows = page.stdout.trimEnd().split('\n');
      expect(rows[0]).toMatch(/^ID +NAME +ENABLED +DELAY +CREATED$/);
      expect(rows.slice(1).map((r) => r.split(/ +/).slice(0, 4))).toEqual([
        [third, 'Third', 'yes', '10000'],
        [second, 'Second', 'yes', '10000'],
      ]);
      const cursor = /add --cursor (\S+) for the next page/.exec(page.stderr)?.[1];
      expect(cursor).toBeDefined();
      const next = await runCli(['broadcasts', 'list', '--bot', bot.id, '--limit', '2', '--cursor', cursor!, '--json'], env());
      expect(JSON.parse(next.stdout)).toMatchObject({ data: [{ id: first, name: 'First' }], next_cursor: null });

      const all = await runCli(['broadcasts', 'list', '--bot', bot.id, '--limit', '1', '--all', '--json'], env());
      expect(all.code).toBe(0);
      const listed = JSON.parse(all.stdout) as { data: { id: string; hook_url?: string; hook_url_hint: string }[]; next_cursor: null };
      expect(listed.data.map((b) => b.id)).toEqual([third, second, first]);
      expect(listed.next_cursor).toBeNull();
      // The URL is a secret shown once, by create and rotate: lists show how it ends.
      expect(listed.data[0]!.hook_url).toBeUndefined();
      expect(listed.data[0]!.hook_url_hint).toBe(`http://localhost:3000/hooks/…${made[2]!.hook_token.slice(-4)}`);
    });

    it('shows one broadcast with the end of its hook URL, never the URL; an unknown one is exit 1', async () => {
      const bot = await createBotRow(db);
      const broadcast = await createBroadcastRow(db, bot.id, { name: 'Order update', text: 'Hi {{first_name}}', delay_ms: 2_000, direct_mode: false });
      const shown = await runCli(['broadcasts', 'show', broadcast.id], env());
      expect(shown.code).toBe(0);
      expect(shown.stdout).toContain(`name                  Order update\n`);
      expect(shown.stdout).toContain('message               "Hi {{first_name}}"\n');
      expect(shown.stdout).toContain('audience              every contact of the bot\n');
      expect(shown.stdout).toContain("direct_mode           no (calls need the bot's API token)\n");
      expect(shown.stdout).toContain(`hook_url_hint         http://localhost:3000/hooks/…${broadcast.hook_token.slice(-4)} (the URL is shown whole once`);
      expect(shown.stdout).not.toContain(broadcast.hook_token);
      const json = await runCli(['broadcasts', 'show', broadcast.id, '--json'], env());
      expect(JSON.parse(json.stdout)).toMatchObject({ id: broadcast.id, bot_id: bot.id, delay_ms: 2_000, message: { text: 'Hi {{first_name}}' } });

      const missing = await runCli(['broadcasts', 'show', randomUUID()], env());
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/^herald: No such broadcast \(404 not_found\)\nhint: check the broadcast id/);
    });
  });

  describe('runs watch', () => {
    /** A run in delivery with 5 queued web deliveries, as the dispatch leaves one. */
    async function runInDelivery() {
      const bot = await createBotRow(db);
      const broadcast = await createBroadcastRow(db, bot.id);
      await upsertContacts(
        db,
        bot.id,
        [0, 1, 2, 3, 4].map((i) => contactUpsert('WebChannel', `w${i}`)),
      );
      const contacts = await db.selectFrom('contacts').select('id').where('bot_id', '=', bot.id).orderBy('id').execute();
      const run = await db
        .insertInto('runs')
        .values({ broadcast_id: broadcast.id, status: 'delivering', targeted: 5, handed_off: 5 })
        .returningAll()
        .executeTakeFirstOrThrow();
      const deliveries = await db
        .insertInto('deliveries')
        .values(contacts.map((c) => ({ run_id: run.id, contact_id: c.id, channel: 'WebChannel' as const, status: 'queued' as const })))
        .returning('id')
        .execute();
      return { broadcast, run, range: { runId: run.id, channel: 'WebChannel' as const, firstId: deliveries[0]!.id, lastId: deliveries.at(-1)!.id } };
    }

    /** Claims `statuses.length` deliveries and records those outcomes, as a delivery worker does. */
    async function deliver(range: Awaited<ReturnType<typeof runInDelivery>>['range'], statuses: DeliveryOutcome['status'][]) {
      const claimed = await claimDeliveries(db, { ...range, connectionId: randomUUID(), limit: statuses.length, leaseMs: 60_000 });
      expect(claimed).toHaveLength(statuses.length);
      const outcomes = claimed.map((d, i): DeliveryOutcome => ({
        id: d.id,
        claim_id: d.claim_id,
        status: statuses[i]!,
        reason: statuses[i] === 'sent' ? null : 'provider_rejected',
        error_code: null,
        last_error: null,
        provider_message_id: null,
        next_attempt_at: null,
        text: 'hi',
      }));
      await finishDeliveries(db, { runId: range.runId, outcomes });
    }

    it('follows a run as its deliveries are recorded and exits 0 when it completes', async () => {
      const { run, range } = await runInDelivery();
      const watch = startCli(['runs', 'watch', run.id, '--interval', '100'], env());
      await waitFor(() => watch.stderr().includes('run delivering: 0 of 5 done (0 sent, 0 failed, 0 skipped)'), {
        timeoutMs: 10_000,
        what: 'the first progress line',
      });
      await deliver(range, ['sent', 'sent', 'sent']);
      await waitFor(() => /run delivering: 3 of 5 done \(3 sent, 0 failed, 0 skipped\)/.test(watch.stderr()), {
        timeoutMs: 10_000,
        what: 'the sent deliveries to show',
      });
      expect(watch.child.exitCode).toBeNull(); // still watching
      await deliver(range, ['sent', 'failed']);

      const result = await watch.done;
      expect(result.code).toBe(0);
      expect(result.stderr).toMatch(/^run completed: 5 of 5 done \(4 sent, 1 failed, 0 skipped\)/m);
      expect(result.stdout).toMatch(new RegExp(`^run ${run.id} completed in \\d+\\.\\d s: 5 targeted, 4 sent, 1 failed, 0 skipped\\n$`));
    });

    it('exits 1 when the run is cancelled while watched, and --json prints the final run', async () => {
      const { broadcast, run } = await runInDelivery();
      const watch = startCli(['runs', 'watch', run.id, '--interval', '100', '--json'], env());
      await waitFor(() => watch.stderr().includes('run delivering: 0 of 5 done'), { timeoutMs: 10_000, what: 'the first progress line' });
      const cancel = await fetch(`${admin.url}/v1/broadcasts/${broadcast.id}/cancel`, { method: 'POST', headers: { authorization: `Bearer ${KEY}` } });
      expect(cancel.status).toBe(200);

      const result = await watch.done;
      expect(result.code).toBe(1);
      expect(JSON.parse(result.stdout)).toMatchObject({ id: run.id, status: 'cancelled', counts: { targeted: 5, skipped: 5, sent: 0 } });
      expect(result.stderr).toContain('herald: the run ended cancelled');
    });

    it('exits 1 for a failed run, 0 for one already completed, 1 for an unknown run', async () => {
      const { run } = await runInDelivery();
      await db.updateTable('runs').set({ status: 'failed', error: 'audience statement timed out', finished_at: new Date() }).where('id', '=', run.id).execute();
      const failed = await runCli(['runs', 'watch', run.id], env());
      expect(failed.code).toBe(1);
      expect(failed.stdout).toMatch(
        new RegExp(`^run ${run.id} failed in [\\d.]+ s: 5 targeted, 0 sent, 0 failed, 0 skipped; error: audience statement timed out\\n$`),
      );

      const { run: done } = await runInDelivery();
      await db.updateTable('runs').set({ status: 'completed', sent: 5, finished_at: new Date() }).where('id', '=', done.id).execute();
      expect((await runCli(['runs', 'watch', done.id, '--quiet'], env())).code).toBe(0);

      const unknown = await runCli(['runs', 'watch', randomUUID()], env());
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toContain('No such run (404 not_found)');
    });
  });
});
