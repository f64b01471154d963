// One connection's error boundary: whatever serving it throws ends that connection, never the process.
//
// Every callback a connection registers (socket events, timers, promise continuations) runs through `run`, so an
// exception anywhere — a malformed frame, a bug — reaches `end` instead of the event loop. `end` is itself guarded:
// if ending politely throws too, the sockets are destroyed and the process carries on.

export class ConnectionBoundary {
  private failed = false;

  /**
   * `end` says goodbye (a FATAL, an audit record) and releases the connection; `destroy` is the last resort when
   * `end` throws. Both run at most once.
   */
  constructor(private readonly end: (err: unknown) => void, private readonly destroy: () => void) {}

  /** Whether the connection has been ended by a failure. */
  get ended(): boolean {
    return this.failed;
  }

  /** Runs `fn`; an exception it throws ends the connection. */
  run(fn: () => void): void {
    if (this.failed) return;
    try {
      fn();
    } catch (err) {
      this.fail(err);
    }
  }

  /** `fn` as a callback that never throws into whoever calls it (an event emitter, a timer). */
  wrap<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void {
    return (...args: A) => this.run(() => fn(...args));
  }

  /** A promise whose rejection ends the connection. */
  watch(promise: Promise<unknown>): void {
    promise.catch((err: unknown) => this.fail(err));
  }

  fail(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    try {
      this.end(err);
    } catch {
      try { this.destroy(); } catch { /* nothing is left to release */ }
    }
  }
}
