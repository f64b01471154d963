// A request body must arrive within a deadline: a body trickled a byte at a time would otherwise hold a request (and
// its upstream socket) open for ever. Header deadlines are the server's (see server.ts).
import type { IncomingMessage } from 'node:http';
import type { Gate } from '../../../pipeline/gate.ts';
import type { Cutoff } from './upstream.ts';

export const bodyTimeoutReason = (ms: number) => `the request body did not arrive within ${ms} ms`;

/**
 * Cuts the request (`cutoff`) if its body has not fully arrived `ms` after the headers did. Returns the function that
 * clears the deadline once the request is over; the cut reason is `bodyTimeoutReason(ms)`.
 */
export function bodyDeadline(req: IncomingMessage, ms: number, cutoff: Cutoff): () => void {
  if (req.complete) return () => {};
  const timer = setTimeout(() => { if (!req.complete) cutoff.cut(bodyTimeoutReason(ms)); }, ms);
  timer.unref();
  const clear = () => clearTimeout(timer);
  req.once('end', clear);
  return clear;
}

/** Audits a header timeout (the server answers it with 408): no token is known yet, only the client's address. */
export const auditHeaderTimeout = (gate: Gate, connection: string, ms: number) => (client: string) =>
  gate.refusedBeforeAdmission(connection, 'request.timeout', { client, phase: 'headers', ms, status: 408 });
