// One agent's PostgreSQL session after authentication: judges every statement, forwards, and relays the replies.
//
// Responses are matched to requests with a FIFO of what the upstream owes us (replies.ts), exactly as the protocol
// orders them. A refused statement is not answered locally: it is replaced by a statement that fails to parse
// upstream, so the upstream itself aborts the transaction or skips to Sync as PostgreSQL would, and only the error text
// is rewritten on the way back. One mechanism serves simple and extended protocol.
//
// Every callback runs inside the connection's error boundary: an exception ends this session with a FATAL and an
// audit record, never the process. Reading stops on either side while the other cannot take more (flow.ts).
import type { Socket } from 'node:net';
import { judgeQueued, type RequestContext } from '../../pipeline/enforce.ts';
import type { AdapterServices } from '../../pipeline/adapter.ts';
import { guardsActive } from '../../pipeline/content-guards.ts';
import type { Obligations, Verdict } from '../../services/policy/verdict.ts';
import type { SqlGrant } from '../../config/schema.ts';
import type { Outcome } from '../../services/approvals/approvals.ts';
import type { SqlCatalog } from '../../services/policy/sql/catalog.ts';
import { decideSqlAll, sqlObligations } from '../../services/policy/sql/decide.ts';
import type { TokenRecord } from '../../services/store/store.ts';
import type { ConnectionBoundary } from './boundary.ts';
import { errorResponse } from './codec/backend.ts';
import { ProtocolError } from './codec/cursor.ts';
import {
  describe as describeMessage, parse as parseMessage, parseBind, parseClose, parseDescribe, parseExecute, parseParse, parseQuery,
  query as queryMessage,
} from './codec/frontend.ts';
import { Frontend } from './codec/messages.ts';
import type { Frame, FrameReader } from './codec/reader.ts';
import { fatalOf } from './errors.ts';
import { Valve } from './flow.ts';
import { SessionObjects } from './objects.ts';
import { Replies, type Refusal } from './replies.ts';
import { ResultShaper, type MaskIndex, type ResultGuards } from './results.ts';
import { analyzeSql, sqlFacts, type SqlAnalysis } from './sql/analyze.ts';

/** Fails to parse upstream on purpose: the upstream then behaves exactly as after any failed statement. */
const REFUSED_SQL = '/* refused by gatehouse */ REFUSED';
const QUERY_CANCELED = '57014';
/** While a statement waits for a human, what the client sends next waits behind it, up to this much; then reading stops. */
const HELD_BUFFER = 1024 * 1024;
const EMPTY = Buffer.alloc(0);

/** A statement waiting for a human; `resume` gives the frames to send upstream once people have decided. */
class Held {
  constructor(readonly approvalId: string, readonly outcome: Promise<Outcome>, readonly resume: (outcome: Outcome) => Buffer[]) {}
}

/**
 * A statement whose audit record waits for the group commit (audit before effect): `resume` gives what to send once
 * the commit has landed, or a refusal if it failed. The commit ends the current turn of the event loop, shared by every
 * session that judged a statement in it, so the wait is microseconds.
 */
class Committing {
  constructor(readonly durable: Promise<void>, readonly resume: (error?: Error) => Step) {}
}

type Step = Buffer[] | undefined | 'close' | Held | Committing;

export interface SessionDeps {
  services: AdapterServices;
  ctx: RequestContext;
  token: TokenRecord;
  grant: SqlGrant;
  catalog: SqlCatalog;
  masks: MaskIndex;
  /** Views this grant may not read because they expose a masked column (`schema.view` → that column). */
  maskedViews: ReadonlyMap<string, string>;
  client: Socket;
  upstream: Socket;
  /** Bytes from the upstream that arrived with its startup replies and belong to the query phase. */
  upstreamReader: FrameReader;
  clientReader: FrameReader;
  boundary: ConnectionBoundary;
  /** Asks the upstream to stop the statement it is running (a CancelRequest on a connection of its own). */
  cancelUpstream(): void;
}

export class PostgresSession {
  private readonly objects = new SessionObjects();
  private readonly replies: Replies;
  private readonly obligations: Obligations;
  /** Policy's view of the prepared statements: what EXECUTE of a name runs. */
  private readonly prepared = { get: (name: string) => this.objects.statements.get(name)?.statement };
  /** The grant's content guards on result values; undefined when all are off, so rows pass untouched. */
  private readonly resultGuards?: ResultGuards;
  private readonly clientValve: Valve;
  private readonly upstreamValve: Valve;
  private closed = false;
  private held?: Held | Committing;
  /** The gateway is shutting down: the session ends once nothing is in flight and no transaction is open. */
  private draining = false;

  constructor(private readonly d: SessionDeps) {
    if (guardsActive(d.grant.guards)) this.resultGuards = { policy: d.grant.guards, hook: d.services.guards };
    this.obligations = sqlObligations(d.grant, d.catalog);
    const shaping = this.obligations.maxRows !== undefined || d.masks.size > 0 || this.resultGuards !== undefined;
    this.replies = new Replies({ services: d.services, ctx: d.ctx, objects: this.objects, shaping, shaper: () => this.shaper() });
    this.clientValve = new Valve(d.client);
    this.upstreamValve = new Valve(d.upstream);
    const { boundary } = d;
    d.client.on('data', boundary.wrap((chunk: Buffer) => this.fromClient(chunk)));
    d.upstream.on('data', boundary.wrap((chunk: Buffer) => this.fromUpstream(chunk)));
    d.client.on('close', boundary.wrap(() => this.end('client disconnected')));
    d.upstream.on('close', boundary.wrap(() => this.end('upstream closed the connection')));
    d.client.on('error', boundary.wrap(() => this.end('client connection error')));
    d.upstream.on('error', boundary.wrap((err: Error) => this.fatal('08006', `upstream connection failed: ${err.message}`)));
    // A handshake may have paused reading (it takes small messages only); from here on the valves decide.
    d.client.resume();
    d.upstream.resume();
    // Bytes either side sent right behind the handshake are already in the readers.
    if (d.upstreamReader.buffered) boundary.run(() => this.fromUpstream(EMPTY));
    if (d.clientReader.buffered) boundary.run(() => this.drainClient());
  }

  /** Ends the session from the gateway's side (revocation, shutdown), telling the client why. */
  terminate(reason: string) {
    this.fatal('57P01', `terminating connection: ${reason}`);
  }

  /** Graceful shutdown: statements in flight and an open transaction may finish; then the session ends. */
  drain() {
    this.draining = true;
    this.endIfIdle();
  }

  private endIfIdle() {
    if (this.draining && !this.held && this.replies.idle) this.terminate('the gateway is shutting down');
  }

  /** Ends the session after an exception (the connection's boundary caught it): a FATAL, one audit record, one log line. */
  fail(err: unknown) {
    const fatal = fatalOf(err);
    const { services, ctx } = this.d;
    if (fatal.internal) services.log.error({ err, connection: ctx.connection, sessionId: ctx.sessionId }, 'postgres session failed');
    else services.log.warn({ connection: ctx.connection, sessionId: ctx.sessionId, code: fatal.code }, fatal.message);
    try {
      services.audit.append({ kind: 'session.error', sessionId: ctx.sessionId, tokenId: ctx.who.tokenId, connection: ctx.connection, verdict: 'deny', data: { code: fatal.code, message: fatal.message } });
    } catch { /* the session ends either way; session.close below tries the audit again */ }
    this.fatal(fatal.code, fatal.message);
  }

  /** A CancelRequest for this session: withdraws a held statement; returns false if none is held (forward it upstream). */
  cancelHeld(): boolean {
    if (!(this.held instanceof Held)) return false;
    this.d.services.approvals.withdraw(this.held.approvalId, 'cancelled by the client');
    return true;
  }

  // ---- client → upstream ---------------------------------------------------------------------

  private fromClient(chunk: Buffer) {
    this.d.clientReader.push(chunk);
    if (!this.held) return this.drainClient();
    if (this.d.clientReader.buffered > HELD_BUFFER) this.clientValve.close('held');
  }

  private drainClient() {
    const out: Buffer[] = [];
    const reader = this.d.clientReader;
    for (let frame = reader.next(); frame; frame = reader.next()) {
      const step = this.onClientFrame(frame);
      if (step === 'close') { this.toUpstream(out); this.end('client terminated'); return; }
      if (step instanceof Held || step instanceof Committing) {
        this.toUpstream(out);
        this.park(step);
        return;
      }
      out.push(...(step ?? [frame.raw]));
    }
    this.toUpstream(out);
  }

  private park(step: Held | Committing) {
    this.held = step;
    const settle = (resume: () => Step) => this.d.boundary.run(() => {
      if (this.closed) return;
      this.held = undefined;
      this.clientValve.open('held');
      const next = resume();
      if (next instanceof Held || next instanceof Committing) return this.park(next);
      if (next === 'close') return this.end('client terminated');
      this.toUpstream(next ?? []);
      this.drainClient();
    });
    if (step instanceof Held) void step.outcome.then((outcome) => settle(() => step.resume(outcome)));
    else step.durable.then(() => settle(() => step.resume()), (err: Error) => settle(() => step.resume(err)));
  }

  /** Returns the frames to send upstream in place of this one, undefined to forward it unchanged, or a held statement. */
  private onClientFrame(frame: Frame): Step {
    switch (frame.type) {
      case Frontend.Query: return this.onQuery(parseQuery(frame.body));
      case Frontend.Parse: return this.onParse(parseParse(frame.body));
      case Frontend.Bind: {
        const { portal, statement } = parseBind(frame.body);
        if (portal === '') this.objects.portals.delete(''); // PostgreSQL drops the unnamed portal before binding a new one
        this.replies.expect({ kind: 'bind', portal, statement });
        return undefined;
      }
      case Frontend.Describe: {
        const { kind, name } = parseDescribe(frame.body);
        this.replies.expect({ kind: 'describe', target: kind, name, swallow: false });
        return undefined;
      }
      case Frontend.Execute: {
        const { portal } = parseExecute(frame.body);
        return this.replies.expectExecute(portal) ? [describeMessage('P', portal), frame.raw] : undefined;
      }
      case Frontend.Close: {
        const { kind, name } = parseClose(frame.body);
        this.replies.expect({ kind: 'close', target: kind, name });
        return undefined;
      }
      case Frontend.Sync: this.replies.expect({ kind: 'sync' }); return undefined;
      case Frontend.Flush:
      case Frontend.CopyData:
      case Frontend.CopyDone:
      case Frontend.CopyFail: return undefined;
      case Frontend.Terminate: return 'close';
      case Frontend.FunctionCall: {
        // The fast-path interface calls functions by OID, beyond what SQL analysis can see: always refused.
        return this.onRefusedQuery(refusal('sql.fastpath', 'Gatehouse does not allow the function-call (fast-path) protocol'));
      }
      default:
        throw new ProtocolError(`unexpected message type 0x${frame.type.toString(16)} from client`);
    }
  }

  private onQuery(text: string): Step {
    const analysis = analyzeSql(text);
    const judged = this.judgeStatements(analysis, text);
    return this.afterAudit(judged, (verdict) => this.settle(verdict, text, () => {
      this.replies.expect({ kind: 'query', seq: judged.seq, statements: analysis.statements, started: performance.now(), shaper: this.shaper(), results: [], index: 0 });
      return [queryMessage(text)];
    }, (refused) => this.onRefusedQuery(refused)));
  }

  private onRefusedQuery(refused: Refusal): Buffer[] {
    this.replies.expect({ kind: 'query', refused, statements: [], started: performance.now(), shaper: this.shaper(), results: [], index: 0 });
    return [queryMessage(REFUSED_SQL)];
  }

  private onParse(msg: { name: string; text: string; paramTypes: number[] }): Step {
    // PostgreSQL drops the unnamed statement as soon as a new Parse of it starts, whether or not that one succeeds.
    if (msg.name === '') this.objects.statements.delete('');
    const analysis = analyzeSql(msg.text);
    const judged = this.judgeStatements(analysis, msg.text);
    if (judged.verdict.kind !== 'deny' && analysis.statements.length !== 1) judged.verdict = refusal('sql.extended.multi', 'Gatehouse: a prepared statement must contain exactly one statement');
    return this.afterAudit(judged, (verdict) => this.settle(verdict, msg.text, () => {
      this.replies.expect({ kind: 'parse', name: msg.name, entry: { statement: analysis.statements[0], seq: judged.seq } });
      return [parseMessage(msg.name, msg.text, msg.paramTypes)];
    }, (refused) => {
      this.replies.expect({ kind: 'parse', name: msg.name, refused });
      return [parseMessage(msg.name, REFUSED_SQL)];
    }));
  }

  /** Audit before effect: while the statement's record waits for the group commit, its frames wait too. */
  private afterAudit(judged: { verdict: Verdict; durable?: Promise<void> }, then: (verdict: Verdict) => Step): Step {
    if (!judged.durable) return then(judged.verdict);
    return new Committing(judged.durable, (error) =>
      then(error ? refusal('audit.unavailable', `Gatehouse refused: the audit record could not be written (${error.message})`) : judged.verdict));
  }

  /**
   * Turns a verdict into frames. A hold asks a human: in `wait` mode the statement is parked on the wire
   * (the client sees a slow query); in `async` mode it is refused with the request id, and the identical
   * statement retried after approval goes through once.
   */
  private settle(verdict: Verdict, exact: string, forward: () => Buffer[], refuse: (r: Refusal) => Buffer[]): Step {
    if (verdict.kind === 'allow') return forward();
    if (verdict.kind === 'deny') return refuse(verdict);
    const { approvals } = this.d.services;
    const { ctx, token } = this.d;
    const request = {
      token, connection: ctx.connection, protocol: 'postgres', sessionId: ctx.sessionId, runId: ctx.who.runId, step: ctx.who.step,
      summary: exact, exact, reason: verdict.reason,
    };
    if (approvals.consume(request)) return forward();
    const { record, outcome } = approvals.hold(request);
    if (approvals.mode === 'async') {
      return refuse(refusal('approval.pending', `Gatehouse: ${verdict.reason}; approval request ${record.id} is pending — retry the identical statement once it is approved`));
    }
    return new Held(record.id, outcome, (result) => {
      if (!result.approved) return refuse({ ...refusal(`approval.${result.record.status}`, result.message), code: result.record.status === 'withdrawn' ? QUERY_CANCELED : undefined });
      try {
        this.d.services.audit.append({ kind: 'approval.forwarded', sessionId: ctx.sessionId, tokenId: ctx.who.tokenId, connection: ctx.connection, data: { id: record.id, summary: record.summary } });
      } catch (err) {
        return refuse(refusal('audit.unavailable', `Gatehouse refused: the audit record could not be written (${(err as Error).message})`));
      }
      approvals.markUsed(result.record);
      return forward();
    });
  }

  private judgeStatements(analysis: SqlAnalysis, text: string): { verdict: Verdict; seq?: number; durable?: Promise<void> } {
    const { services, ctx, grant, catalog } = this.d;
    const facts = sqlFacts(analysis, ctx.connection, text);
    const judged = judgeQueued(services, ctx, facts, () => {
      const verdict = decideSqlAll(analysis, { role: ctx.who.role, connection: ctx.connection, grant, catalog, prepared: this.prepared });
      return verdict.kind === 'deny' ? verdict : this.maskedViewRead(analysis) ?? verdict;
    });
    return { verdict: judged.verdict, seq: judged.record?.seq, durable: judged.durable };
  }

  /** A read of a view over a masked column would return the base values under the view's name: refused (see catalog-cache). */
  private maskedViewRead(analysis: SqlAnalysis): Refusal | undefined {
    const { maskedViews, catalog, ctx } = this.d;
    if (!maskedViews.size) return undefined;
    for (const statement of analysis.statements) {
      for (const rel of statement.relations) {
        const { schema, name } = catalog.resolveRelation(rel.schema, rel.name);
        const exposed = maskedViews.get(`${schema}.${name}`.toLowerCase());
        if (exposed) {
          return refusal('sql.mask.view', `Gatehouse: view ${schema}.${name} exposes masked column ${exposed} to role "${ctx.who.role}"; mask the view's columns too (${ctx.connection}.mask) to allow it`);
        }
      }
    }
    return undefined;
  }

  // ---- upstream → client ---------------------------------------------------------------------

  private fromUpstream(chunk: Buffer) {
    const reader = this.d.upstreamReader;
    if (chunk.length) reader.push(chunk);
    const out: Buffer[] = [];
    for (let frame = reader.next(); frame; frame = reader.next()) {
      const reply = this.replies.onFrame(frame);
      if (reply !== null) out.push(reply ?? frame.raw);
    }
    // Frames are views into the reader's memory: what is written leaves as a copy.
    if (out.length) this.upstreamValve.relay(this.d.client, out.length === 1 ? Buffer.from(out[0]) : Buffer.concat(out));
    if (this.draining) this.endIfIdle();
  }

  // ---- helpers -------------------------------------------------------------------------------

  private shaper(): ResultShaper {
    return new ResultShaper(this.obligations, this.d.masks, this.d.services.secret, this.resultGuards);
  }

  private toUpstream(out: Buffer[]) {
    if (out.length) this.clientValve.relay(this.d.upstream, out.length === 1 ? Buffer.from(out[0]) : Buffer.concat(out));
  }

  private fatal(code: string, message: string) {
    if (this.closed) return;
    this.d.client.write(errorResponse({ severity: 'FATAL', code, message }));
    this.end(message);
  }

  private end(reason: string) {
    if (this.closed) return;
    this.closed = true;
    if (this.held instanceof Held) this.d.services.approvals.withdraw(this.held.approvalId, reason);
    // Closing our side does not stop a statement PostgreSQL is running: it would only notice when it next writes.
    if (this.replies.busy && !this.d.upstream.destroyed) this.d.cancelUpstream();
    this.d.client.end();
    this.d.upstream.destroy();
    setTimeout(() => this.d.client.destroy(), 100).unref();
    this.d.services.sessions.close(this.d.ctx.sessionId, reason);
  }
}

const refusal = (rule: string, message: string): Refusal => ({ kind: 'deny', rule, message });
