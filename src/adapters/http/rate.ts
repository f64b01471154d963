// Per-token rate limits (`rate: 60/min`): a token bucket per token, so a burst up to the limit passes and then one per interval.
const PERIODS: Record<string, number> = { s: 1000, sec: 1000, second: 1000, min: 60_000, minute: 60_000, h: 3_600_000, hour: 3_600_000, day: 86_400_000 };

export function parseRate(text: string): { limit: number; periodMs: number } {
  const m = /^(\d+)\/(\w+)$/.exec(text);
  if (!m || !PERIODS[m[2]] || Number(m[1]) <= 0) throw new Error(`invalid rate "${text}" (expected e.g. 60/min)`);
  return { limit: Number(m[1]), periodMs: PERIODS[m[2]] };
}

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly perMs: number;

  constructor(private readonly limit: number, periodMs: number) {
    this.perMs = limit / periodMs;
  }

  /** Takes one request for `key`; when none is left, says how many seconds until one is. */
  take(key: string, now = Date.now()): { ok: true } | { ok: false; retryAfter: number } {
    const b = this.buckets.get(key) ?? { tokens: this.limit, at: now };
    b.tokens = Math.min(this.limit, b.tokens + (now - b.at) * this.perMs);
    b.at = now;
    this.buckets.set(key, b);
    if (this.buckets.size > 50_000) this.prune(now);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfter: Math.max(1, Math.ceil((1 - b.tokens) / this.perMs / 1000)) };
  }

  private prune(now: number) {
    for (const [k, b] of this.buckets) if (b.tokens + (now - b.at) * this.perMs >= this.limit) this.buckets.delete(k);
  }
}
