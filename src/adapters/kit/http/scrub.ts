// Defence in depth: if an upstream ever echoes its own credential (an echo endpoint, a debug page), the agent never sees it.

const EMPTY = Buffer.alloc(0);

/**
 * What replaces a credential: a marker of exactly its length, so Content-Length and any binary framing stay valid.
 */
export function scrubbed(length: number): string {
  const marker = '[gatehouse:redacted';
  return length >= marker.length + 2 ? marker + '*'.repeat(length - marker.length - 1) + ']' : '*'.repeat(length);
}

/**
 * Replaces every occurrence of the given strings in a byte stream (a relay step). Only the longest tail that could start
 * a credential is held back between chunks, so streamed responses (SSE) still flow event by event.
 */
export class CredentialScrubber {
  private held: Buffer = EMPTY;

  /** `needles`: the credentials as bytes, made once per listener. */
  constructor(private readonly needles: readonly Buffer[]) {}

  push(chunk: Buffer): Buffer {
    if (!this.needles.length) return chunk;
    const data = this.held.length ? Buffer.concat([this.held, chunk]) : chunk;
    const clean = scrubBuffer(data, this.needles);
    const keep = partialTail(clean, this.needles);
    // A copy to keep, so the upstream's buffer can be reused.
    this.held = keep ? Buffer.from(clean.subarray(clean.length - keep)) : EMPTY;
    return keep ? clean.subarray(0, clean.length - keep) : clean;
  }

  end(): Buffer {
    const held = this.held;
    this.held = EMPTY;
    return held;
  }
}

/** Replaces the needles in one buffer (for bodies that are already whole); the length never changes. */
export function scrubBuffer(data: Buffer, needles: readonly Buffer[]): Buffer {
  if (!needles.length) return data;
  let out: Buffer[] | undefined;
  let from = 0;
  for (;;) {
    let at = -1;
    let len = 0;
    for (const n of needles) {
      const i = data.indexOf(n, from);
      if (i >= 0 && (at < 0 || i < at)) { at = i; len = n.length; }
    }
    if (at < 0) break;
    (out ??= []).push(data.subarray(from, at), Buffer.from(scrubbed(len)));
    from = at + len;
  }
  if (!out) return data;
  out.push(data.subarray(from));
  return Buffer.concat(out);
}

export const scrubText = (text: string, values: string[]) => values.reduce((t, v) => (t.includes(v) ? t.split(v).join(scrubbed(Buffer.byteLength(v))) : t), text);

/** Length of the longest suffix of `data` that is a proper prefix of some needle. */
function partialTail(data: Buffer, needles: readonly Buffer[]): number {
  let best = 0;
  for (const n of needles) {
    for (let k = Math.min(n.length - 1, data.length); k > best; k--) {
      // Most tails cannot start a needle at all: one byte read rules them out before a comparison.
      if (data[data.length - k] !== n[0]) continue;
      if (data.compare(n, 0, k, data.length - k, data.length) === 0) { best = k; break; }
    }
  }
  return best;
}
