import { burstOf, intervalMicros, type ConnectionThrottle, type ThrottleTake } from './throttle';

interface State {
  /** Theoretical arrival time of the next message, µs on this process's monotonic clock. */
  tat: number;
  /** No grant before this (µs); 0 when not paused. */
  paused: number;
}

/**
 * Node's timers count from the event loop's cached clock, so a taker that slept exactly the
 * wait it was told can wake up to a millisecond before it on this clock (Redis's round trip
 * hides that for the shared throttle). That much early counts as on time; the TAT still moves
 * a whole interval per grant, so the rate holds.
 */
const EARLY_MICROS = 1_000;

/** States untouched this long are forgotten (the Redis keys expire the same way). */
const FORGET_AFTER_MICROS = 60_000_000;

/**
 * The GCRA of `RedisThrottle` (see throttle.ts for the algorithm and its constants), kept in
 * this process: for the embedded backend, where one process does all the sending, so there is
 * no one to share the state with. The clock is monotonic, so a wall-clock step changes nothing.
 */
export class LocalThrottle implements ConnectionThrottle {
  private readonly states = new Map<string, State>();
  private lastSweep = now();

  take(connectionId: string, ratePerSecond: number | null, wanted: number): Promise<ThrottleTake> {
    const t = now();
    const state = this.state(connectionId, t);
    if (state.paused > t) return Promise.resolve({ granted: 0, waitMs: Math.ceil((state.paused - t) / 1000) });
    const interval = intervalMicros(ratePerSecond);
    if (interval === 0) return Promise.resolve({ granted: wanted, waitMs: 0 });
    const burst = burstOf(ratePerSecond!);
    // A taker that comes back a little late keeps up to 3 ms of its lateness (as in the script).
    const lateness = Math.min(interval / 2, 3000);
    const tat = Math.max(state.tat, t - (burst - 1) * interval - lateness);
    // Early and late allowances together stay under one interval, so no take passes the burst.
    const early = Math.min(EARLY_MICROS, interval - lateness - 1);
    const due = Math.floor((t + early + interval - tat) / interval);
    const granted = Math.max(0, Math.min(wanted, due));
    state.tat = tat + granted * interval;
    const wait = Math.max(0, state.tat - (burst - 1) * interval - t);
    return Promise.resolve({ granted, waitMs: Math.ceil(wait / 1000) });
  }

  refund(connectionId: string, ratePerSecond: number | null, unused: number): Promise<void> {
    const interval = intervalMicros(ratePerSecond);
    if (unused > 0 && interval > 0) {
      const t = now();
      const state = this.state(connectionId, t);
      state.tat = Math.max(state.tat - unused * interval, t - (burstOf(ratePerSecond!) - 1) * interval);
    }
    return Promise.resolve();
  }

  pause(connectionId: string, ms: number): Promise<void> {
    const t = now();
    const state = this.state(connectionId, t);
    state.paused = Math.max(state.paused, t + Math.max(1, Math.round(ms)) * 1000);
    return Promise.resolve();
  }

  private state(connectionId: string, t: number): State {
    if (t - this.lastSweep > FORGET_AFTER_MICROS) this.sweep(t);
    let state = this.states.get(connectionId);
    if (!state) {
      state = { tat: 0, paused: 0 };
      this.states.set(connectionId, state);
    }
    return state;
  }

  /** Drops states whose TAT and pause are both a minute past: they would grant as new ones do. */
  private sweep(t: number): void {
    this.lastSweep = t;
    for (const [id, state] of this.states) {
      if (Math.max(state.tat, state.paused) + FORGET_AFTER_MICROS < t) this.states.delete(id);
    }
  }
}

function now(): number {
  return Math.round(performance.now() * 1000);
}
