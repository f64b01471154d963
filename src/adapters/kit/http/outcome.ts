// The gate's outcome answered over HTTP, the same way for every HTTP-shaped adapter: a refusal in the adapter's error
// shape with the status its rule maps to, a held request waiting on the open connection (or 202 in async mode).
import type { ServerResponse } from 'node:http';
import { APPROVAL_PENDING, type Forward, type Outcome, type Refuse } from '../../../pipeline/gate.ts';
import { sendJson, statusForRule } from './reply.ts';

/** An adapter's error body (its provider's shape, so the agent's SDK reports the message); `extra` rides beside it. */
export type ErrorBody = (status: number, code: string, message: string, extra?: Record<string, unknown>) => unknown;

/**
 * Resolves with the Forward when the request may go upstream, or undefined once the agent has been answered. A held
 * request waits for people while the agent stays connected; its leaving withdraws the approval request.
 */
export async function settle(outcome: Outcome, res: ServerResponse, refuse: (refusal: Refuse) => void): Promise<Forward | undefined> {
  if (outcome.kind === 'forward') return outcome;
  if (outcome.kind === 'refuse') {
    if (outcome.rule === APPROVAL_PENDING && outcome.approval) {
      sendJson(res, 202, { status: 'pending_approval', approval: outcome.approval, message: `Gatehouse: ${outcome.message}` });
    } else refuse(outcome);
    return undefined;
  }
  const gone = () => outcome.withdraw('the client disconnected');
  res.once('close', gone);
  const settled = await outcome.settled;
  res.off('close', gone);
  if (settled.kind === 'forward') return settled;
  // A cut request (revocation) has had its answer already.
  if (!res.headersSent && !res.destroyed) refuse(settled);
  return undefined;
}

export interface RefusalOptions {
  /** When the rule's own status is not the one (e.g. an unserved LLM endpoint is 404). */
  status?: number;
  /** Seconds until a 429 is worth retrying. */
  retryAfter?: number;
  /** Fields beside the message (what grant was needed). */
  extra?: Record<string, unknown>;
}

/** Answers a refusal: the status its rule maps to, Retry-After on a 429, the approval it concerns, in `error`'s shape. */
export function sendRefusal(res: ServerResponse, refusal: Refuse, error: ErrorBody, o: RefusalOptions = {}) {
  const status = o.status ?? statusForRule(refusal.rule);
  const retryAfter = refusal.rule === 'request.concurrency' ? 1 : o.retryAfter;
  const extra = refusal.approval ? { ...o.extra, approval: refusal.approval } : o.extra;
  sendJson(res, status, error(status, refusal.rule, refusal.message, extra), status === 429 && retryAfter !== undefined ? { 'retry-after': String(retryAfter) } : {});
}
