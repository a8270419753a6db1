/**
 * When a broadcast's dispatch should start after an accepted call (SPEC §3.2): `delayMs` after
 * this call — each call re-arms the timer — but, with `maxDelayMs` set, no later than that
 * after the first call still pending, so a steady stream of calls cannot postpone it forever.
 */
export function dispatchDelayMs(input: {
  delayMs: number;
  maxDelayMs: number | null;
  /** When this call was accepted. */
  now: Date;
  /** When the oldest pending trigger of the broadcast was accepted (this call's, if none older). */
  firstPendingAt: Date;
}): number {
  const { delayMs, maxDelayMs, now, firstPendingAt } = input;
  if (maxDelayMs === null) return delayMs;
  const deadline = firstPendingAt.getTime() + maxDelayMs;
  return Math.max(0, Math.min(delayMs, deadline - now.getTime()));
}
