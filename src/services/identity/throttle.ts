// Failed-authentication throttle: slows token guessing per client address without touching anyone else.

export class AuthThrottle {
  private readonly failures = new Map<string, number[]>();

  constructor(private readonly maxFailures = 10, private readonly windowMs = 60_000) {}

  /** True while this address has used up its failed attempts for the window. */
  blocked(address: string, now = Date.now()): boolean {
    const recent = this.recent(address, now);
    return recent.length >= this.maxFailures;
  }

  fail(address: string, now = Date.now()) {
    const recent = this.recent(address, now);
    recent.push(now);
    this.failures.set(address, recent);
    if (this.failures.size > 10_000) this.prune(now);
  }

  private recent(address: string, now: number) {
    return (this.failures.get(address) ?? []).filter((t) => now - t < this.windowMs);
  }

  private prune(now: number) {
    for (const [addr, times] of this.failures) if (times.every((t) => now - t >= this.windowMs)) this.failures.delete(addr);
  }
}
