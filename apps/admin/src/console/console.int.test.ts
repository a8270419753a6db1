import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { DeliveryReason, DeliveryStatus } from '@herald/core';
import { upsertContacts, type Db } from '@herald/db';
import { contactUpsert, createBotRow, createBroadcastRow, useTestDatabase } from '@herald/testing';
import { ADMIN_TEST_KEY as KEY, useAdminApp, useAdminAppWithDashboard } from '../testing/admin-app';

/**
 * The console in a real headless Chromium against the real admin app on a real database:
 * pages load clean (no console error, page error, failed or refused request — the strict CSP
 * reports every inline script or style as a console error), show what the API shows, filter,
 * update live, and refuse a browser without the key.
 */

const ARTIFACTS = path.resolve(__dirname, '../../../../.artifacts/console');
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const HOSTILE_NAME = 'Spring sale <img src=x onerror="window.__xss=1"> & "friends"';

describe('the web console in a browser', () => {
  const database = useTestDatabase();
  const admin = useAdminAppWithDashboard(database);
  const withoutDashboard = useAdminApp(database);

  let db: Db;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  beforeAll(async () => {
    db = database.current.db;
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  });
  afterAll(async () => {
    await Promise.all(contexts.map((c) => c.close()));
    await browser?.close();
  });

  /** A page logged in with HTTP Basic (any user name, the key as password), and what went wrong on it. */
  async function openPage(password = KEY) {
    const context = await browser.newContext({ httpCredentials: { username: 'ops', password }, viewport: { width: 1280, height: 900 } });
    contexts.push(context);
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    // ERR_ABORTED is the browser dropping a request of the page it is leaving (the favicon of a
    // page the test navigates away from at once), not a failure of the console.
    page.on('requestfailed', (r) => r.failure()?.errorText !== 'net::ERR_ABORTED' && problems.push(`failed request: ${r.url()} ${r.failure()?.errorText}`));
    page.on('response', (r) => {
      if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
    });
    return { page, problems };
  }

  async function goto(page: Page, pathAndQuery: string) {
    const response = await page.goto(`${admin.url}${pathAndQuery}`);
    expect(response?.status()).toBe(200);
    expect(response?.headers()).toMatchObject({
      'content-security-policy': expect.stringContaining("frame-ancestors 'none'"),
      'x-content-type-options': 'nosniff',
      'cache-control': 'no-store',
    });
    expect(response?.headers()['content-security-policy']).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
    return response!;
  }

  async function api(pathAndQuery: string) {
    const response = await fetch(`${admin.url}${pathAndQuery}`, { headers: { authorization: `Bearer ${KEY}` } });
    expect(response.status).toBe(200);
    return (await response.json()) as any;
  }

  async function screenshot(page: Page, name: string) {
    await mkdir(ARTIFACTS, { recursive: true });
    const file = path.join(ARTIFACTS, `${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    console.log(`console screenshot: ${file}`);
  }

  const cell = (page: Page, scope: string, field: string) => page.locator(`${scope} [data-field="${field}"]`).first().textContent();

  interface DeliverySpec {
    status: DeliveryStatus;
    reason?: DeliveryReason;
    /** Seconds after the run started that the outcome was recorded. */
    at?: number;
  }

  /** A broadcast's run with these deliveries, counted on the run as the worker counts them. */
  async function createRun(
    broadcastId: string,
    botId: string,
    run: { status: 'delivering' | 'completed'; startedSecondsAgo: number; deliveries: DeliverySpec[] },
  ) {
    const started = new Date(Date.now() - run.startedSecondsAgo * 1_000);
    const prefix = `${broadcastId.slice(0, 8)}-${run.startedSecondsAgo}`;
    await upsertContacts(
      db,
      botId,
      run.deliveries.map((_, i) => contactUpsert('CustomChannel', `${prefix}-${i}`)),
    );
    const contacts = await db.selectFrom('contacts').select(['id', 'user_id']).where('bot_id', '=', botId).where('user_id', 'like', `${prefix}-%`).execute();
    const contactOf = new Map(contacts.map((c) => [c.user_id, c.id]));
    const count = (status: DeliveryStatus) => run.deliveries.filter((d) => d.status === status).length;
    const lastAt = Math.max(0, ...run.deliveries.map((d) => d.at ?? 0));
    const row = await db
      .insertInto('runs')
      .values({
        broadcast_id: broadcastId,
        status: run.status,
        targeted: run.deliveries.length,
        handed_off: run.deliveries.length,
        sent: count('sent'),
        failed: count('failed'),
        skipped: count('skipped'),
        // Receipts: as if providers reported every sent one delivered and half of them read.
        delivered: count('sent'),
        read: Math.floor(count('sent') / 2),
        created_at: started,
        delivering_at: new Date(started.getTime() + 500),
        finished_at: run.status === 'completed' ? new Date(started.getTime() + (lastAt + 1) * 1_000) : null,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const deliveries = await db
      .insertInto('deliveries')
      .values(
        run.deliveries.map((d, i) => {
          const at = new Date(started.getTime() + (d.at ?? 0) * 1_000);
          return {
            run_id: row.id,
            contact_id: contactOf.get(`${prefix}-${i}`)!,
            channel: 'CustomChannel' as const,
            status: d.status,
            reason: d.reason ?? null,
            text: `Hello <${i}>`,
            attempts: d.status === 'queued' ? 0 : 1,
            sent_at: d.status === 'sent' ? at : null,
            updated_at: at,
            error_code: d.status === 'failed' ? 'http_400' : null,
            last_error: d.status === 'failed' ? 'Bad request' : null,
          };
        }),
      )
      .returning(['id', 'status', 'reason', 'sent_at', 'updated_at'])
      .execute();
    return { id: row.id, deliveries };
  }

  let bot: Awaited<ReturnType<typeof createBotRow>>;
  let broadcast: { id: string };
  let older: { id: string };
  let finished: Awaited<ReturnType<typeof createRun>>;
  let inProgress: Awaited<ReturnType<typeof createRun>>;
  beforeAll(async () => {
    bot = await createBotRow(db, { name: 'Acme <b>bot</b>' });
    older = await createBroadcastRow(db, bot.id, { name: 'Older broadcast' });
    await db
      .updateTable('broadcasts')
      .set({ created_at: new Date(Date.now() - 86_400_000) })
      .where('id', '=', older.id)
      .execute();
    broadcast = await createBroadcastRow(db, bot.id, { name: HOSTILE_NAME, text: 'Hi {{first_name}} </pre><script>alert(1)</script>' });
    finished = await createRun(broadcast.id, bot.id, {
      status: 'completed',
      startedSecondsAgo: 600,
      deliveries: [
        { status: 'sent', at: 1 },
        { status: 'sent', at: 2 },
        { status: 'sent', at: 14 },
        { status: 'sent', at: 31 },
        { status: 'failed', reason: 'provider_rejected', at: 3 },
        { status: 'failed', reason: 'retries_exhausted', at: 45 },
        { status: 'skipped', reason: 'unreachable', at: 0 },
        { status: 'skipped', reason: 'unreachable', at: 0 },
        { status: 'skipped', reason: 'no_channel_connection', at: 0 },
      ],
    });
    inProgress = await createRun(broadcast.id, bot.id, {
      status: 'delivering',
      startedSecondsAgo: 60,
      deliveries: [
        { status: 'sent', at: 2 },
        { status: 'sent', at: 3 },
        { status: 'failed', reason: 'provider_rejected', at: 4 },
        { status: 'skipped', reason: 'unreachable', at: 0 },
        { status: 'queued' },
        { status: 'queued' },
      ],
    });
  });

  it('refuses a browser without the key, or with a wrong one, with 401 and a Basic challenge', async () => {
    for (const target of ['/console', `/console/broadcasts/${broadcast.id}`, `/console/runs/${finished.id}/progress.json`, '/console/assets/console.js']) {
      const anonymous = await fetch(`${admin.url}${target}`);
      expect([target, anonymous.status]).toEqual([target, 401]);
      expect(anonymous.headers.get('www-authenticate')).toMatch(/^Basic realm="Herald"/);
      expect(anonymous.headers.get('cache-control')).toBe('no-store');
      const wrong = await fetch(`${admin.url}${target}`, { headers: { authorization: `Basic ${Buffer.from(`ops:${KEY}x`).toString('base64')}` } });
      expect([target, wrong.status]).toEqual([target, 401]);
      expect(await wrong.text()).not.toContain(HOSTILE_NAME.slice(0, 11));
    }
    const { page } = await openPage(`${KEY}-wrong`);
    const response = await page.goto(`${admin.url}/console`);
    expect(response?.status()).toBe(401);
    expect(await page.locator('body').textContent()).not.toContain('Older broadcast');
    expect(await page.locator('h1').textContent()).toBe('Log in with any user name and the admin API key as the password');
  });

  it('lists bots and their broadcasts newest first, linked, with the queues dashboard linked', async () => {
    const { page, problems } = await openPage();
    await goto(page, '/console');
    const section = page.locator(`section[data-bot-id="${bot.id}"]`);
    expect(await section.locator('h2').textContent()).toContain('Acme <b>bot</b>');
    expect(await section.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-broadcast-id')))).toEqual([broadcast.id, older.id]);
    expect(await section.locator('tbody tr a').first().getAttribute('href')).toBe(`/console/broadcasts/${broadcast.id}`);
    expect(await page.locator('a[data-link="queues"]').getAttribute('href')).toBe('/ops/queues');

    await section.locator('tbody tr a').first().click();
    await page.waitForURL(`**/console/broadcasts/${broadcast.id}`);
    expect(await page.locator('h1').textContent()).toBe(HOSTILE_NAME);
    expect(problems).toEqual([]);

    // The link is there only where the dashboard is: this admin has no producer.
    const bare = await fetch(`${withoutDashboard.url}/console`, { headers: { authorization: `Bearer ${KEY}` } });
    expect(bare.status).toBe(200);
    const bareHtml = await bare.text();
    expect(bareHtml).toContain('Older broadcast');
    expect(bareHtml).not.toContain('/ops/queues');
  });

  it("shows a broadcast's settings escaped, its runs newest first with progress, and its outcomes over time", async () => {
    const { page, problems } = await openPage();
    await goto(page, `/console/broadcasts/${broadcast.id}`);
    // Escaped everywhere: the hostile name and message are text, no element came of them.
    expect(await page.locator('h1').textContent()).toBe(HOSTILE_NAME);
    expect(await page.locator('[data-field="message"]').textContent()).toBe('Hi {{first_name}} </pre><script>alert(1)</script>');
    expect(await page.locator('main img, main script').count()).toBe(0);
    expect(await page.evaluate('window.__xss')).toBeUndefined();

    const rows = page.locator('table.runs tbody tr');
    expect(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-run-id')))).toEqual([inProgress.id, finished.id]);
    const live = page.locator(`tr[data-run-id="${inProgress.id}"]`);
    expect(await live.getAttribute('data-live-run')).toBe(`/console/runs/${inProgress.id}/progress.json`);
    expect(await page.locator(`tr[data-run-id="${finished.id}"]`).getAttribute('data-live-run')).toBeNull();
    expect(await live.locator('[data-field="label"]').textContent()).toBe('4 of 6 done (66 %)');
    expect(await live.locator('rect[data-bar="sent"]').getAttribute('width')).toBe('33.33');
    expect(await page.locator(`tr[data-run-id="${finished.id}"] [data-field="status"]`).textContent()).toBe('completed');

    // The chart's bars are the deliveries' outcomes counted per bucket, as worked out here from the rows.
    const bucketSeconds = Number(await page.locator('figure.chart svg').getAttribute('data-bucket-seconds'));
    expect(bucketSeconds).toBeGreaterThan(0);
    const expected = new Map<string, { sent: number; failed: number; skipped: number }>();
    for (const d of [...finished.deliveries, ...inProgress.deliveries]) {
      if (d.status !== 'sent' && d.status !== 'failed' && d.status !== 'skipped') continue;
      const at = (d.sent_at ?? d.updated_at).getTime();
      const start = new Date(Math.floor(at / (bucketSeconds * 1_000)) * bucketSeconds * 1_000).toISOString();
      const bucket = expected.get(start) ?? { sent: 0, failed: 0, skipped: 0 };
      bucket[d.status] += 1;
      expected.set(start, bucket);
    }
    const drawn = await page
      .locator('figure.chart g.bucket')
      .evaluateAll((groups) =>
        groups.map((g) => [
          g.getAttribute('data-start'),
          { sent: Number(g.getAttribute('data-sent')), failed: Number(g.getAttribute('data-failed')), skipped: Number(g.getAttribute('data-skipped')) },
        ]),
      );
    expect(new Map(drawn as [string, { sent: number; failed: number; skipped: number }][])).toEqual(expected);
    expect(expected.size).toBeGreaterThan(1);

    await screenshot(page, 'broadcast');
    expect(problems).toEqual([]);
  });

  it('shows the numbers of GET /v1/runs/:id, and links back to its broadcast', async () => {
    const { page, problems } = await openPage();
    for (const run of [finished, inProgress]) {
      await goto(page, `/console/runs/${run.id}`);
      const shown = await api(`/v1/runs/${run.id}`);
      const numbers = Object.fromEntries(
        await Promise.all(
          ['targeted', 'handed_off', 'sent', 'failed', 'skipped', 'delivered', 'read', 'pending'].map(async (field) => [
            field,
            Number(await cell(page, 'section.run', field)),
          ]),
        ),
      );
      expect(numbers).toEqual({
        targeted: shown.counts.targeted,
        handed_off: shown.counts.handed_off,
        sent: shown.counts.sent,
        failed: shown.counts.failed,
        skipped: shown.counts.skipped,
        delivered: shown.counts.delivered,
        read: shown.counts.read,
        pending: shown.counts.pending,
      });
      expect(shown.counts.delivered).toBeGreaterThan(0);
      expect(await cell(page, 'section.run', 'status')).toBe(shown.status);
      expect(await cell(page, 'section.run', 'rate')).toBe(`${shown.rate_per_second} /s`);
      const utc = (iso: string | null) => (iso ? `${iso.slice(0, 19).replace('T', ' ')} UTC` : '—');
      expect(await cell(page, 'section.run', 'created_at')).toBe(utc(shown.created_at));
      expect(await cell(page, 'section.run', 'delivering_at')).toBe(utc(shown.delivering_at));
      expect(await cell(page, 'section.run', 'finished_at')).toBe(utc(shown.finished_at));
      expect(await page.locator('table.deliveries tbody tr').count()).toBe(run.deliveries.length);
      expect(await page.locator('.crumbs a').nth(1).getAttribute('href')).toBe(`/console/broadcasts/${broadcast.id}`);
      expect(await page.locator('a[data-link="queues"]').getAttribute('href')).toBe('/ops/queues');
      if (run === finished) await screenshot(page, 'run');
    }
    expect(problems).toEqual([]);
  });

  it("filters a run's deliveries by status and reason with the form, as the API does, and pages through them", async () => {
    const { page, problems } = await openPage();
    await goto(page, `/console/runs/${finished.id}`);
    const shownRows = () =>
      page
        .locator('table.deliveries tbody tr')
        .evaluateAll((trs) =>
          trs.map((tr) => ({ id: tr.getAttribute('data-delivery-id'), status: tr.getAttribute('data-status'), reason: tr.getAttribute('data-reason') })),
        );
    const filter = async (status: string, reason: string) => {
      await page.selectOption('select[name="status"]', status);
      await page.selectOption('select[name="reason"]', reason);
      await Promise.all([page.waitForURL(/\/console\/runs\//), page.locator('form.filters button[type="submit"]').click()]);
      await page.waitForLoadState('load');
    };

    for (const [status, reason] of [
      ['skipped', 'unreachable'],
      ['failed', ''],
      ['', 'provider_rejected'],
      ['sent', 'unreachable'],
    ] as const) {
      await filter(status, reason);
      const rows = await shownRows();
      const fromApi = await api(`/v1/runs/${finished.id}/deliveries?${new URLSearchParams({ ...(status ? { status } : {}), ...(reason ? { reason } : {}) })}`);
      const wanted = finished.deliveries.filter((d) => (!status || d.status === status) && (!reason || d.reason === reason));
      expect(rows.map((r) => r.id)).toEqual(wanted.map((d) => d.id));
      expect(rows.map((r) => r.id)).toEqual(fromApi.data.map((d: { id: string }) => d.id));
      for (const row of rows) {
        if (status) expect(row.status).toBe(status);
        if (reason) expect(row.reason).toBe(reason);
      }
      expect(await page.locator('select[name="status"]').inputValue()).toBe(status);
      expect(await page.locator('select[name="reason"]').inputValue()).toBe(reason);
      if (wanted.length === 0) expect(await page.locator('[data-deliveries="none"]').count()).toBe(1);
    }
    expect(await shownRows()).toEqual([]);

    // "any" in both selects is no filter at all.
    await filter('', '');
    expect((await shownRows()).map((r) => r.id)).toEqual(finished.deliveries.map((d) => d.id));

    // Pages keep the filter: 9 deliveries, 4 a page.
    await goto(page, `/console/runs/${finished.id}?limit=4`);
    const seen: string[] = [];
    for (let i = 0; i < 5; i++) {
      seen.push(...(await shownRows()).map((r) => r.id!));
      const next = page.locator('a[data-link="next-page"]');
      if ((await next.count()) === 0) break;
      await Promise.all([page.waitForURL(/cursor=/), next.click()]);
    }
    expect(seen).toEqual(finished.deliveries.map((d) => d.id));
    expect(problems).toEqual([]);
  });

  it('updates the progress bar live while a run goes on, and stops polling once it is final', async () => {
    const liveBroadcast = await createBroadcastRow(db, bot.id, { name: 'Live one' });
    const run = await createRun(liveBroadcast.id, bot.id, {
      status: 'delivering',
      startedSecondsAgo: 5,
      deliveries: Array.from({ length: 10 }, (_, i): DeliverySpec => (i < 2 ? { status: 'sent', at: 1 } : { status: 'queued' })),
    });
    const { page: runPage, problems } = await openPage();
    const broadcastPage = await runPage.context().newPage();
    broadcastPage.on('console', (m) => m.type() === 'error' && problems.push(`console error: ${m.text()}`));
    broadcastPage.on('requestfailed', (r) => problems.push(`failed request: ${r.url()}`));
    let polls = 0;
    for (const page of [runPage, broadcastPage]) {
      page.on('request', (r) => {
        if (r.url().endsWith(`/console/runs/${run.id}/progress.json`)) polls++;
      });
    }
    await goto(runPage, `/console/runs/${run.id}`);
    await goto(broadcastPage, `/console/broadcasts/${liveBroadcast.id}`);
    const row = `tr[data-run-id="${run.id}"]`;
    expect(await cell(runPage, 'section.run', 'sent')).toBe('2');
    expect(await broadcastPage.locator(`${row} rect[data-bar="sent"]`).getAttribute('width')).toBe('20');

    // The worker counts outcomes on the run; the pages follow without a reload.
    await db.updateTable('runs').set({ sent: 6, failed: 1 }).where('id', '=', run.id).execute();
    // (Locators, not waitForFunction: that evaluates a string in the page, which the CSP refuses.)
    await runPage.locator('section.run [data-field="sent"]:text-is("6")').waitFor({ timeout: 10_000 });
    await broadcastPage.locator(`${row} rect[data-bar="sent"][width="60"]`).waitFor({ timeout: 10_000 });
    expect(await broadcastPage.locator(`${row} rect[data-bar="failed"]`).getAttribute('x')).toBe('60');
    expect(await broadcastPage.locator(`${row} rect[data-bar="failed"]`).getAttribute('width')).toBe('10');
    expect(await cell(runPage, 'section.run', 'pending')).toBe('3');
    expect(await cell(runPage, 'section.run', 'label')).toBe('7 of 10 done (70 %)');

    await db.updateTable('runs').set({ sent: 8, failed: 1, skipped: 1, status: 'completed', finished_at: new Date() }).where('id', '=', run.id).execute();
    for (const [page, scope] of [
      [runPage, 'section.run'],
      [broadcastPage, row],
    ] as const) {
      await page.locator(`${scope} [data-field="status"]:text-is("completed")`).waitFor({ timeout: 10_000 });
      expect(await page.locator(`${scope} [data-status]`).first().getAttribute('data-status')).toBe('completed');
      expect(await cell(page, scope, 'live')).toBe('');
    }
    expect(await broadcastPage.locator(`${row} [data-field="label"]`).textContent()).toBe('10 of 10 done (100 %)');
    const pollsWhenFinal = polls;
    await new Promise((resolve) => setTimeout(resolve, 3_500));
    expect(polls).toBe(pollsWhenFinal);
    expect(problems).toEqual([]);
  });

  it('answers an unknown id with a 404 page and a malformed id or filter with a 400 page', async () => {
    const { page } = await openPage();
    const unknown = '7b0e4d0c-5f57-4b55-9a3c-0d8a3f1e2b11';
    for (const [target, status, text] of [
      [`/console/broadcasts/${unknown}`, 404, 'No such broadcast'],
      [`/console/runs/${unknown}`, 404, 'No such run'],
      ['/console/nowhere', 404, 'No console page'],
      ['/console/broadcasts/not-an-id', 400, 'not a broadcast id'],
      ['/console/runs/42', 400, 'not a run id'],
      [`/console/runs/${finished.id}?status=lost`, 400, 'status'],
      [`/console/runs/${finished.id}?cursor=garbage`, 400, 'cursor'],
    ] as const) {
      const response = await page.goto(`${admin.url}${target}`);
      expect([target, response?.status()]).toEqual([target, status]);
      expect(response?.headers()['content-type']).toMatch(/^text\/html/);
      expect(response?.headers()['content-security-policy']).toContain("default-src 'none'");
      expect(await page.locator('main').textContent()).toContain(text);
    }
    const json = await fetch(`${admin.url}/console/runs/${unknown}/progress.json`, { headers: { authorization: `Bearer ${KEY}` } });
    expect([json.status, ((await json.json()) as { error: { code: string } }).error.code]).toEqual([404, 'not_found']);
  });
});
