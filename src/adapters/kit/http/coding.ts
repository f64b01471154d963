// Scrub what the agent will decode: an upstream body in a content-coding is decoded before anything scans it, and a
// coding Gatehouse cannot undo is refused rather than relayed unscanned.
import type { IncomingMessage } from 'node:http';
import { pipeline, type Readable, type Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';

/** The content-codings Gatehouse undoes (RFC 9110 §8.4.1). Node 20 has no zstd decoder, so zstd is refused like any unknown one. */
const DECODERS = new Map<string, () => Transform>([['gzip', createGunzip], ['x-gzip', createGunzip], ['deflate', createInflate], ['br', createBrotliDecompress]]);

/** What upstreams are asked for when their bodies must be read: decoding is then only needed for those that ignore it. */
export const ACCEPT_WHEN_SCANNING = 'identity';

export type Decoded =
  | { ok: true; body: Readable; decoded: boolean }
  | { ok: false; message: string };

/** A body can only be present on these (RFC 9110 §6.4.1): the others are relayed as they are, with nothing to decode. */
export const mayHaveBody = (method: string, status: number) => method !== 'HEAD' && status >= 200 && status !== 204 && status !== 304;

/**
 * The response body as the agent's client would decode it. Codings applied in sequence (`gzip, br`) are undone in reverse;
 * a decoding error fails the returned stream (and so the relay reading it).
 */
export function decodedBody(res: IncomingMessage): Decoded {
  const header = res.headers['content-encoding'];
  const codings = String(header ?? '').split(',').map((c) => c.trim().toLowerCase()).filter((c) => c && c !== 'identity');
  if (!codings.length) return { ok: true, body: res, decoded: false };
  const unknown = codings.find((c) => !DECODERS.has(c));
  if (unknown) return { ok: false, message: `the upstream answered with Content-Encoding "${header}", which Gatehouse cannot decode (${unknown}) to scan for credentials and content rules; it was withheld` };
  const decoders = codings.reverse().map((c) => DECODERS.get(c)!());
  // pipeline carries backpressure through every decoder and destroys them all if any side fails.
  return { ok: true, body: pipeline([res, ...decoders], () => {}) as unknown as Readable, decoded: true };
}
