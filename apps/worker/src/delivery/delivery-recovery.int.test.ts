import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { findRun, upsertChannelConnection, upsertContacts, type Db } from '@herald/db';
import { contactUpsert, createBotRow, createBroadcastRow, TEST_SECRETS, useFakeProviders, waitFor } from '@herald/testing';
import { useInProcessWorkers } from '../testing/in-process-workers';

/**
 * What the reconciler does for delivery (SPEC §4, §7): claims left by a dead worker, and runs
 * whose chunk jobs are gone. Each test builds the state a crash or a lost Redis leaves behind
 * directly in Postgres, with no job in Redis, and only the reconciler can get it moving.
 */
const EXPIRED_CLAIM = '00000000-0000-4000-8000-00000000dead';
const LIVE_CLAIM = '00000000-0000-4000-8000-0000000011fe';

describe('the reconciler and delivery', () => {
  const running = useInProcessWorkers({ concurrency: 4, reconcileEveryMs: 300, ctx: { deliveryStalledAfterMs: 1_000 } });
  const { database } = running;
  const fakes = useFakeProviders();
  const db = (): Db => database.current.db;

  /** A run of `n` custom deliveries in the given states, as a dead worker would leave it. */
  async function leftBehind(states: { status: 'queued' | 'sending'; leaseExpired?: boolean }[], runStatus: 'delivering' | 'cancelled' = 'delivering') {
    const bot = await createBotRow(db());
    const target = fakes.current.connectionFor('custom');
    await upsertChannelConnection(db(), TEST_SECRETS, {
      botId: bot.id,
      channel: 'CustomChannel',
      provider: 'custom',
      credentials: target.credentials,
      baseUrl: target.baseUrl,
      rateLimitPerSecond: null,
    });
    await upsertContacts(
      db(),
      bot.id,
      states.map((_, i) => contactUpsert('CustomChannel', `c${i}`)),
    );
    const contacts = await db().selectFrom('contacts').select('id').where('bot_id', '=', bot.id).orderBy('id').execute();
    const broadcast = await createBroadcastRow(db(), bot.id);
    const run = await db()
      .insertInto('runs')
      .values({ broadcast_id: broadcast.id, status: runStatus, targeted: states.length, handed_off: states.length, delivering_at: new Date() })
      .returning('id')
      .executeTakeFirstOrThrow();
    // Stale already: the reconciler's stalled-run sweep may look at it at once.
    await sql`UPDATE runs SET updated_at = now() - interval '1 hour' WHERE id = ${run.id}`.execute(db());
    await db()
      .insertInto('deliveries')
      .values(
        states.map((state, i) => ({
          run_id: run.id,
          contact_id: contacts[i]!.id,
          channel: 'CustomChannel' as const,
          status: state.status,
          attempts: state.status === 'sending' ? 1 : 0,
          claim_id: state.status === 'sending' ? (state.leaseExpired ? EXPIRED_CLAIM : LIVE_CLAIM) : null,
          lease_until: state.status === 'sending' ? new Date(Date.now() + (state.leaseExpired ? -1_000 : 60 * 60_000)) : null,
        })),
      )
      .execute();
    // Each claim's lease, as the claim statement journals it.
    await sql`
      INSERT INTO delivery_leases (claim_id, run_id, first_id, last_id, lease_until)
      SELECT claim_id, run_id, min(id), max(id), max(lease_until) FROM deliveries
      WHERE run_id = ${run.id} AND status = 'sending' GROUP BY claim_id, run_id`.execute(db());
    return run.id;
  }

  async function finalRun(runId: string) {
    return waitFor(
      async () => {
        const run = await findRun(db(), runId);
        return run && run.sent + run.failed + run.skipped === run.targeted && ['completed', 'cancelled'].includes(run.status) ? run : undefined;
      },
      { timeoutMs: 15_000, what: 'the run to be final' },
    );
  }

  it("sends again a dead worker's expired claims, and finishes the run", async () => {
    const runId = await leftBehind([
      { status: 'sending', leaseExpired: true },
      { status: 'sending', leaseExpired: true },
    ]);
    const run = await finalRun(runId);
    expect(run).toMatchObject({ status: 'completed', sent: 2 });
    const rows = await db().selectFrom('deliveries').select(['status', 'attempts']).where('run_id', '=', runId).execute();
    expect(rows).toEqual([
      { status: 'sent', attempts: 2 },
      { status: 'sent', attempts: 2 },
    ]);
    expect(fakes.current.requestsOf('custom')).toHaveLength(2);
  });

  it('leaves a claim whose lease still runs alone', async () => {
    const runId = await leftBehind([{ status: 'sending' }]);
    await new Promise((resolve) => setTimeout(resolve, 1_500)); // several reconcile passes
    const rows = await db().selectFrom('deliveries').select('status').where('run_id', '=', runId).execute();
    expect(rows).toEqual([{ status: 'sending' }]);
    expect(fakes.current.requests).toHaveLength(0);
  });

  it('skips the expired claims of a cancelled run, so its counts add up', async () => {
    const runId = await leftBehind([{ status: 'sending', leaseExpired: true }], 'cancelled');
    const run = await finalRun(runId);
    expect(run).toMatchObject({ status: 'cancelled', skipped: 1 });
    const [row] = await db().selectFrom('deliveries').select(['status', 'reason']).where('run_id', '=', runId).execute();
    expect(row).toEqual({ status: 'skipped', reason: 'cancelled' });
    expect(fakes.current.requests).toHaveLength(0);
  });

  it('gives a delivering run without progress and without jobs its chunks again', async () => {
    const runId = await leftBehind([{ status: 'queued' }, { status: 'queued' }, { status: 'queued' }]);
    const run = await finalRun(runId);
    expect(run).toMatchObject({ status: 'completed', sent: 3 });
    expect(fakes.current.requestsOf('custom')).toHaveLength(3);
  });

  it('removes the expired lease of a claim that ended normally (or of a deleted run), and touches none of its rows', async () => {
    const runId = await leftBehind([{ status: 'queued' }]);
    await sql`UPDATE deliveries SET status = 'sent' WHERE run_id = ${runId}`.execute(db());
    await sql`UPDATE runs SET status = 'completed', sent = 1 WHERE id = ${runId}`.execute(db());
    const [delivery] = await db().selectFrom('deliveries').select('id').where('run_id', '=', runId).execute();
    const [ended, ofDeletedRun] = [randomUUID(), randomUUID()];
    await db()
      .insertInto('delivery_leases')
      .values([
        { claim_id: ended, run_id: runId, first_id: delivery!.id, last_id: delivery!.id, lease_until: new Date(Date.now() - 1_000) },
        { claim_id: ofDeletedRun, run_id: randomUUID(), first_id: delivery!.id, last_id: delivery!.id, lease_until: new Date(Date.now() - 1_000) },
      ])
      .execute();
    await waitFor(
      async () => {
        const left = await db().selectFrom('delivery_leases').select('claim_id').where('claim_id', 'in', [ended, ofDeletedRun]).execute();
        return left.length === 0 ? true : undefined;
      },
      { timeoutMs: 5_000, what: 'the expired lease to be removed' },
    );
    const run = await findRun(db(), runId);
    expect(run).toMatchObject({ status: 'completed', sent: 1, skipped: 0 });
    expect(fakes.current.requests).toHaveLength(0);
  });
});
