// The gate: the one path every request of every protocol takes — who asks, what policy says, a human if it must, the
// audit record committed, and only then an outcome the adapter renders in its own wire format.
//
//   admit / authenticate ─▶ open ─▶ pass: facts ─policy─▶ verdict ─▶ (hold ─▶ wait ─▶ audit the approval)
//                                        └─ request record, durable ─▶ forward { obligations, done } | refuse | held
//
// Adapters never touch tokens, sessions, approvals or the audit log themselves: approvals, "the audit record could not
// be written" refusals and revocation cut-offs are written here, once.
import type { Grant } from '../config/schema.ts';
import type { HoldRequest, Outcome as ApprovalOutcome } from '../services/approvals/approvals.ts';
import { AuthThrottle } from '../services/identity/throttle.ts';
import type { Services } from '../services/services.ts';
import type { ChainLink } from '../services/audit/log.ts';
import type { AuditEvent, TokenRecord } from '../services/store/store.ts';
import type { Facts, Who } from '../services/policy/facts.ts';
import type { Logger } from '../services/telemetry/logger.ts';
import { deny, type Obligations, type Verdict } from '../services/policy/verdict.ts';

/** The session a request belongs to: every record the gate writes for it carries these. */
export interface RequestContext {
  who: Who;
  sessionId: string;
  connection: string;
}

export type AdmissionFailure = 'missing' | 'unknown' | 'expired' | 'revoked' | 'throttled' | 'no-grant' | 'store-unreachable';

export type Admission<G extends Grant> =
  | { ok: true; token: TokenRecord; grant: G }
  | { ok: false; reason: AdmissionFailure; message: string; token?: TokenRecord };

/** Where a credential came from: the address is what failed attempts are throttled by, with the user name given. */
export interface Presented {
  address: string;
  user?: string;
}

export interface SessionStart {
  token: TokenRecord;
  connection: string;
  protocol: string;
  /** `address:port` of the agent, for the session list. */
  client: string;
  runId?: string | null;
  step?: string | null;
}

/** One request to judge: its facts, the adapter's pure policy over them, and what binds an approval to it. */
export interface Ask<F extends Facts> {
  facts: F;
  policy: (facts: F) => Verdict;
  /** Everything that makes the request what it is (an approval covers exactly this); defaults to the summary. */
  exact?: string;
  /** Extra fields for the request's audit record (method, endpoint, guard notes...). */
  detail?: Record<string, unknown>;
}

export interface Forward {
  kind: 'forward';
  grant: string;
  obligations: Obligations;
  /** Records what came of the request (rows, status, duration, an upstream error): once per execution of it. */
  done(result: Record<string, unknown>): void;
}

export interface Refuse {
  kind: 'refuse';
  rule: string;
  /** Why, for the agent: names the missing grant or the rule. Adapters add their protocol's framing. */
  message: string;
  /** The approval request this refusal is about (denied, expired, withdrawn, or still pending in async mode). */
  approval?: string;
}

export interface Held {
  kind: 'held';
  approval: string;
  /** Settles when people have decided (or the request timed out or was withdrawn). */
  settled: Promise<Forward | Refuse>;
  /** The agent gave up (cancel, disconnect): the approval request is withdrawn and `settled` refuses. */
  withdraw(reason: string): void;
  /**
   * Stop waiting but leave the request pending: once approved, the identical request asked again passes once. For
   * protocols whose clients give up on slow answers (MCP tool calls), after answering "awaiting approval".
   */
  detach(): void;
}

export type Outcome = Forward | Refuse | Held;

/** Last-use times are written at most this often per session, not on every request. */
const TOUCH_EVERY_MS = 30_000;

/** Gatehouse's words as an agent reads them: `Gatehouse: ` in front, once (some policies' messages carry it already). */
export const framed = (message: string) => (message.startsWith('Gatehouse') ? message : `Gatehouse: ${message}`);

/** The same words for people (the approvals inbox, a webhook): without the framing an agent's client needs. */
const unframed = (message: string) => message.replace(/^Gatehouse: /, '');

/** Refusal rules an adapter may want to render specially. */
export const APPROVAL_PENDING = 'approval.pending';
export const AUDIT_UNAVAILABLE = 'audit.unavailable';
export const REVOCATIONS_STALE = 'revocations.stale';

/** Why no token can be checked while the store is down: the agent learns it is the gateway's trouble, not its token's. */
export const STORE_UNREACHABLE_MESSAGE = 'the gateway\'s store is unreachable; refusing until it is back';

const STORE_UNREACHABLE = { ok: false, reason: 'store-unreachable', message: STORE_UNREACHABLE_MESSAGE } as const;

const FAILURE_MESSAGES: Record<'unknown' | 'expired' | 'revoked', string> = {
  unknown: 'is not a valid Gatehouse token',
  expired: 'has expired',
  revoked: 'has been revoked',
};

/**
 * A store outage as the operator's log tells it: once when it starts and once when it ends, however many requests it
 * refuses. The store's own words (a host and port, a path) go here, never to the agent.
 */
export class StoreOutage {
  private down = false;

  constructor(private readonly log: Logger) {}

  failed(err: unknown, what: string) {
    if (this.down) return;
    this.down = true;
    this.log.error({ err }, `the store cannot ${what}; agents are refused until it is back`);
  }

  /** A write landed: only a commit proves the store is back. */
  answered() {
    if (!this.down) return;
    this.down = false;
    this.log.info('the store answers again');
  }
}

export class Gate {
  private readonly outage: StoreOutage;

  constructor(private readonly services: Services) {
    this.outage = new StoreOutage(services.log);
  }

  /**
   * A bearer credential (Authorization: Bearer, Redis AUTH, Proxy-Authorization): checks the token, throttles failures,
   * audits refusals, and finds the role's grant on `connection`.
   */
  async admit<G extends Grant>(connection: string, presented: Presented & { secret?: string }): Promise<Admission<G>> {
    const { tokens } = this.services;
    const { secret, ...from } = presented;
    if (!secret) return this.refuseAuth(connection, from, 'missing', 'missing Gatehouse token');
    const check = await this.lookup(() => tokens.check(secret));
    if (check === undefined) return STORE_UNREACHABLE;
    // A valid token always gets through; only failures are throttled (by address: a bearer token names no user).
    if (check.ok) return this.grantOf<G>(connection, check.token, from);
    if (await this.throttled(connection, from, from.address)) return this.refuseAuth(connection, from, 'throttled', 'too many failed authentication attempts from this address; try again later');
    return this.refuseAuth(connection, from, check.reason, `the token ${FAILURE_MESSAGES[check.reason]}`);
  }

  /**
   * Challenge-response protocols (SCRAM, MySQL's password exchanges): `verify` picks, among the live tokens this user
   * name may mean, the one whose verifier the client's proof matches. The dead ones are tried next, only to say
   * precisely why a real token fails (revoked or expired) instead of "password authentication failed".
   */
  async authenticate<G extends Grant>(connection: string, from: Presented & { user: string }, verify: (candidates: TokenRecord[]) => TokenRecord | undefined): Promise<Admission<G>> {
    const { tokens } = this.services;
    const candidates = await this.lookup(() => tokens.scramCandidates(from.user));
    if (candidates === undefined) return STORE_UNREACHABLE;
    const token = verify(candidates);
    if (token && tokens.status(token).ok) return this.grantOf<G>(connection, token, from);
    // Failures count against the address and the user name given, so one agent guessing does not lock out its neighbours.
    if (await this.throttled(connection, from, AuthThrottle.key(from.address, from.user))) {
      return this.refuseAuth(connection, from, 'throttled', 'too many failed authentication attempts for this user name from this address; try again later');
    }
    const dead = await this.lookup(() => tokens.deadTokensForUser(from.user));
    if (dead === undefined) return STORE_UNREACHABLE;
    const match = token ?? (dead.length ? verify(dead) : undefined);
    if (match) {
      const why = match.revokedAt !== null ? 'revoked' : 'expired';
      return this.refuseAuth(connection, from, why, `token ${match.id} (${match.label}) has been ${why}`, match);
    }
    return this.refuseAuth(connection, from, 'unknown', `password authentication failed for user "${from.user}"`);
  }

  /**
   * Opens a session, audited before it exists (so this rejects when the audit is unavailable). `onCut` is told why when
   * the gateway ends it — revocation, shutdown — and must end the session's live traffic in its protocol at once.
   */
  async open(start: SessionStart, onCut: (reason: string) => void): Promise<GateSession> {
    const { token } = start;
    let session: GateSession | undefined;
    const live = await this.services.sessions.open(
      { tokenId: token.id, label: token.label, role: token.role, connection: start.connection, protocol: start.protocol, client: start.client, runId: start.runId ?? null, step: start.step ?? null },
      (reason) => {
        session?.withdrawHeld(reason);
        onCut(reason);
      },
    ).then((opened) => (this.outage.answered(), opened), (err: unknown) => {
      this.outage.failed(err, 'record a session');
      throw new Error('the session could not be recorded, so nothing was served; try again later');
    });
    this.services.tokens.touch(token.id, this.touchFailed);
    const r = live.record;
    session = new GateSession(this.services, this.outage, token, start.protocol, {
      who: { tokenId: token.id, label: token.label, role: token.role, runId: r.runId ?? undefined, step: r.step ?? undefined },
      sessionId: r.id,
      connection: start.connection,
    });
    return session;
  }

  /**
   * A token lookup in the store; undefined when the store cannot answer, so the agent is refused with the reason rather
   * than an internal error. Not audited: the audit trail lives in the same store.
   */
  private async lookup<T>(read: () => Promise<T>): Promise<T | undefined> {
    try {
      // A lookup may be answered from the token cache, so it proves nothing about the store: commits tell the outage's end.
      return await read();
    } catch (err) {
      this.outage.failed(err, 'answer token lookups');
      return undefined;
    }
  }

  private grantOf<G extends Grant>(connection: string, token: TokenRecord, from: Presented): Admission<G> {
    const grant = this.services.config.roles[token.role]?.[connection] as G | undefined;
    if (grant) return { ok: true, token, grant };
    return this.refuseAuth(connection, from, 'no-grant', `role "${token.role}" has no grant on connection "${connection}"`, token);
  }

  /** Audits a refusal made before any token was presented (a client too slow to send its request head). */
  refusedBeforeAdmission(connection: string, kind: string, data: Record<string, unknown>) {
    this.audit({ kind, tokenId: null, connection, verdict: 'deny', data });
  }

  /**
   * A protocol violation before authentication (garbage where a login was due) counts against the client like a failed
   * login. Returns true once the client is throttled: its violations need no further log line each.
   */
  async violation(connection: string, from: Presented): Promise<boolean> {
    return (await this.countFailure(connection, from, from.user !== undefined ? AuthThrottle.key(from.address, from.user) : from.address)).throttled;
  }

  /** Counts a failed attempt; when the key was already over its limit, holds the answer (slowing guesses) and says so. */
  private async throttled(connection: string, from: Presented, key: string): Promise<boolean> {
    if (!(await this.countFailure(connection, from, key)).throttled) return false;
    await new Promise((resolve) => setTimeout(resolve, this.services.throttle.options.delayMs).unref());
    return true;
  }

  /** The moment a client becomes throttled is audited and logged, once per window. */
  private async countFailure(connection: string, from: Presented, key: string) {
    const { throttle } = this.services;
    const failure = await throttle.fail(key);
    if (failure.started) {
      const { maxFailures, windowMs, delayMs } = throttle.options;
      const reason = `more than ${maxFailures} failed attempts within ${windowMs / 1000}s; failures are now answered after ${delayMs} ms`;
      this.audit({ kind: 'auth.throttled', connection, verdict: 'deny', data: { client: from.address, reason, ...(from.user !== undefined ? { user: from.user } : {}) } });
      this.services.log.warn({ connection, client: from.address, user: from.user }, 'throttling failed authentications');
    }
    return failure;
  }

  private refuseAuth<G extends Grant>(connection: string, from: Presented, reason: AdmissionFailure, message: string, token?: TokenRecord): Admission<G> {
    // Every failed attempt is an auth.failure (a throttled one too: its reason says so); the moment throttling starts is
    // its own auth.throttled record (countFailure).
    const kind = reason === 'no-grant' ? 'auth.refused' : 'auth.failure';
    this.audit({ kind, tokenId: token?.id ?? null, connection, verdict: 'deny', data: { client: from.address, reason, message, ...(from.user !== undefined ? { user: from.user } : {}) } });
    return { ok: false, reason, message, ...(token ? { token } : {}) };
  }

  private audit(event: AuditEvent) {
    // An authentication is refused either way; the audit's own failure is counted by its metrics.
    this.services.audit.append(event).catch(() => undefined);
  }

  /** A last-use time is informational: a failed write is logged, and the request goes on. */
  private readonly touchFailed = (err: Error) => this.services.log.warn({ err }, 'cannot write a token\'s last-use time');
}

/** One agent session (a database connection, an HTTP token/run/step, an MCP session): judges its requests in order. */
export class GateSession {
  private readonly held = new Map<string, HeldState>();
  private closed = false;
  /** When the token's last-use time was last written. */
  private touched = Date.now();

  constructor(private readonly services: Services, private readonly outage: StoreOutage, readonly token: TokenRecord, readonly protocol: string, readonly ctx: RequestContext) {}

  /**
   * Judges one request and queues its record for the next group commit; resolves once the record is committed. Several
   * requests may be passed in one turn of the event loop (a pipeline): their records share one commit. Never rejects.
   */
  pass<F extends Facts>(ask: Ask<F>): Promise<Outcome> {
    this.touch();
    // Operations (services/telemetry): a request id in the record and the log line; the outcome counted and timed.
    const seen = this.services.metrics.request(this.ctx.connection, this.protocol, this.ctx.sessionId);
    return this.judge(ask, seen.id).then((o) => (seen.end(o.kind, o.kind === 'refuse' ? o.rule : undefined), o));
  }

  private judge<F extends Facts>(ask: Ask<F>, requestId: string): Promise<Outcome> {
    // A node that may have missed a revocation serves nothing until it has caught up (node.revocation_stale_after).
    const stale = this.services.tokens.revocationsStale();
    const verdict = stale ? deny(REVOCATIONS_STALE, stale) : verdictOf(ask);
    const { audit } = this.services;
    let record: ChainLink;
    try {
      record = audit.enqueue(requestEvent(this.ctx, ask.facts, verdict, requestId, ask.detail));
    } catch (err) {
      return Promise.resolve(this.auditUnavailable(err));
    }
    const durable = audit.durable();
    const settle = () => this.settle(verdict, record, ask.facts.summary, ask.exact);
    return durable ? durable.then(() => (this.outage.answered(), settle()), (err: unknown) => this.auditUnavailable(err)) : settle();
  }

  /**
   * Ends the session (the client left, the adapter closed it, or it failed); a request still waiting for a human is
   * withdrawn. A `failure` (an exception the connection's error boundary caught, a protocol violation) is audited.
   */
  close(reason: string, failure?: { code: string; message: string }) {
    if (this.closed) return;
    this.closed = true;
    if (failure) {
      // The session ends either way; its close record tries the audit again.
      this.services.audit.append({ kind: 'session.error', sessionId: this.ctx.sessionId, tokenId: this.token.id, connection: this.ctx.connection, verdict: 'deny', data: failure }).catch(() => undefined);
    }
    this.withdrawHeld(reason);
    void this.services.sessions.close(this.ctx.sessionId, reason);
  }

  /** A long session (a pooled connection, a token's HTTP session) keeps its token's last-use time current, cheaply. */
  private touch() {
    const now = Date.now();
    if (now - this.touched < TOUCH_EVERY_MS) return;
    this.touched = now;
    this.services.tokens.touch(this.token.id, (err) => this.services.log.warn({ err }, 'cannot write a token\'s last-use time'));
  }

  /** Withdraws every request of this session still waiting for a human (revocation, disconnect). */
  withdrawHeld(reason: string) {
    for (const h of [...this.held.values()]) h.withdraw(reason);
  }

  private async settle(verdict: Verdict, record: ChainLink, summary: string, exact = summary): Promise<Outcome> {
    if (verdict.kind === 'deny') return { kind: 'refuse', rule: verdict.rule, message: verdict.message };
    if (verdict.kind === 'allow') return this.forward(verdict.grant, verdict.obligations, record);
    const { approvals } = this.services;
    const request: HoldRequest = {
      token: this.token, connection: this.ctx.connection, protocol: this.protocol, sessionId: this.ctx.sessionId,
      runId: this.ctx.who.runId, step: this.ctx.who.step, summary, exact, reason: unframed(verdict.reason),
    };
    let pending: Awaited<ReturnType<typeof approvals.hold>>;
    try {
      // An approval given earlier for this exact request (async retry, an approval window) lets it through once.
      if (await approvals.consume(request)) return this.forward(verdict.grant, verdict.obligations, record);
      pending = await approvals.hold(request);
    } catch (err) {
      return this.auditUnavailable(err);
    }
    const id = pending.record.id;
    if (approvals.mode === 'async') {
      return { kind: 'refuse', rule: APPROVAL_PENDING, approval: id, message: `${verdict.reason}; approval request ${id} is pending — send the identical request again once it is approved` };
    }
    const state = new HeldState(id, pending.outcome, approvals, this.held);
    this.held.set(id, state);
    return {
      kind: 'held',
      approval: id,
      settled: state.decided.then((o) => this.afterApproval(o, verdict.grant, verdict.obligations, record)),
      withdraw: (reason) => state.withdraw(reason),
      detach: () => state.detach(),
    };
  }

  private async afterApproval(o: ApprovalOutcome | 'detached', grant: string, obligations: Obligations, record: ChainLink): Promise<Forward | Refuse> {
    if (o === 'detached') return { kind: 'refuse', rule: APPROVAL_PENDING, message: 'nobody waits for this approval any more' };
    if (!o.approved) return { kind: 'refuse', rule: `approval.${o.record.status}`, approval: o.record.id, message: o.message };
    try {
      // Used in one store transaction before anything moves: an approval releases its request exactly once.
      if (!(await this.services.approvals.markUsed(o.record))) {
        return { kind: 'refuse', rule: 'approval.used', approval: o.record.id, message: `approval request ${o.record.id} was used already` };
      }
      await this.services.audit.append({ kind: 'approval.forwarded', sessionId: this.ctx.sessionId, tokenId: this.token.id, connection: this.ctx.connection, data: { id: o.record.id, summary: o.record.summary } });
    } catch (err) {
      return this.auditUnavailable(err);
    }
    return this.forward(grant, obligations, record);
  }

  /** The request is refused: the agent hears what happened, the operator's log why (StoreOutage). */
  private auditUnavailable(err: unknown): Refuse {
    this.outage.failed(err, 'take audit records');
    return { kind: 'refuse', rule: AUDIT_UNAVAILABLE, message: 'the audit record could not be written, so nothing was forwarded; try again later' };
  }

  private forward(grant: string, obligations: Obligations, record: ChainLink): Forward {
    const { audit } = this.services;
    const ctx = this.ctx;
    return {
      kind: 'forward', grant, obligations,
      done(result) {
        try {
          audit.defer({ kind: 'result', sessionId: ctx.sessionId, tokenId: ctx.who.tokenId, connection: ctx.connection, data: { request: record.seq, ...result } });
        } catch {
          // A lost outcome leaves the chain intact (a failed batch is rolled back whole); the request record says what ran.
        }
      },
    };
  }
}

/** A request waiting for people: withdrawn by the agent, or detached so a retry can use the approval later. */
class HeldState {
  readonly decided: Promise<ApprovalOutcome | 'detached'>;
  private detachNow!: () => void;

  constructor(readonly id: string, outcome: Promise<ApprovalOutcome>, private readonly approvals: Services['approvals'], private readonly registry: Map<string, HeldState>) {
    const detached = new Promise<'detached'>((resolve) => { this.detachNow = () => resolve('detached'); });
    this.decided = Promise.race([outcome, detached]).finally(() => registry.delete(id));
  }

  withdraw(reason: string) {
    if (!this.registry.has(this.id)) return;
    // A withdrawal the store cannot record leaves the request pending until it expires; the agent is gone either way.
    this.approvals.withdraw(this.id, reason).catch(() => undefined);
  }

  detach() {
    this.registry.delete(this.id);
    this.detachNow();
  }
}

function verdictOf<F extends Facts>(ask: Ask<F>): Verdict {
  try {
    return ask.facts.unknown ? deny('unknown', `the request could not be understood: ${ask.facts.unknown}`) : ask.policy(ask.facts);
  } catch (err) {
    return deny('policy.error', `the policy failed on this request: ${(err as Error).message}`);
  }
}

function requestEvent(ctx: RequestContext, facts: Facts, verdict: Verdict, requestId: string, detail?: Record<string, unknown>): AuditEvent {
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
      requestId,
    },
  };
}
