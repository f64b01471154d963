// Failed-authentication throttle: counts failures per key — a client address and the user name it presented — so one
// client's guessing slows only that client, not every agent sharing its host.
//
// A throttled key never stops a valid credential: callers verify the credential first and consult the throttle only for
// failures, which a throttled key answers late (a tarpit) and refuses as throttled. Each address also has a coarser
// key of its own, so spreading guesses over many user names from one address is throttled too.
//
// Several nodes behind a load balancer count together through their shared store: each failure is added to the
// store's count, and a key over its limit anywhere is over it here. A key already over its limit here is answered from
// memory without asking the store, so guessing costs the store at most the limit's worth of writes per node and window.
import type { Store } from '../store/store.ts';

export interface ThrottleOptions {
  /** Failures per key within `windowMs` before the key is throttled. */
  maxFailures: number;
  windowMs: number;
  /** How long a throttled key's failure is held before it is answered. */
  delayMs: number;
  /** Keys remembered at once; beyond it the oldest are forgotten (memory stays bounded whatever a client sends). */
  maxKeys: number;
}

const DEFAULTS: ThrottleOptions = { maxFailures: 10, windowMs: 60_000, delayMs: 1000, maxKeys: 10_000 };
/** An address's own key throttles at this many times a single key's limit: many user names, one guesser. */
const ADDRESS_FACTOR = 5;

export interface Failure {
  /** The attempt came while the key (or its address) was already over its limit: hold the answer `delayMs`, say so. */
  throttled: boolean;
  /** This failure is the one that put the key over: the moment to audit, once per window. */
  started: boolean;
}

interface Count { failures: number; since: number }

export class AuthThrottle {
  readonly options: ThrottleOptions;
  private readonly counts = new Map<string, Count>();

  /** `store` counts every node's failures when it is shared (the embedded store has no `countAuthFailures`: memory is the count). */
  constructor(options: Partial<ThrottleOptions> = {}, private readonly store: Pick<Store, 'countAuthFailures'> = {}, private readonly sharedFailed: (err: Error) => void = () => undefined) {
    this.options = { ...DEFAULTS, ...options };
  }

  /** Keys remembered now (bounded by `maxKeys`). */
  get size(): number {
    return this.counts.size;
  }

  /** The throttle key for a user name presented from an address. */
  static key(address: string, user: string): string {
    return `${address}\u0000${user}`;
  }

  /** True while this key (or, for an address-and-user key, its address) has used up its failed attempts for the window. */
  blocked(key: string, now = Date.now()): boolean {
    const address = addressOf(key);
    return this.over(key, this.options.maxFailures, now) || (address !== key && this.over(address, this.options.maxFailures * ADDRESS_FACTOR, now));
  }

  /**
   * Records a failed attempt, here and in the shared store when there is one. If the store cannot be reached, this
   * node's own count decides (and `sharedFailed` hears why).
   */
  async fail(key: string, now = Date.now()): Promise<Failure> {
    const wasBlocked = this.blocked(key, now);
    const address = addressOf(key);
    const keys = address !== key ? [key, address] : [key];
    for (const k of keys) this.count(k, now);
    const here: Failure = { throttled: wasBlocked, started: !wasBlocked && this.blocked(key, now) };
    if (!this.store.countAuthFailures || wasBlocked) return here;
    let counts: number[];
    try {
      counts = await this.store.countAuthFailures(keys, this.options.windowMs, now);
    } catch (err) {
      this.sharedFailed(err as Error);
      return here;
    }
    // Every node's failures, this one included: this node adopts the larger count, and the store alone says whether
    // this failure is the one that crossed the limit (exactly one failure in the whole cluster sees the count reach it).
    keys.forEach((k, i) => this.adopt(k, counts[i], now));
    const limits = keys.map((k) => (k === key ? this.options.maxFailures : this.options.maxFailures * ADDRESS_FACTOR));
    const before = keys.some((_, i) => counts[i] - 1 >= limits[i]);
    const after = keys.some((_, i) => counts[i] >= limits[i]);
    return { throttled: before, started: !before && after };
  }

  private over(key: string, limit: number, now: number): boolean {
    const count = this.counts.get(key);
    return count !== undefined && now - count.since < this.options.windowMs && count.failures >= limit;
  }

  private adopt(key: string, failures: number, now: number) {
    const count = this.counts.get(key);
    if (count && now - count.since < this.options.windowMs) count.failures = Math.max(count.failures, failures);
  }

  private count(key: string, now: number) {
    let count = this.counts.get(key);
    if (!count || now - count.since >= this.options.windowMs) {
      count = { failures: 0, since: now };
      // Re-inserted last, so the map's order is the order keys (re)started: the first ones are the oldest, expired first.
      this.counts.delete(key);
      while (this.counts.size >= this.options.maxKeys) this.counts.delete(this.counts.keys().next().value!);
      this.counts.set(key, count);
    }
    count.failures++;
  }
}

const addressOf = (key: string) => {
  const at = key.indexOf('\u0000');
  return at === -1 ? key : key.slice(0, at);
};
