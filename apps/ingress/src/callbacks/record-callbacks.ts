import { applyOptOutSignals, applyReceipts, type Db, type OptOutSignal, type ReceiptRow } from '@herald/db';
import { MicroBatcher } from '../hooks/micro-batcher';

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

  constructor(db: Db, { maxBatch = 2_000, maxInFlight = 2 } = {}) {
    this.receipts = new MicroBatcher(
      async (rows) => {
        await applyReceipts(db, rows);
        return rows.map(() => undefined);
      },
      { maxBatch, maxInFlight },
    );
    this.optOuts = new MicroBatcher(
      async (signals) => {
        await applyOptOutSignals(db, signals);
        return signals.map(() => undefined);
      },
      { maxBatch, maxInFlight },
    );
  }

  async record(receipts: readonly ReceiptRow[], optOuts: readonly OptOutSignal[]): Promise<void> {
    await Promise.all([...receipts.map((row) => this.receipts.submit(row)), ...optOuts.map((signal) => this.optOuts.submit(signal))]);
  }
}
