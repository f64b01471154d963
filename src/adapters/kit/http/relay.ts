// Streams an upstream response body to the agent through synchronous rewriting steps. stream.pipeline with a Transform
// per step costs stream objects, listeners and (on Node 20) an Error and an AbortError per request even when all goes
// well; a relay is a few listeners and one timer, and writes what each upstream chunk became as soon as it arrives.
import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { CredentialScrubber } from './scrub.ts';
import { UpstreamFailure } from './upstream.ts';

/** One rewriting step: `push` returns what a chunk becomes (empty to hold it back), `end` what is still held. */
export interface RelayStep {
  push(chunk: Buffer): Buffer | string;
  end(): Buffer | string;
}

export interface RelayOptions {
  steps: readonly RelayStep[];
  /** The body fails if no upstream byte arrives for this long. */
  idleMs: number;
  onIdle: () => Error;
}

export class Relay {
  /** Upstream bytes relayed so far (for the audit, also when the relay fails). */
  bytes = 0;
  /** Settles once the agent's response is finished; rejects if either side fails first (the caller destroys what is left). */
  readonly done: Promise<void>;

  constructor(from: Readable, to: ServerResponse, private readonly o: RelayOptions) {
    this.done = new Promise((resolve, reject) => {
      let settled = false;
      const settle = (err?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      // Unreferenced: while either side's socket is open the process lives anyway; the timer alone must not hold it.
      const timer = setTimeout(() => settle(o.onIdle()), o.idleMs).unref();
      from.on('data', (chunk: Buffer) => {
        if (settled) return;
        timer.refresh();
        this.bytes += chunk.length;
        let out: Buffer | string;
        try { out = this.through(chunk, 0); } catch (err) { return settle(err as Error); }
        if (out.length && !to.write(out)) {
          from.pause();
          to.once('drain', () => from.resume());
        }
      });
      let ended = false;
      from.once('end', () => {
        ended = true;
        if (settled) return;
        // What a step still holds goes through the steps after it, then the response ends.
        let tail: Buffer | string = '';
        try {
          for (let i = 0; i < o.steps.length; i++) {
            const held = this.through(o.steps[i].end(), i + 1);
            if (held.length) tail = tail.length ? Buffer.concat([asBuffer(tail), asBuffer(held)]) : held;
          }
        } catch (err) { return settle(err as Error); }
        if (tail.length) to.end(tail, () => settle());
        else to.end(() => settle());
      });
      from.once('error', (err) => settle(err));
      from.once('close', () => { if (!ended) settle(new Error('the upstream closed the response before it was complete')); });
      to.once('close', () => { if (!to.writableFinished) settle(new Error('the client went away')); });
      if (to.destroyed) settle(new Error('the client went away'));
    });
  }

  private through(out: Buffer | string, from: number): Buffer | string {
    for (let i = from; i < this.o.steps.length && out.length; i++) out = this.o.steps[i].push(asBuffer(out));
    return out;
  }
}

const asBuffer = (x: Buffer | string) => (typeof x === 'string' ? Buffer.from(x) : x);

/**
 * An upstream body on its way to the agent, as both gateways relay it: the connection's own credentials scrubbed first
 * (`needles`), then `steps`; a 504 if the upstream stalls for `timeoutMs`. Its idle timer runs from construction.
 */
export function relayUpstream(upstream: Readable, res: ServerResponse, connection: string, o: { timeoutMs: number; needles: readonly Buffer[] }, steps: RelayStep[] = []): Relay {
  return new Relay(upstream, res, {
    steps: [new CredentialScrubber(o.needles), ...steps], idleMs: o.timeoutMs,
    onIdle: () => new UpstreamFailure(504, `the upstream of connection "${connection}" stalled for ${o.timeoutMs} ms`, 'upstream.timeout'),
  });
}
