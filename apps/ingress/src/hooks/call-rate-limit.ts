import type { RedisConnection } from '@herald/queue';

/**
 * Abuse limits on the public hook (issue 13): at most `limit` calls per `windowMs` per caller
 * address and per broadcast. A call past either is answered 429 with Retry-After before
 * anything is recorded. Fixed windows, opened by a subject's first call: cheap (one counter per
 * subject and window) and good enough against floods, which is what they are for; a caller may
 * get up to twice the limit across a window's edge.
 */
export interface RateLimit {
  limit: number;
  windowMs: number;
}

export type RateDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

export interface CallRateLimiter {
  /** Counts one call for `subject` and says whether it is within the limit. */
  take(subject: string): Promise<RateDecision>;
}

/** The two limits the hook applies; null where a limit is turned off (0 in the config). */
export interface HookRateLimits {
  perAddress: CallRateLimiter | null;
  perBroadcast: CallRateLimiter | null;
}

export const NO_RATE_LIMITS: HookRateLimits = { perAddress: null, perBroadcast: null };

const ALLOWED: RateDecision = { allowed: true };

function decide(count: number, limit: number, msLeft: number): RateDecision {
  return count <= limit ? ALLOWED : { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(msLeft / 1000)) };
}

/**
 * Windows in this process's memory, for the embedded backend (one process, no Redis). At most
 * `maxSubjects` subjects are tracked, the least recently seen going first, so the table cannot
 * grow with the addresses of a distributed flood.
 */
export class LocalRateLimiter implements CallRateLimiter {
  private readonly windows = new Map<string, { endsAt: number; count: number }>();

  constructor(
    private readonly rate: RateLimit,
    private readonly maxSubjects = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  take(subject: string): Promise<RateDecision> {
    const now = this.now();
    const open = this.windows.get(subject);
    this.windows.delete(subject); // re-inserted last: the Map's order is least recently seen first
    const window = open && open.endsAt > now ? { endsAt: open.endsAt, count: open.count + 1 } : { endsAt: now + this.rate.windowMs, count: 1 };
    while (this.windows.size >= this.maxSubjects) this.windows.delete(this.windows.keys().next().value!);
    this.windows.set(subject, window);
    return Promise.resolve(decide(window.count, this.rate.limit, window.endsAt - now));
  }
}

/**
 * One counter per subject in Redis, shared by every ingress process: INCR, and PEXPIRE when the
 * INCR opened the window, in one script of one key (so it is atomic, and cluster-safe: the key
 * lives in one slot). Redis slow or down must not take the hook with it — Postgres keeps what
 * is accepted and nothing else needs Redis to answer — so past `deadlineMs` or on any error the
 * call is allowed (fail open), and `onUnavailable` hears of it once per outage.
 */
export class RedisRateLimiter implements CallRateLimiter {
  private failing = false;

  constructor(
    private readonly redis: RedisConnection,
    private readonly keyPrefix: string,
    private readonly rate: RateLimit,
    private readonly onUnavailable: (error: Error | null) => void = () => undefined,
    private readonly deadlineMs = 200,
  ) {
    if (!('heraldTakeRate' in redis)) {
      redis.defineCommand('heraldTakeRate', {
        numberOfKeys: 1,
        lua: `local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}`,
      });
    }
  }

  async take(subject: string): Promise<RateDecision> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`redis did not answer the rate limit within ${this.deadlineMs} ms`)), this.deadlineMs);
      });
      const [count, msLeft] = await Promise.race([this.takeInRedis(`${this.keyPrefix}:${subject}`), deadline]);
      if (this.failing) {
        this.failing = false;
        this.onUnavailable(null);
      }
      return decide(count, this.rate.limit, msLeft);
    } catch (error) {
      if (!this.failing) {
        this.failing = true;
        this.onUnavailable(error instanceof Error ? error : new Error(String(error)));
      }
      return ALLOWED;
    } finally {
      clearTimeout(timer);
    }
  }

  private takeInRedis(key: string): Promise<[number, number]> {
    const redis = this.redis as unknown as { heraldTakeRate(key: string, windowMs: number): Promise<[number, number]> };
    return redis.heraldTakeRate(key, this.rate.windowMs);
  }
}
