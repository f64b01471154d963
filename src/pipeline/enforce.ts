// The one order every adapter follows: facts → policy → audit (before anything is forwarded) → verdict.
import type { AuditLog } from '../services/audit/log.ts';
import type { AuditRecord } from '../services/store/store.ts';
import type { Facts, Who } from './facts.ts';
import { deny, type Verdict } from './verdict.ts';

export interface RequestContext {
  who: Who;
  sessionId: string;
  connection: string;
}

export interface Judged {
  verdict: Verdict;
  record: AuditRecord | null;
}

/**
 * Judges one request and writes its audit record. If the record cannot be written the request is refused:
 * nothing is forwarded that the audit log does not hold.
 */
export function judge(audit: AuditLog, ctx: RequestContext, facts: Facts, decide: () => Verdict, detail: Record<string, unknown> = {}): Judged {
  let verdict: Verdict;
  try {
    verdict = facts.unknown ? deny('unknown', `Gatehouse could not understand this request: ${facts.unknown}`) : decide();
  } catch (err) {
    verdict = deny('policy.error', `Gatehouse policy failed on this request: ${(err as Error).message}`);
  }
  try {
    const record = audit.append({
      kind: 'request',
      sessionId: ctx.sessionId,
      tokenId: ctx.who.tokenId,
      connection: ctx.connection,
      verdict: verdict.kind,
      data: {
        protocol: facts.protocol,
        effect: facts.effect,
        summary: facts.summary,
        targets: facts.targets,
        ...(verdict.kind === 'allow' ? { grant: verdict.grant } : verdict.kind === 'deny' ? { rule: verdict.rule, message: verdict.message } : { grant: verdict.grant, reason: verdict.reason }),
        ...detail,
      },
    });
    return { verdict, record };
  } catch (err) {
    return { verdict: deny('audit.unavailable', `Gatehouse refused: the audit record could not be written (${(err as Error).message})`), record: null };
  }
}

/** Records what came of an allowed request (rows, duration, upstream error) once it is done. Best effort: the request already happened. */
export function recordOutcome(audit: AuditLog, ctx: RequestContext, requestSeq: number | undefined, outcome: Record<string, unknown>) {
  try {
    audit.append({ kind: 'result', sessionId: ctx.sessionId, tokenId: ctx.who.tokenId, connection: ctx.connection, data: { request: requestSeq, ...outcome } });
  } catch {
    // The effect already happened and its request record is committed; a lost outcome is reported by `audit verify` gaps only if records were removed.
  }
}
