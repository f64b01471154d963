// Just-in-time approvals: a held request waits here for people with the approver role, durably and audited.
import { createHash, randomUUID } from 'node:crypto';
import { parseDuration } from '../../config/duration.ts';
import type { AdminKey, ApprovalsConfig } from '../../config/schema.ts';
import type { AuditLog } from '../audit/log.ts';
import { redact } from '../guards/index.ts';
import type { ApprovalRecord, ApprovalStatus, Store, TokenRecord } from '../store/store.ts';

export interface HoldRequest {
  token: TokenRecord;
  connection: string;
  protocol: string;
  sessionId: string | null;
  runId?: string | null;
  step?: string | null;
  /** The request as shown to approvers (masked where masking applies). */
  summary: string;
  /** What binds an approval to this exact request (see `fingerprint`). */
  exact: string;
  reason: string;
}

export type Outcome =
  | { approved: true; record: ApprovalRecord }
  | { approved: false; record: ApprovalRecord; message: string };

export class ApprovalError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export type ApprovalListener = (record: ApprovalRecord) => void;

/** Binds an approval to one token asking one exact thing on one connection. */
export const fingerprint = (tokenId: string, connection: string, exact: string) =>
  createHash('sha256').update(`${tokenId}\n${connection}\n${exact}`).digest('hex');

export class Approvals {
  private readonly waiting = new Map<string, { resolve: (o: Outcome) => void; timer: NodeJS.Timeout }>();
  private readonly listeners = new Set<ApprovalListener>();
  private readonly timeoutMs: number;
  private watchTimer?: NodeJS.Timeout;

  /** `secret` keys the pseudonyms in summaries: approvers see the request with PII and secrets partially masked. */
  constructor(private readonly store: Store, private readonly audit: AuditLog, readonly config: ApprovalsConfig, private readonly secret: Buffer) {
    this.timeoutMs = parseDuration(config.timeout) * 1000;
  }

  /** Requests a previous process held can never be forwarded by this one: they fail, visibly. Run once at start-up. */
  async recover() {
    for (const failed of await this.store.failPendingApprovals(Date.now())) {
      await this.audit.append({ kind: 'approval.failed', tokenId: failed.tokenId, sessionId: failed.sessionId, connection: failed.connection, data: { id: failed.id, reason: 'the gateway restarted while the request was held' } });
    }
  }

  get mode() {
    return this.config.mode;
  }

  /** Requests this process holds for a human decision now. */
  get held(): number {
    return this.waiting.size;
  }

  /**
   * An approval that already covers this exact request (async retry after approval, or an approval window);
   * it is consumed here, in one store transaction, so a single-use approval lets one request through, once.
   */
  async consume(req: Pick<HoldRequest, 'token' | 'connection' | 'exact'>): Promise<ApprovalRecord | undefined> {
    const now = Date.now();
    const used = await this.store.consumeApproval(fingerprint(req.token.id, req.connection, req.exact), now);
    if (!used) return undefined;
    await this.audit.append({ kind: 'approval.used', tokenId: used.tokenId, connection: used.connection, data: { id: used.id, window: used.windowUntil !== null && used.windowUntil > now } });
    return used;
  }

  /** Records a held request (audited first) and returns it with a promise of the human decision. */
  async hold(req: HoldRequest, mode = this.config.mode): Promise<{ record: ApprovalRecord; outcome: Promise<Outcome> }> {
    const now = Date.now();
    const record: ApprovalRecord = {
      id: 'apr_' + randomUUID().replace(/-/g, '').slice(0, 16),
      status: 'pending',
      createdAt: now,
      expiresAt: now + this.timeoutMs,
      tokenId: req.token.id,
      label: req.token.label,
      role: req.token.role,
      createdBy: req.token.createdBy,
      runId: req.runId ?? null,
      step: req.step ?? null,
      connection: req.connection,
      protocol: req.protocol,
      sessionId: req.sessionId,
      summary: redact(req.summary, { strategy: 'partial', key: this.secret }).text,
      reason: req.reason,
      fingerprint: fingerprint(req.token.id, req.connection, req.exact),
      mode,
      required: this.config.required,
      decisions: [],
      decidedAt: null,
      windowUntil: null,
      usedAt: null,
    };
    await this.audit.append({ kind: 'approval.requested', tokenId: record.tokenId, sessionId: record.sessionId, connection: record.connection, verdict: 'hold', data: { id: record.id, summary: record.summary, reason: record.reason, expiresAt: record.expiresAt, mode } });
    // Waiting starts before the record is visible to approvers: a decision can never arrive before its waiter.
    const outcome = new Promise<Outcome>((resolve) => {
      const timer = setTimeout(() => void this.expire(record.id).catch(() => undefined), this.timeoutMs);
      timer.unref();
      this.waiting.set(record.id, { resolve, timer });
    });
    try {
      await this.store.insertApproval(record);
    } catch (err) {
      clearTimeout(this.waiting.get(record.id)?.timer);
      this.waiting.delete(record.id);
      throw err;
    }
    this.emit(record);
    return { record, outcome };
  }

  /** A person's decision. Approvers only; never the token's own issuer; each approver counts once. */
  async decide(id: string, approver: AdminKey, decision: 'approve' | 'deny', reason?: string, windowSeconds?: number): Promise<ApprovalRecord> {
    if (!approver.roles.includes('approver')) throw new ApprovalError(403, `admin key "${approver.name}" lacks the approver role`);
    let approvals = 0;
    // Read, checked and written in one transaction: two approvers (or two nodes) never both decide the same request.
    const changed = await this.store.changeApproval(id, (record) => {
      if (record.status !== 'pending') throw new ApprovalError(409, `approval request ${id} is already ${record.status}`);
      if (record.createdBy === approver.name) throw new ApprovalError(403, `"${approver.name}" issued the token that asks; nobody approves their own request`);
      if (record.decisions.some((d) => d.by === approver.name)) throw new ApprovalError(409, `"${approver.name}" has already decided on ${id}`);
      const now = Date.now();
      const next: ApprovalRecord = { ...record, decisions: [...record.decisions, { by: approver.name, decision, reason: reason ?? null, at: now }] };
      approvals = next.decisions.filter((d) => d.decision === 'approve').length;
      if (decision === 'deny') Object.assign(next, { status: 'denied' as const, decidedAt: now });
      else if (approvals >= next.required) {
        Object.assign(next, { status: 'approved' as const, decidedAt: now, windowUntil: windowSeconds ? now + windowSeconds * 1000 : null });
      }
      return next;
    });
    if (!changed) throw new ApprovalError(404, `no approval request ${id}`);
    const next = changed.after;
    try {
      await this.audit.append({
        kind: decision === 'approve' ? 'approval.approved' : 'approval.denied', tokenId: next.tokenId, sessionId: next.sessionId, connection: next.connection,
        data: { id, by: approver.name, reason: reason ?? null, approvals, required: next.required, status: next.status, windowUntil: next.windowUntil },
      });
    } catch (err) {
      // A decision the audit cannot record must not release anything: the request fails, and the approver hears why.
      const failed = await this.store.changeApproval(id, (c) => (c.status === next.status ? { ...c, status: 'failed', decidedAt: Date.now() } : undefined)).catch(() => undefined);
      if (failed && failed.after !== failed.before) this.settle(failed.after, 'the decision could not be audited');
      throw err;
    }
    this.emit(next);
    if (next.status !== 'pending') this.settle(next);
    return next;
  }

  /** The agent gave up (client cancel, disconnect, revocation): the request can no longer be approved. */
  async withdraw(id: string, why: string) {
    const next = await this.end(id, 'withdrawn');
    if (!next) return;
    await this.audit.append({ kind: 'approval.withdrawn', tokenId: next.tokenId, sessionId: next.sessionId, connection: next.connection, data: { id, reason: why } }).catch(() => undefined);
    this.emit(next);
    this.settle(next, why);
  }

  /**
   * A held request that was approved is about to be forwarded: single-use, so it is used now — in one transaction, so
   * it is forwarded once even if two nodes hear of the decision. Resolves to false if it was used already.
   */
  async markUsed(record: ApprovalRecord): Promise<boolean> {
    const changed = await this.store.changeApproval(record.id, (current) =>
      current.status === 'approved' && current.usedAt === null ? { ...current, status: 'used', usedAt: Date.now() } : undefined);
    if (!changed || changed.after === changed.before) return false;
    this.emit(changed.after);
    return true;
  }

  get(id: string) {
    return this.store.approvalById(id);
  }

  list(status?: ApprovalStatus, limit = 200) {
    return this.store.listApprovals(status, limit);
  }

  onChange(listener: ApprovalListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  stop() {
    clearTimeout(this.watchTimer);
    this.watchTimer = undefined;
    for (const { timer } of this.waiting.values()) clearTimeout(timer);
  }

  /**
   * Settles waiters whose request was decided elsewhere (another node or process sharing the store): the decision is
   * read from the store every `intervalMs`. Forwarding still goes through markUsed, so it happens once.
   */
  watch(intervalMs = 500) {
    const poll = async () => {
      for (const id of [...this.waiting.keys()]) {
        const record = await this.store.approvalById(id).catch(() => undefined);
        if (record && record.status !== 'pending') this.settle(record);
      }
      if (this.watchTimer) this.watchTimer = setTimeout(() => void poll(), intervalMs).unref();
    };
    this.watchTimer = setTimeout(() => void poll(), intervalMs).unref();
  }

  private async expire(id: string) {
    const next = await this.end(id, 'expired');
    if (!next) {
      // Decided elsewhere in the meantime: the waiter hears what was decided rather than waiting on.
      const record = await this.store.approvalById(id);
      if (record && record.status !== 'pending') this.settle(record);
      return;
    }
    await this.audit.append({ kind: 'approval.expired', tokenId: next.tokenId, sessionId: next.sessionId, connection: next.connection, data: { id } }).catch(() => undefined);
    this.emit(next);
    this.settle(next);
  }

  /** Moves a pending request to a final status; undefined if it was no longer pending. */
  private async end(id: string, status: 'withdrawn' | 'expired'): Promise<ApprovalRecord | undefined> {
    const changed = await this.store.changeApproval(id, (current) => (current.status === 'pending' ? { ...current, status, decidedAt: Date.now() } : undefined));
    return changed && changed.after !== changed.before ? changed.after : undefined;
  }

  private settle(record: ApprovalRecord, why?: string) {
    const waiter = this.waiting.get(record.id);
    if (!waiter) return;
    this.waiting.delete(record.id);
    clearTimeout(waiter.timer);
    if (record.status === 'approved') return waiter.resolve({ approved: true, record });
    const last = record.decisions.at(-1);
    const message = record.status === 'denied'
      ? `request ${record.id} was denied by ${last?.by}${last?.reason ? `: ${last.reason}` : ''}`
      : record.status === 'expired' ? `request ${record.id} expired before anyone approved it`
      : record.status === 'failed' ? `request ${record.id} failed (${why ?? record.status})`
      : `request ${record.id} was withdrawn (${why ?? record.status})`;
    waiter.resolve({ approved: false, record, message });
  }

  private emit(record: ApprovalRecord) {
    for (const l of this.listeners) {
      try { l(record); } catch { /* a listener must not break a decision */ }
    }
  }
}
