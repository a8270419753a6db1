import { applyOptOutSignals, applyReceipts, type Db, type OptOutSignal, type ReceiptRow } from '@herald/db';
import { Counter, type Registry } from 'prom-client';
import { ItemFailed, MicroBatcher } from '../hooks/micro-batcher';

/**
 * Records what verified callbacks report, in batches like the hook's triggers: callbacks come
 * in bursts as large as the broadcast (a status per message, two or three per delivery), and
 * the receipts of every call of one turn of the event loop — or gathered while the previous
 * batches were being written — share one statement. A call is answered once its receipts are
 * committed: a provider that gets no 200 calls again, so nothing it reported is lost.
 */
export class CallbackRecorder {
  private readonly receipts: MicroBatcher<ReceiptRow, undefined>;
  private readonly optOuts: MicroBatcher<OptOutSignal, undefined>;

  constructor(db: Db, metrics: Registry, { maxBatch = 2_000, maxInFlight = 2 } = {}) {
    // What the recorded callbacks changed: repeats and stale events count nothing.
    const changes = new Counter({
      name: 'herald_receipts_applied_total',
      help: "Changes recorded from providers' callbacks: deliveries first known delivered, read or failed (undelivered), receipts parked until their send is recorded, contacts opted out or back in",
      labelNames: ['change'],
      registers: [metrics],
    });
    const applyReceiptBatch = async (rows: ReceiptRow[]) => {
      const applied = await applyReceipts(db, rows);
      for (const change of ['delivered', 'read', 'failed', 'parked'] as const) changes.inc({ change }, applied[change]);
    };
    const applyOptOutBatch = async (signals: OptOutSignal[]) => {
      const changed = await applyOptOutSignals(db, signals);
      changes.inc({ change: 'opt_out' }, changed.optedOut);
      changes.inc({ change: 'opt_in' }, changed.optedIn);
    };
    this.receipts = new MicroBatcher(isolatingBadItems(applyReceiptBatch), { maxBatch, maxInFlight });
    this.optOuts = new MicroBatcher(isolatingBadItems(applyOptOutBatch), { maxBatch, maxInFlight });
  }

  async record(receipts: readonly ReceiptRow[], optOuts: readonly OptOutSignal[]): Promise<void> {
    await Promise.all([...receipts.map((row) => this.receipts.submit(row)), ...optOuts.map((signal) => this.optOuts.submit(signal))]);
  }
}

/**
 * A batch write that, when Postgres refuses the data itself (class 22: a value it cannot
 * store), writes each item alone: the calls of every provider share a batch, and one bad value
 * must fail only the call that sent it. Other errors (Postgres down) fail the batch: each call
 * gets a 5xx and its provider calls again.
 */
export function isolatingBadItems<I>(write: (items: I[]) => Promise<void>): (items: I[]) => Promise<Array<undefined | ItemFailed>> {
  return async (items) => {
    try {
      await write(items);
      return items.map(() => undefined);
    } catch (error) {
      if (items.length === 1 || !isDataException(error)) throw error;
      const results: Array<undefined | ItemFailed> = [];
      for (const item of items)
        results.push(
          await write([item]).then(
            () => undefined,
            (failure: unknown) => new ItemFailed(failure),
          ),
        );
      return results;
    }
  };
}

function isDataException(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('22');
}
