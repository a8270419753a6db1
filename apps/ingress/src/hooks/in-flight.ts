/**
 * Counts hook calls being handled, so a stopping ingress can wait for them before it closes
 * its connections. Closing the HTTP server is not enough: a caller that hangs up mid-call
 * drops its socket, the server no longer waits for it, and the call — still in a batch — would
 * then meet a closed database pool.
 */
export class InFlightCalls {
  private count = 0;
  private waiting: Array<() => void> = [];

  async track<T>(work: () => Promise<T>): Promise<T> {
    this.count++;
    try {
      return await work();
    } finally {
      this.count--;
      if (this.count === 0) for (const resolve of this.waiting.splice(0)) resolve();
    }
  }

  /** Resolves once no call is being handled. */
  drained(): Promise<void> {
    return this.count === 0 ? Promise.resolve() : new Promise((resolve) => this.waiting.push(resolve));
  }
}
