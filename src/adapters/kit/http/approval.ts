// Holds an HTTP or LLM request for a human: it waits on the open connection, or is answered 202 in async mode.
import type { ServerResponse } from 'node:http';
import type { Services } from '../../../services/services.ts';
import type { TokenRecord } from '../../../services/store/store.ts';
import type { RequestContext } from '../../../pipeline/enforce.ts';

export interface HeldRequest {
  token: TokenRecord;
  ctx: RequestContext;
  protocol: 'http' | 'llm';
  summary: string;
  /** Everything that makes the request what it is (method, path, query, body digest): the approval binds to it. */
  exact: string;
  reason: string;
}

/** How the adapter answers in its own protocol's shape. */
export interface HoldAnswers {
  refuse(status: number, code: string, message: string, extra: Record<string, unknown>): void;
  accepted(approvalId: string, message: string): void;
}

/** Resolves true when the request may now be forwarded; false when an answer has already been sent. */
export async function awaitApproval(services: Services, held: HeldRequest, res: ServerResponse, answer: HoldAnswers): Promise<boolean> {
  const { approvals, audit } = services;
  const request = {
    token: held.token, connection: held.ctx.connection, protocol: held.protocol, sessionId: held.ctx.sessionId,
    runId: held.ctx.who.runId, step: held.ctx.who.step, summary: held.summary, exact: held.exact, reason: held.reason,
  };
  if (approvals.consume(request)) return true;
  const { record, outcome } = approvals.hold(request);
  if (approvals.mode === 'async') {
    answer.accepted(record.id, `${held.reason}; approval request ${record.id} is pending — send the identical request again once it is approved`);
    return false;
  }
  const gone = () => approvals.withdraw(record.id, 'the client disconnected');
  res.once('close', gone);
  const result = await outcome;
  res.off('close', gone);
  if (!result.approved) {
    if (!res.destroyed) answer.refuse(403, `approval.${result.record.status}`, result.message.replace(/^Gatehouse: /, ''), { approval: record.id });
    return false;
  }
  try {
    audit.append({ kind: 'approval.forwarded', sessionId: held.ctx.sessionId, tokenId: held.token.id, connection: held.ctx.connection, data: { id: record.id, summary: record.summary } });
  } catch (err) {
    answer.refuse(503, 'audit.unavailable', `the audit record could not be written (${(err as Error).message})`, {});
    return false;
  }
  approvals.markUsed(result.record);
  return true;
}
