// Per-token limits (`rate: 60/min`, `max_bytes: 50MB/hour`): a token bucket per token, so a burst up to the limit
// passes and then the budget refills evenly over the period.
import type { RateTaken, Store } from '../services/store/store.ts';

const PERIODS: Record<string, number> = { s: 1000, sec: 1000, second: 1000, min: 60_000, minute: 60_000, h: 3_600_000, hour: 3_600_000, day: 86_400_000 };
const SIZES: Record<string, number> = { B: 1, KB: 1024, KiB: 1024, MB: 1024 ** 2, MiB: 1024 ** 2, GB: 1024 ** 3, GiB: 1024 ** 3 };

export function parseRate(text: string): { limit: number; periodMs: number } {
  const m = /^(\d+)\/(\w+)$/.exec(text);
  if (!m || !PERIODS[m[2]] || Number(m[1]) <= 0) throw new Error(`invalid rate "${text}" (expected e.g. 60/min)`);
  return { limit: Number(m[1]), periodMs: PERIODS[m[2]] };
}

/** `50MB/hour` → bytes per period (KB, MB, GB are powers of 1024). */
export function parseByteRate(text: string): { limit: number; periodMs: number } {
  const m = /^(\d+(?:\.\d+)?)\s*([KMG]i?B|B)\/(\w+)$/.exec(text);
  const limit = m && SIZES[m[2]] ? Math.floor(Number(m[1]) * SIZES[m[2]]) : 0;
  if (!m || !PERIODS[m[3]] || limit <= 0) throw new Error(`invalid byte rate "${text}" (expected e.g. 50MB/hour)`);
  return { limit, periodMs: PERIODS[m[3]] };
}

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly perMs: number;

  constructor(private readonly limit: number, periodMs: number) {
    this.perMs = limit / periodMs;
  }

  /** Takes one unit for `key`; when none is left, says how many seconds until one is. */
  take(key: string, now = Date.now()): { ok: true } | { ok: false; retryAfter: number } {
    const b = this.bucket(key, now);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfter: this.secondsUntilOne(b.tokens) };
  }

  /** Seconds until `key` has a unit again; 0 when it has one now. Takes nothing. */
  retryAfter(key: string, now = Date.now()): number {
    const b = this.bucket(key, now);
    return b.tokens >= 1 ? 0 : this.secondsUntilOne(b.tokens);
  }

  /**
   * Spends `amount` units whatever is left, since what they measure (bytes already relayed) cannot be taken back; returns
   * what remains, which is below 1 once the budget is used up.
   */
  spend(key: string, amount: number, now = Date.now()): number {
    const b = this.bucket(key, now);
    b.tokens -= amount;
    return b.tokens;
  }

  private bucket(key: string, now: number) {
    const b = this.buckets.get(key) ?? { tokens: this.limit, at: now };
    b.tokens = Math.min(this.limit, b.tokens + (now - b.at) * this.perMs);
    b.at = now;
    // Pruned before the bucket is (re)inserted, so the bucket being charged is never the one dropped.
    if (this.buckets.size > 50_000) this.prune(now);
    this.buckets.set(key, b);
    return b;
  }

  private secondsUntilOne(tokens: number) {
    return Math.max(1, Math.ceil((1 - tokens) / this.perMs / 1000));
  }

  private prune(now: number) {
    for (const [k, b] of this.buckets) if (b.tokens + (now - b.at) * this.perMs >= this.limit) this.buckets.delete(k);
  }
}

/**
 * A per-token rate limit counted for every gateway node: in the store when it is shared (PostgreSQL), else in this
 * process's buckets. `scope` (connection and role) keeps different limits apart in the store.
 */
export function sharedRate(store: Store, scope: string, limit: number, periodMs: number): (tokenId: string) => Promise<RateTaken> {
  const { takeRate } = store;
  if (takeRate) return (tokenId) => takeRate(`${scope}\n${tokenId}`, limit, periodMs);
  const local = new RateLimiter(limit, periodMs);
  return async (tokenId) => local.take(tokenId);
}
