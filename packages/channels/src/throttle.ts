import type { Cluster, Redis } from 'ioredis';

/**
 * The per-connection send rate, shared by every worker process (SPEC §4): a provider's limit is
 * global (WhatsApp Cloud API 80 msg/s per number, a Twilio long code 1 msg/s), so the state
 * lives in Redis and is changed by one Lua script at a time (atomic, Redis's own clock).
 *
 * The algorithm is GCRA: the key holds the theoretical arrival time (TAT) of the next message.
 * A take of `n` grants as many as are due now (at most `burst`), moves the TAT by one interval
 * per grant, and says how long to wait for the next one. A taker that comes back up to 3 ms late
 * loses nothing (the TAT may lag `now` by that much). `burst` is 20 ms worth of messages
 * (at least 1), so one round trip can carry a batch at high rates while any one-second window
 * holds at most rate + burst messages. A pause (a provider's 429 / Retry-After, seen by any
 * worker) pushes a `paused` time that every take honours until it passes.
 */

const SCRIPT = `
local key = KEYS[1]
local op = ARGV[1]
local interval = tonumber(ARGV[2])   -- microseconds between messages; 0 = no rate limit
local arg = tonumber(ARGV[3])        -- take: wanted; refund: count; pause: microseconds
local burst = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local state = redis.call('HMGET', key, 'tat', 'paused')
local tat = tonumber(state[1]) or 0
local paused = tonumber(state[2]) or 0
if op == 'pause' then
  paused = math.max(paused, now + arg)
  redis.call('HSET', key, 'paused', paused)
  redis.call('PEXPIRE', key, math.ceil((paused - now) / 1000) + 60000)
  return {0, math.ceil((paused - now) / 1000)}
end
if op == 'refund' then
  if interval > 0 and arg > 0 then
    redis.call('HSET', key, 'tat', math.max(tat - arg * interval, now - (burst - 1) * interval))
  end
  return {0, 0}
end
if paused > now then
  return {0, math.ceil((paused - now) / 1000)}
end
if interval == 0 then
  return {arg, 0}
end
-- A taker that comes back a little late (timers, a Redis round trip) keeps up to 3 ms of its
-- lateness, so the rate holds on average instead of losing that much per message.
tat = math.max(tat, now - (burst - 1) * interval - math.min(interval / 2, 3000))
local due = math.floor((now + interval - tat) / interval)
local granted = math.max(0, math.min(arg, due))
tat = tat + granted * interval
redis.call('HSET', key, 'tat', tat)
redis.call('PEXPIRE', key, math.ceil((tat - now) / 1000) + 60000)
local wait = math.max(0, tat - (burst - 1) * interval - now)
return {granted, math.ceil(wait / 1000)}
`;

/**
 * The per-connection send rate, as the delivery stage uses it. `RedisThrottle` shares it
 * between every worker process; `LocalThrottle` keeps it in this process (the embedded backend,
 * where one process does all the sending). Both run the same GCRA with the same pacing.
 */
export interface ConnectionThrottle {
  /**
   * Asks for up to `wanted` sends on a connection limited to `ratePerSecond` (null: no limit,
   * only pauses apply).
   */
  take(connectionId: string, ratePerSecond: number | null, wanted: number): Promise<ThrottleTake>;
  /** Gives back grants that were not used (fewer deliveries were left than were granted). */
  refund(connectionId: string, ratePerSecond: number | null, unused: number): Promise<void>;
  /** Pauses the connection for every sender for `ms` (a provider said "too many requests"). */
  pause(connectionId: string, ms: number): Promise<void>;
}

export interface ThrottleTake {
  /** Messages that may be sent now. */
  granted: number;
  /** When `granted` is below what was asked: ms until the next message may go (a pause included). */
  waitMs: number;
}

type ThrottleCommand = (key: string, op: string, interval: string, arg: string, burst: string) => Promise<[number, number]>;

/** Messages per second allowed in one burst: 20 ms worth, at least one. */
export function burstOf(ratePerSecond: number): number {
  return Math.max(1, Math.floor(ratePerSecond / 50));
}

export class RedisThrottle implements ConnectionThrottle {
  private readonly command: ThrottleCommand;

  constructor(
    redis: Redis | Cluster,
    private readonly prefix: string,
  ) {
    const name = 'heraldThrottle';
    if (!(name in redis)) redis.defineCommand(name, { numberOfKeys: 1, lua: SCRIPT });
    this.command = (redis as unknown as Record<string, ThrottleCommand>)[name]!.bind(redis);
  }

  async take(connectionId: string, ratePerSecond: number | null, wanted: number): Promise<ThrottleTake> {
    const [granted, waitMs] = await this.command(this.key(connectionId), 'take', interval(ratePerSecond), String(wanted), burst(ratePerSecond));
    return { granted, waitMs };
  }

  async refund(connectionId: string, ratePerSecond: number | null, unused: number): Promise<void> {
    if (unused <= 0 || !ratePerSecond) return;
    await this.command(this.key(connectionId), 'refund', interval(ratePerSecond), String(unused), burst(ratePerSecond));
  }

  async pause(connectionId: string, ms: number): Promise<void> {
    await this.command(this.key(connectionId), 'pause', '0', String(Math.max(1, Math.round(ms)) * 1000), '1');
  }

  /**
   * The script's only key, passed as KEYS[1] (never built inside it), so a Redis Cluster routes
   * each call to the master of that key's slot; under a hash-tagged prefix that is the queues'.
   */
  private key(connectionId: string): string {
    return `${this.prefix}:herald:throttle:${connectionId}`;
  }
}

/**
 * Grants are paced 5% under the configured rate: the time between a grant and the request
 * reaching the provider still varies by a few milliseconds (the event loop, the network), which
 * bunches requests that were granted evenly; a provider counting in its own one-second windows
 * then still sees no more than about the rate. (A claim that comes back late has its grants
 * taken again: see LATE_GRANT_MS in the worker's deliver-chunk.ts.) Measured at the receiver,
 * three workers at 50/s, 1,000 sends: without re-taking late grants, the busiest second held
 * 50-53 with 5% and 49-54 with 7%; with it, 49 in four runs of 5%, 1,000 sends in 21.5-21.6 s
 * (the margin is also what a run takes longer than 1,000 / rate).
 */
const PACING = 0.95;

/** Microseconds between grants at `ratePerSecond` (paced), 0 for no limit. */
export function intervalMicros(ratePerSecond: number | null): number {
  return ratePerSecond ? Math.max(1, Math.round(1_000_000 / (ratePerSecond * PACING))) : 0;
}

function interval(ratePerSecond: number | null): string {
  return String(intervalMicros(ratePerSecond));
}

function burst(ratePerSecond: number | null): string {
  return String(ratePerSecond ? burstOf(ratePerSecond) : 1);
}
