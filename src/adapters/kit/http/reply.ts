// Gatehouse's own HTTP answers (refusals, upstream failures) and bounded body reads.
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Cutoff } from './upstream.ts';

/** Sends a JSON answer; if the response already started (a stream), the only honest signal left is cutting it. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

export class BodyTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`the body exceeds max_inspect_bytes (${limit} bytes), the most Gatehouse inspects`);
  }
}

/** The body stopped arriving because the request was cut (revocation, the body deadline): `reason` says why. */
export class BodyCut extends Error {}

/**
 * Reads a whole body, refusing more than `limit` bytes (checked against Content-Length first, then as bytes arrive).
 * With a `cutoff`, a cut request stops the read at once (BodyCut) instead of waiting on a client that sends nothing.
 */
export function readBody(req: Readable & { headers?: IncomingHttpHeaders }, limit: number, cutoff?: Cutoff): Promise<Buffer> {
  const declared = Number(req.headers?.['content-length'] ?? 0);
  if (declared > limit) return Promise.reject(new BodyTooLarge(limit));
  // Plain listeners rather than an async iterator: no iterator, promise and stream wrapper per request.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let ended = false;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      req.off('data', onData);
      reject(new BodyTooLarge(limit));
    };
    req.on('data', onData);
    req.once('end', () => {
      ended = true;
      resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    });
    req.once('error', reject);
    req.once('close', () => { if (!ended) reject(new Error('the body ended before it was complete')); });
    cutoff?.onCut(() => {
      req.off('data', onData);
      req.pause();
      reject(new BodyCut(cutoff.reason));
    });
  });
}

/** Status for a refusal rule: the adapters share one mapping so the same refusal reads the same everywhere. */
export function statusForRule(rule: string): number {
  if (rule === 'request.timeout') return 408;
  if (rule === 'request.concurrency') return 429;
  if (rule === 'unknown' || rule.startsWith('request.')) return 400;
  if (rule === 'audit.unavailable' || rule === 'session.unavailable') return 503;
  if (rule.endsWith('.rate') || rule === 'llm.budget.window') return 429;
  if (rule === 'max_inspect_bytes') return 413;
  return 403;
}
