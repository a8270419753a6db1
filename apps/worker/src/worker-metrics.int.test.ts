import { sql } from 'kysely';
import { createMetricsRegistry } from '@herald/service';
import { createBotRow, createBroadcastRow, testLogger, useTestDatabase } from '@herald/testing';
import { registerRunMetrics } from './worker-metrics';

describe('herald_runs_in_progress and herald_run_idle_seconds', () => {
  const database = useTestDatabase();

  it('count the runs in progress by status and how long the least recently active one has been quiet, not the finished ones', async () => {
    const { db } = database.current;
    const registry = createMetricsRegistry('worker-test');
    registerRunMetrics(registry, db, testLogger('worker-metrics-test'));
    const bot = await createBotRow(db);
    const broadcast = await createBroadcastRow(db, bot.id);
    const run = (status: 'dispatching' | 'delivering' | 'completed' | 'cancelled', quietSeconds: number) =>
      sql`INSERT INTO runs (broadcast_id, status, updated_at, finished_at)
          VALUES (${broadcast.id}, ${status}, now() - make_interval(secs => ${quietSeconds}),
                  CASE WHEN ${status} IN ('completed', 'cancelled') THEN now() END)`.execute(db);
    await run('dispatching', 5);
    await run('dispatching', 300); // a dispatch whose heartbeat stopped five minutes ago
    await run('delivering', 2);
    for (let i = 0; i < 3; i++) await run('completed', 1_000);
    await run('cancelled', 10);

    const text = await registry.metrics();
    const value = (line: string) => Number(new RegExp(`^${line} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(value('herald_runs_in_progress\\{status="dispatching",service="worker-test"\\}')).toBe(2);
    expect(value('herald_runs_in_progress\\{status="delivering",service="worker-test"\\}')).toBe(1);
    expect(value('herald_run_idle_seconds\\{status="dispatching",service="worker-test"\\}')).toBeGreaterThanOrEqual(300);
    expect(value('herald_run_idle_seconds\\{status="dispatching",service="worker-test"\\}')).toBeLessThan(330);
    expect(value('herald_run_idle_seconds\\{status="delivering",service="worker-test"\\}')).toBeLessThan(30);
    // Finished runs are not counted here (that would read the whole table at every scrape).
    expect(text).not.toMatch(/herald_runs_in_progress\{status="(completed|cancelled)"/);
  });
});
