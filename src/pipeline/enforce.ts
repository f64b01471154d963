// The one order every adapter follows: facts → policy → audit (before anything is forwarded) → verdict.
import type { Services } from '../services/services.ts';
import type { AuditEvent, AuditRecord } from '../services/store/store.ts';
import type { Facts } from '../services/policy/facts.ts';
import type { RequestContext } from './gate.ts';
import { deny, type Verdict } from '../services/policy/verdict.ts';

export type { RequestContext };

export interface Judged {
  verdict: Verdict;
  record: AuditRecord | null;
}

export interface QueuedJudged extends Judged {
  /**
   * Settles when the request's audit record is committed (group commit); undefined when it already is. Nothing the
   * verdict allows may be forwarded before it resolves; if it rejects the record is lost and the request must not run.
   */
  durable?: Promise<void>;
}

/**
 * Judges one request and queues its audit record for the next group commit, so sessions judging in the same turn of
 * the event loop share one transaction. The caller holds back what the verdict allows until `durable` resolves, and
 * refuses it if `durable` rejects: audit before effect, at a fraction of the commits.
 */
export function judgeQueued({ audit, metrics }: Pick<Services, 'audit' | 'metrics'>, ctx: RequestContext, facts: Facts, decide: () => Verdict, detail: Record<string, unknown> = {}): QueuedJudged {
  // Operations (services/telemetry): a request id in the record and the log line; the verdict counted once committed.
  const seen = metrics.request(ctx.connection, facts.protocol, ctx.sessionId);
  const verdict = verdictOf(facts, decide);
  try {
    const record = audit.enqueue(requestEvent(ctx, facts, verdict, { ...detail, requestId: seen.id }));
    const durable = audit.durable();
    const end = () => seen.end(verdict.kind === 'allow' ? 'forward' : verdict.kind === 'deny' ? 'refuse' : 'held', verdict.kind === 'deny' ? verdict.rule : undefined);
    if (durable) durable.then(end, () => seen.end('refuse', 'audit.unavailable'));
    else end();
    return { verdict, record, durable };
  } catch (err) {
    seen.end('refuse', 'audit.unavailable');
    return { verdict: auditUnavailable(err), record: null };
  }
}

/** `judgeQueued` for callers that can wait: resolves once the record is committed, or refuses if it could not be. */
export async function judgeDurably(services: Pick<Services, 'audit' | 'metrics'>, ctx: RequestContext, facts: Facts, decide: () => Verdict, detail: Record<string, unknown> = {}): Promise<Judged> {
  const judged = judgeQueued(services, ctx, facts, decide, detail);
  try {
    await judged.durable;
  } catch (err) {
    return { verdict: auditUnavailable(err), record: null };
  }
  return judged;
}

/**
 * Records what came of an allowed request (rows, duration, upstream error) once it is done. Best effort: the request
 * already happened, and its request record is committed. Deferred to ride along with the next commit: nothing waits for it.
 */
export function recordOutcome(audit: Services['audit'], ctx: RequestContext, requestSeq: number | undefined, outcome: Record<string, unknown>) {
  try {
    audit.defer({ kind: 'result', sessionId: ctx.sessionId, tokenId: ctx.who.tokenId, connection: ctx.connection, data: { request: requestSeq, ...outcome } });
  } catch {
    // A lost outcome leaves the chain intact (a failed batch is rolled back whole); the request record says what ran.
  }
}

function verdictOf(facts: Facts, decide: () => Verdict): Verdict {
  try {
    return facts.unknown ? deny('unknown', `Gatehouse could not understand this request: ${facts.unknown}`) : decide();
  } catch (err) {
    return deny('policy.error', `Gatehouse policy failed on this request: ${(err as Error).message}`);
  }
}

function requestEvent(ctx: RequestContext, facts: Facts, verdict: Verdict, detail: Record<string, unknown>): AuditEvent {
  return {
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
  };
}

const auditUnavailable = (err: unknown) => deny('audit.unavailable', `Gatehouse refused: the audit record could not be written (${(err as Error).message})`);
