// Rate and byte limits (`rate:`, `max_bytes:`) across the nodes of a shared store. Each node keeps its own token buckets,
// so a request is judged without a round trip; every 250 ms the node writes what it spent since the last time and
// takes what the other nodes spent off its own buckets. A bucket is thus shared: what one node spends, every node
// has spent. The bound: a burst spread over N nodes at once can get up to N times a bucket within one interval;
// whatever was overspent leaves the buckets below zero and is paid back by the refill before anything more passes,
// so over any longer stretch a token gets what its limit gives it.
import type { Store, SpendEntry } from '../services/store/store.ts';
import { RateLimiter } from './rate.ts';

const SHARE_EVERY_MS = 250;

export class RateLedger {
  private readonly limiters = new Map<string, RateLimiter>();
  /** What this node spent since its last share, by limit and key. */
  private pending = new Map<string, SpendEntry>();
  /** The last batch applied, by node. */
  private readonly seen = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  /** Exchanges run one after the other; the timer skips a turn while one is still queued or running. */
  private queue = Promise.resolve();
  private queued = 0;
  /** Set while the store cannot be reached: `failed` hears of an outage once, not every 250 ms. */
  private failing = false;

  constructor(private readonly store: Pick<Store, 'shareSpending'>, private readonly failed: (err: Error) => void = () => undefined) {}

  /** A limiter named `limit` (unique on this gateway: connection, role and what it limits), shared when the store is. */
  limiter(limit: string, units: number, periodMs: number): RateLimiter {
    if (!this.store.shareSpending) return new RateLimiter(units, periodMs);
    const limiter = new RateLimiter(units, periodMs, (key, amount) => this.note(limit, key, amount));
    this.limiters.set(limit, limiter);
    this.timer ??= setInterval(() => { if (!this.queued) void this.share(); }, SHARE_EVERY_MS).unref();
    return limiter;
  }

  /** One exchange with the store, begun after any still running: this node's spending out, the others' in. */
  share(): Promise<void> {
    this.queued++;
    this.queue = this.queue.then(() => this.exchange()).catch((err: Error) => this.failed(err)).finally(() => { this.queued--; });
    return this.queue;
  }

  stop() {
    clearInterval(this.timer);
  }

  private note(limit: string, key: string, amount: number) {
    const id = `${limit}\u0000${key}`;
    const entry = this.pending.get(id);
    if (entry) entry[2] += amount;
    else this.pending.set(id, [limit, key, amount]);
  }

  private async exchange() {
    const share = this.store.shareSpending!.bind(this.store);
    const mine = [...this.pending.values()];
    this.pending = new Map();
    let batches: Awaited<ReturnType<typeof share>>;
    try {
      batches = await share(mine, this.seen);
    } catch (err) {
      // Kept for the next exchange: a store that is briefly away delays the sharing, it loses none of it.
      for (const [limit, key, amount] of mine) this.note(limit, key, amount);
      if (!this.failing) this.failed(err as Error);
      this.failing = true;
      return;
    }
    this.failing = false;
    for (const b of batches) {
      this.seen.set(b.node, b.seq);
      for (const [limit, key, amount] of b.entries) this.limiters.get(limit)?.absorb(key, amount);
    }
  }
}
