/** A result `flush` gives for one item that failed on its own, without failing the others. */
export class ItemFailed {
  constructor(readonly error: unknown) {}
}

/**
 * Gathers the items submitted during one turn of the event loop and hands them to `flush`
 * together: under load, many concurrent hook calls then share one database round trip (one
 * INSERT, one commit) instead of one each. A lone call waits only for the current turn to end.
 * `flush` returns one result per item, in order (an `ItemFailed` rejects that item alone); if it
 * throws, every item of the batch fails.
 */
export class MicroBatcher<I, O> {
  private pending: Array<{ item: I; resolve: (value: O) => void; reject: (error: unknown) => void }> = [];
  private scheduled = false;

  constructor(
    private readonly flush: (items: I[]) => Promise<Array<O | ItemFailed>>,
    private readonly maxBatch = 500,
  ) {}

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
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    this.flush(batch.map((entry) => entry.item)).then(
      (results) =>
        batch.forEach((entry, i) => {
          const result = results[i]!;
          if (result instanceof ItemFailed) entry.reject(result.error);
          else entry.resolve(result);
        }),
      (error: unknown) => batch.forEach((entry) => entry.reject(error)),
    );
  }
}
