// One token must not starve the rest: each token has a cap on its requests in flight, and when the upstream connection
// pool is full its sockets are handed out round-robin between the tokens waiting, not first come first served.
import type { Cutoff } from './upstream.ts';
import { UpstreamFailure } from './upstream.ts';

/** One admitted request: it may wait for an upstream socket, and must `leave` when it ends (freeing both). */
export interface Slot {
  upstream(cutoff: Cutoff, waitMs: number): Promise<void>;
  leave(): void;
}

export class FairShare {
  private readonly inflight = new Map<string, number>();
  /** Tokens waiting for a socket, in round-robin order, each with its waiters in arrival order. */
  private readonly queue = new Map<string, (() => void)[]>();
  private busy = 0;

  constructor(readonly perToken: number, readonly pool: number) {}

  /** Admits one request of `token`, or undefined when the token already has `perToken` requests in flight. */
  enter(token: string): Slot | undefined {
    const n = this.inflight.get(token) ?? 0;
    if (n >= this.perToken) return undefined;
    this.inflight.set(token, n + 1);
    let holding = false;
    let left = false;
    return {
      upstream: (cutoff, waitMs) => new Promise<void>((resolve, reject) => {
        if (this.busy < this.pool && this.queue.size === 0) {
          this.busy++;
          holding = true;
          return resolve();
        }
        const grant = () => { clearTimeout(timer); holding = true; resolve(); };
        const giveUp = (failure: UpstreamFailure) => { clearTimeout(timer); if (this.dequeue(token, grant)) reject(failure); };
        const timer = setTimeout(() => giveUp(new UpstreamFailure(504, `no upstream connection came free within ${waitMs} ms (the connection pool of ${this.pool} is in use)`, 'upstream.busy')), waitMs);
        const list = this.queue.get(token);
        if (list) list.push(grant);
        else this.queue.set(token, [grant]);
        cutoff.onCut(() => giveUp(new UpstreamFailure(502, 'request aborted', 'aborted')));
      }),
      leave: () => {
        if (left) return;
        left = true;
        const m = (this.inflight.get(token) ?? 1) - 1;
        if (m) this.inflight.set(token, m);
        else this.inflight.delete(token);
        if (holding) this.handOn();
      },
    };
  }

  /** A socket came free: the first token in line gets it and goes to the back of the line if it still waits. */
  private handOn() {
    for (const [token, waiters] of this.queue) {
      const next = waiters.shift()!;
      this.queue.delete(token);
      if (waiters.length) this.queue.set(token, waiters);
      return next(); // the socket changes hands: `busy` stays as it is
    }
    this.busy--;
  }

  /** Takes a waiter out of line; false when it was already granted a socket. */
  private dequeue(token: string, waiter: () => void): boolean {
    const waiters = this.queue.get(token);
    const i = waiters?.indexOf(waiter) ?? -1;
    if (!waiters || i < 0) return false;
    waiters.splice(i, 1);
    if (!waiters.length) this.queue.delete(token);
    return true;
  }
}
