/** A result `flush` gives for one item that failed on its own, without failing the others. */
export class ItemFailed {
  constructor(readonly error: unknown) {}
}

export interface MicroBatcherOptions {
  /** Most items in one flush. */
  maxBatch?: number;
  /**
   * Most flushes at once. While that many are in flight, new items wait and go together in
   * the next flush: under a flood, batches grow instead of round trips multiplying (each
   * round trip costs the process a write system call, and the database a statement and a
   * commit). A lone item never waits for more than the current turn.
   */
  maxInFlight?: number;
}

interface Entry<I, O> {
  item: I;
  resolve: (value: O) => void;
  reject: (error: unknown) => void;
}

/**
 * Gathers the items submitted during one turn of the event loop — or, when `maxInFlight`
 * flushes are already under way, until one of them ends — and hands them to `flush` together:
 * under load, many concurrent hook calls then share one database round trip (one INSERT, one
 * commit) instead of one each. `flush` returns one result per item, in order (an `ItemFailed`
 * rejects that item alone); if it throws, every item of the batch fails.
 */
export class MicroBatcher<I, O> {
  private pending: Array<Entry<I, O>> = [];
  private scheduled = false;
  private inFlight = 0;
  private readonly maxBatch: number;
  private readonly maxInFlight: number;

  constructor(
    private readonly flush: (items: I[]) => Promise<Array<O | ItemFailed>>,
    { maxBatch = 500, maxInFlight = Infinity }: MicroBatcherOptions = {},
  ) {
    this.maxBatch = maxBatch;
    this.maxInFlight = maxInFlight;
  }

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (this.pending.length >= this.maxBatch) this.run();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.run());
      }
    });
  }

  private run(): void {
    this.scheduled = false;
    // At the limit, items wait: the flush in flight that ends first takes them (see `settled`).
    while (this.pending.length > 0 && this.inFlight < this.maxInFlight) {
      this.start(this.pending.splice(0, this.maxBatch));
    }
  }

  private start(batch: Array<Entry<I, O>>): void {
    this.inFlight++;
    this.flush(batch.map((entry) => entry.item))
      .then(
        (results) =>
          batch.forEach((entry, i) => {
            const result = results[i]!;
            if (result instanceof ItemFailed) entry.reject(result.error);
            else entry.resolve(result);
          }),
        (error: unknown) => batch.forEach((entry) => entry.reject(error)),
      )
      .finally(() => this.settled());
  }

  private settled(): void {
    this.inFlight--;
    this.run();
  }
}
