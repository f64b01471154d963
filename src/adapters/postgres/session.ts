// One agent's PostgreSQL session after authentication: judges every statement, forwards, and shapes the replies.
//
// Responses are matched to requests with a FIFO of what the upstream owes us, exactly as the protocol
// orders them. A refused statement is not answered locally: it is replaced by a statement that fails to
// parse upstream, so the upstream itself aborts the transaction or skips to Sync as PostgreSQL would, and
// only the error text is rewritten on the way back. One mechanism serves simple and extended protocol.
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { judgeQueued, recordOutcome, type RequestContext } from '../../pipeline/enforce.ts';
import type { Obligations, Verdict } from '../../services/policy/verdict.ts';
import type { SqlGrant } from '../../config/schema.ts';
import type { AdapterServices } from '../../pipeline/adapter.ts';
import { decideSqlAll } from '../../services/policy/sql/decide.ts';
import { analyzeSql, sqlFacts, type SqlAnalysis, type SqlStatement } from './sql/analyze.ts';
import type { SqlCatalog } from '../../services/policy/sql/catalog.ts';
import { Backend, Frontend } from './codec/messages.ts';
import { FrameReader, type Frame } from './codec/reader.ts';
import { ProtocolError } from './codec/cursor.ts';
import { parseBind, parseClose, parseDescribe, parseExecute, parseParse, parseQuery, describe as describeMessage, parse as parseMessage, query as queryMessage } from './codec/frontend.ts';
import {
  commandComplete, errorResponse, noticeResponse, parseCommandComplete, parseErrorResponse,
  parseRowDescription, type FieldDescription,
} from './codec/backend.ts';
import { ResultShaper, type MaskIndex, type ResultGuards } from './results.ts';
import { guardsActive, type GuardNote } from '../../pipeline/content-guards.ts';
import type { Outcome } from '../../services/approvals/approvals.ts';
import type { TokenRecord } from '../../services/store/store.ts';

/** Fails to parse upstream on purpose: the upstream then behaves exactly as after any failed statement. */
const REFUSED_SQL = '/* refused by gatehouse */ REFUSED';
const INSUFFICIENT_PRIVILEGE = '42501';
const IDLE = 0x49; // 'I': ReadyForQuery outside a transaction
const QUERY_CANCELED = '57014';

/** A refusal as the client will see it: 42501 unless a code says otherwise (a withdrawn request is a cancel). */
type Refusal = Verdict & { kind: 'deny'; code?: string };

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

type Pending =
  | { kind: 'query'; refused?: Refusal; seq?: number; started: number; shaper: ResultShaper; results: StatementOutcome[] }
  | { kind: 'parse'; refused?: Refusal }
  | { kind: 'bind' }
  | { kind: 'describe'; target: 'S' | 'P'; name: string; swallow: boolean; gotParams?: boolean }
  | { kind: 'execute'; portal?: Portal; seq?: number; started: number; shaper: ResultShaper; described: boolean }
  | { kind: 'close' }
  | { kind: 'sync' };

interface StatementOutcome { tag?: string; rows: number; dropped: number; error?: string; columns?: string[]; sample?: (string | null)[][]; guards?: GuardNote[] }

interface PreparedStatement { statement: SqlStatement; obligations: Obligations; fields?: FieldDescription[]; seq?: number }
interface Portal { prepared: PreparedStatement; formats: number[] }

export interface SessionDeps {
  services: AdapterServices;
  ctx: RequestContext;
  token: TokenRecord;
  grant: SqlGrant;
  catalog: SqlCatalog;
  masks: MaskIndex;
  /** Views this grant may not read because they expose a masked column (`schema.view` → that column). */
  maskedViews: ReadonlyMap<string, string>;
  client: Socket | TLSSocket;
  upstream: Socket | TLSSocket;
  /** Bytes from the upstream that arrived with its startup replies and belong to the query phase. */
  upstreamReader: FrameReader;
  clientReader: FrameReader;
}

export class PostgresSession {
  private readonly pending: Pending[] = [];
  /** SQL-level and protocol-level prepared statements share one namespace in PostgreSQL, and so here. */
  private readonly prepared = new Map<string, PreparedStatement>();
  private readonly preparedSql = new Map<string, SqlStatement>();
  private readonly portals = new Map<string, Portal>();
  private closed = false;
  private held?: Held | Committing;
  /** Transaction status of the last ReadyForQuery ('I' idle, 'T' in a transaction, 'E' failed one). */
  private transaction = IDLE;
  /** The gateway is shutting down: the session ends once nothing is in flight and no transaction is open. */
  private draining = false;

  /** The grant's content guards on result values; undefined when all are off, so rows pass untouched. */
  private readonly resultGuards?: ResultGuards;

  constructor(private readonly d: SessionDeps) {
    if (guardsActive(d.grant.guards)) this.resultGuards = { policy: d.grant.guards, hook: d.services.guards };
    d.client.on('data', (chunk: Buffer) => this.guard(() => this.fromClient(chunk)));
    d.upstream.on('data', (chunk: Buffer) => this.guard(() => this.fromUpstream(chunk)));
    d.client.on('close', () => this.end('client disconnected'));
    d.upstream.on('close', () => this.end('upstream closed the connection'));
    d.client.on('error', () => this.end('client connection error'));
    d.upstream.on('error', (err) => this.fatal('08006', `upstream connection failed: ${err.message}`));
    if (d.upstreamReader.buffered) this.guard(() => this.fromUpstream(Buffer.alloc(0)));
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
    if (this.draining && !this.pending.length && !this.held && this.transaction === IDLE) this.terminate('the gateway is shutting down');
  }

  // ---- client → upstream ---------------------------------------------------------------------

  private fromClient(chunk: Buffer) {
    this.d.clientReader.push(chunk);
    // While a statement waits for a human, what the client sends next waits behind it, in order.
    if (!this.held) this.drainClient();
  }

  private drainClient() {
    const out: Buffer[] = [];
    const reader = this.d.clientReader;
    for (let frame = reader.next(); frame; frame = reader.next()) {
      const step = this.onClientFrame(frame);
      if (step === 'close') { this.flushUpstream(out); this.end('client terminated'); return; }
      if (step instanceof Held || step instanceof Committing) {
        this.flushUpstream(out);
        this.park(step);
        return;
      }
      out.push(...(step ?? [frame.raw]));
    }
    this.flushUpstream(out);
  }

  private park(step: Held | Committing) {
    this.held = step;
    const settle = (resume: () => Step) => this.guard(() => {
      this.held = undefined;
      const next = resume();
      if (next instanceof Held || next instanceof Committing) return this.park(next);
      if (next === 'close') return this.end('client terminated');
      this.flushUpstream(next ?? []);
      this.drainClient();
    });
    if (step instanceof Held) void step.outcome.then((outcome) => settle(() => step.resume(outcome)));
    else step.durable.then(() => settle(() => step.resume()), (err: Error) => settle(() => step.resume(err)));
  }

  /** A CancelRequest for this session: withdraws a held statement; returns false if none is held (forward it upstream). */
  cancelHeld(): boolean {
    if (!(this.held instanceof Held)) return false;
    this.d.services.approvals.withdraw(this.held.approvalId, 'cancelled by the client');
    return true;
  }

  /** Returns the frames to send upstream in place of this one, undefined to forward it unchanged, or a held statement. */
  private onClientFrame(frame: Frame): Step {
    switch (frame.type) {
      case Frontend.Query: return this.onQuery(parseQuery(frame.body));
      case Frontend.Parse: return this.onParse(parseParse(frame.body));
      case Frontend.Bind: {
        const bind = parseBind(frame.body);
        const prepared = this.prepared.get(bind.statement);
        if (prepared) this.portals.set(bind.portal, { prepared, formats: bind.resultFormats });
        this.pending.push({ kind: 'bind' });
        return undefined;
      }
      case Frontend.Describe: {
        const { kind, name } = parseDescribe(frame.body);
        this.pending.push({ kind: 'describe', target: kind, name, swallow: false });
        return undefined;
      }
      case Frontend.Execute: return this.onExecute(frame);
      case Frontend.Close: {
        const { kind, name } = parseClose(frame.body);
        if (kind === 'S') { this.prepared.delete(name); this.preparedSql.delete(name); } else this.portals.delete(name);
        this.pending.push({ kind: 'close' });
        return undefined;
      }
      case Frontend.Sync: this.pending.push({ kind: 'sync' }); return undefined;
      case Frontend.Flush:
      case Frontend.CopyData:
      case Frontend.CopyDone:
      case Frontend.CopyFail: return undefined;
      case Frontend.Terminate: return 'close';
      case Frontend.FunctionCall: {
        // The fast-path interface calls functions by OID, beyond what SQL analysis can see: always refused.
        return this.onRefusedQuery(this.refuse('sql.fastpath', 'Gatehouse does not allow the function-call (fast-path) protocol'));
      }
      default:
        throw new ProtocolError(`unexpected message type 0x${frame.type.toString(16)} from client`);
    }
  }

  private onQuery(text: string): Step {
    const analysis = analyzeSql(text);
    const judged = this.judgeStatements(analysis, text);
    return this.afterAudit(judged, (verdict) => this.settle(verdict, text, (obligations) => {
      this.trackSqlPrepared(analysis);
      this.pending.push({ kind: 'query', seq: judged.seq, started: performance.now(), shaper: this.shaper(obligations), results: [] });
      return [queryMessage(text)];
    }, (refused) => this.onRefusedQuery(refused)));
  }

  private onRefusedQuery(refused: Refusal): Buffer[] {
    this.pending.push({ kind: 'query', refused, started: performance.now(), shaper: this.shaper({}), results: [] });
    return [queryMessage(REFUSED_SQL)];
  }

  private onParse(msg: { name: string; text: string; paramTypes: number[] }): Step {
    const analysis = analyzeSql(msg.text);
    const judged = this.judgeStatements(analysis, msg.text);
    const seq = judged.seq;
    if (judged.verdict.kind !== 'deny' && analysis.statements.length !== 1) judged.verdict = this.refuse('sql.extended.multi', 'Gatehouse: a prepared statement must contain exactly one statement');
    return this.afterAudit(judged, (verdict) => this.settle(verdict, msg.text, (obligations) => {
      const statement = analysis.statements[0];
      this.prepared.set(msg.name, { statement, obligations, seq });
      if (msg.name) this.preparedSql.set(msg.name, statement); // SQL EXECUTE can run protocol-level statements too
      this.pending.push({ kind: 'parse' });
      const frames = [parseMessage(msg.name, msg.text, msg.paramTypes)];
      if (this.needsShaping(obligations)) {
        // Rows of an Execute carry no description; ask for the statement's columns now so masks can be placed.
        this.pending.push({ kind: 'describe', target: 'S', name: msg.name, swallow: true });
        frames.push(describeMessage('S', msg.name));
      }
      return frames;
    }, (refused) => {
      this.prepared.delete(msg.name);
      this.preparedSql.delete(msg.name);
      this.pending.push({ kind: 'parse', refused });
      return [parseMessage(msg.name, REFUSED_SQL)];
    }));
  }

  /** Audit before effect: while the statement's record waits for the group commit, its frames wait too. */
  private afterAudit(judged: { verdict: Verdict; durable?: Promise<void> }, then: (verdict: Verdict) => Step): Step {
    if (!judged.durable) return then(judged.verdict);
    return new Committing(judged.durable, (error) =>
      then(error ? this.refuse('audit.unavailable', `Gatehouse refused: the audit record could not be written (${error.message})`) : judged.verdict));
  }

  /**
   * Turns a verdict into frames. A hold asks a human: in `wait` mode the statement is parked on the wire
   * (the client sees a slow query); in `async` mode it is refused with the request id, and the identical
   * statement retried after approval goes through once.
   */
  private settle(verdict: Verdict, exact: string, forward: (o: Obligations) => Buffer[], refuse: (r: Refusal) => Buffer[]): Step {
    if (verdict.kind === 'allow') return forward(verdict.obligations);
    if (verdict.kind === 'deny') return refuse(verdict);
    const { approvals } = this.d.services;
    const { ctx, token } = this.d;
    const request = {
      token, connection: ctx.connection, protocol: 'postgres', sessionId: ctx.sessionId, runId: ctx.who.runId, step: ctx.who.step,
      summary: exact, exact, reason: verdict.reason,
    };
    if (approvals.consume(request)) return forward(verdict.obligations);
    const { record, outcome } = approvals.hold(request);
    if (approvals.mode === 'async') {
      return refuse(this.refuse('approval.pending', `Gatehouse: ${verdict.reason}; approval request ${record.id} is pending — retry the identical statement once it is approved`));
    }
    return new Held(record.id, outcome, (result) => {
      if (!result.approved) return refuse({ ...this.refuse(`approval.${result.record.status}`, result.message), code: result.record.status === 'withdrawn' ? QUERY_CANCELED : undefined });
      try {
        this.d.services.audit.append({ kind: 'approval.forwarded', sessionId: ctx.sessionId, tokenId: ctx.who.tokenId, connection: ctx.connection, data: { id: record.id, summary: record.summary } });
      } catch (err) {
        return refuse(this.refuse('audit.unavailable', `Gatehouse refused: the audit record could not be written (${(err as Error).message})`));
      }
      approvals.markUsed(result.record);
      return forward(verdict.obligations);
    });
  }

  private onExecute(frame: Frame): undefined {
    const portal = this.portals.get(parseExecute(frame.body).portal);
    const shaper = this.shaper(portal?.prepared.obligations ?? {});
    this.pending.push({ kind: 'execute', portal, seq: portal?.prepared.seq, started: performance.now(), shaper, described: false });
    return undefined;
  }

  private judgeStatements(analysis: SqlAnalysis, text: string): { verdict: Verdict; seq?: number; durable?: Promise<void> } {
    const { services, ctx, grant, catalog } = this.d;
    const facts = sqlFacts(analysis, ctx.connection, text);
    const judged = judgeQueued(services, ctx, facts, () => {
      const verdict = decideSqlAll(analysis, { role: ctx.who.role, connection: ctx.connection, grant, catalog, prepared: this.preparedSql });
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
          return this.refuse('sql.mask.view', `Gatehouse: view ${schema}.${name} exposes masked column ${exposed} to role "${ctx.who.role}"; mask the view's columns too (${ctx.connection}.mask) to allow it`);
        }
      }
    }
    return undefined;
  }

  private trackSqlPrepared(analysis: SqlAnalysis) {
    for (const s of analysis.statements) {
      if (s.kind === 'prepare' && s.name && s.inner) this.preparedSql.set(s.name, s.inner);
      else if (s.kind === 'deallocate' && s.name) this.preparedSql.delete(s.name);
      else if (s.kind === 'deallocate' || (s.kind === 'discard' && /\ball\b/i.test(s.text))) this.preparedSql.clear();
    }
  }

  // ---- upstream → client ---------------------------------------------------------------------

  private fromUpstream(chunk: Buffer) {
    const reader = this.d.upstreamReader;
    if (chunk.length) reader.push(chunk);
    const out: Buffer[] = [];
    for (let frame = reader.next(); frame; frame = reader.next()) {
      const reply = this.onUpstreamFrame(frame);
      if (reply !== null) out.push(reply ?? frame.raw);
    }
    if (out.length) this.d.client.write(out.length === 1 ? Buffer.from(out[0]) : Buffer.concat(out));
    if (this.draining) this.endIfIdle();
  }

  /** Returns what to send the client for this frame: undefined = unchanged, null = nothing. */
  private onUpstreamFrame(frame: Frame): Buffer | null | undefined {
    const head = this.pending[0];
    switch (frame.type) {
      case Backend.NoticeResponse:
      case Backend.ParameterStatus:
      case Backend.NotificationResponse:
        return undefined;
      case Backend.ReadyForQuery: {
        this.transaction = frame.body[0];
        const done = this.pending.shift();
        if (done?.kind === 'query') this.finishQuery(done);
        else if (done?.kind !== 'sync') throw new ProtocolError('upstream sent ReadyForQuery out of turn');
        return undefined;
      }
      case Backend.ErrorResponse: return this.onError(frame);
    }
    if (!head) throw new ProtocolError(`upstream sent message 0x${frame.type.toString(16)} nobody asked for`);
    switch (head.kind) {
      case 'query': return this.onQueryResult(head, frame);
      case 'execute': return this.onExecuteResult(head, frame);
      case 'parse': this.expect(frame, Backend.ParseComplete); this.pending.shift(); return undefined;
      case 'bind': this.expect(frame, Backend.BindComplete); this.pending.shift(); return undefined;
      case 'close': this.expect(frame, Backend.CloseComplete); this.pending.shift(); return undefined;
      case 'describe': return this.onDescribe(head, frame);
      case 'sync': throw new ProtocolError(`upstream sent message 0x${frame.type.toString(16)} before ReadyForQuery`);
    }
  }

  private onQueryResult(q: Extract<Pending, { kind: 'query' }>, frame: Frame): Buffer | null | undefined {
    switch (frame.type) {
      case Backend.RowDescription:
        q.shaper.describe(parseRowDescription(frame.body));
        return undefined;
      case Backend.DataRow: return q.shaper.row(frame.raw, frame.body);
      case Backend.CopyData: return q.shaper.copyRow() ? undefined : null;
      case Backend.CommandComplete: return this.completeStatement(q.shaper, frame, q.results);
      case Backend.EmptyQueryResponse:
      case Backend.CopyOutResponse:
      case Backend.CopyInResponse:
      case Backend.CopyDone:
        return undefined;
      default:
        throw new ProtocolError(`unexpected upstream message 0x${frame.type.toString(16)} in a query result`);
    }
  }

  private onExecuteResult(e: Extract<Pending, { kind: 'execute' }>, frame: Frame): Buffer | null | undefined {
    switch (frame.type) {
      case Backend.DataRow:
        // The columns are known only once the Describe replies queued before this Execute have arrived.
        if (!e.described && e.portal?.prepared.fields) e.shaper.describe(e.portal.prepared.fields, e.portal.formats);
        e.described = true;
        return e.shaper.row(frame.raw, frame.body);
      case Backend.CopyData: return e.shaper.copyRow() ? undefined : null;
      case Backend.CopyOutResponse: case Backend.CopyInResponse: case Backend.CopyDone: return undefined;
      case Backend.CommandComplete:
      case Backend.EmptyQueryResponse:
      case Backend.PortalSuspended: {
        this.pending.shift();
        const results: StatementOutcome[] = [];
        const reply = frame.type === Backend.CommandComplete ? this.completeStatement(e.shaper, frame, results) : undefined;
        recordOutcome(this.d.services.audit, this.d.ctx, e.seq, { ms: round(performance.now() - e.started), ...(results[0] ?? { rows: e.shaper.rows }) });
        return reply;
      }
      default:
        throw new ProtocolError(`unexpected upstream message 0x${frame.type.toString(16)} in an Execute result`);
    }
  }

  private onDescribe(d: Extract<Pending, { kind: 'describe' }>, frame: Frame): Buffer | null | undefined {
    if (frame.type === Backend.ParameterDescription && d.target === 'S' && !d.gotParams) {
      d.gotParams = true;
      return d.swallow ? null : undefined;
    }
    if (frame.type !== Backend.RowDescription && frame.type !== Backend.NoData) throw new ProtocolError('unexpected upstream reply to Describe');
    this.pending.shift();
    if (frame.type === Backend.RowDescription) {
      const fields = parseRowDescription(frame.body);
      if (d.target === 'S') { const p = this.prepared.get(d.name); if (p) p.fields = fields; }
      else { const p = this.portals.get(d.name); if (p) p.prepared.fields ??= fields; }
    }
    return d.swallow ? null : undefined;
  }

  private onError(frame: Frame): Buffer | undefined {
    const head = this.pending[0];
    if (!head) return undefined; // e.g. a FATAL before the upstream closes
    let reply: Buffer | undefined;
    if ((head.kind === 'query' || head.kind === 'parse') && head.refused) {
      reply = errorResponse({ severity: 'ERROR', code: head.refused.code ?? INSUFFICIENT_PRIVILEGE, message: head.refused.message, detail: `rule: ${head.refused.rule}` });
    }
    if (head.kind === 'query') {
      head.results.push({ rows: head.shaper.rows, dropped: 0, error: head.refused ? head.refused.rule : parseErrorResponse(frame.body).message });
      return reply; // ReadyForQuery ends a simple query, error or not
    }
    // Extended protocol: after an error the upstream skips everything up to Sync; so do our expectations.
    const failed = this.pending.shift()!;
    if (failed.kind === 'execute') recordOutcome(this.d.services.audit, this.d.ctx, failed.seq, { ms: round(performance.now() - failed.started), error: parseErrorResponse(frame.body).message });
    while (this.pending.length && this.pending[0].kind !== 'sync') this.pending.shift();
    return reply;
  }

  private completeStatement(shaper: ResultShaper, frame: Frame, results: StatementOutcome[]): Buffer | undefined {
    const tag = parseCommandComplete(frame.body);
    const guards = shaper.findings;
    results.push({ tag, rows: shaper.rows, dropped: shaper.dropped, columns: shaper.columns, sample: shaper.sample, ...(guards.length ? { guards } : {}) });
    if (!shaper.dropped) { shaper.reset(); return undefined; }
    const notice = noticeResponse({
      severity: 'NOTICE', code: '01000',
      message: `Gatehouse: result capped at ${shaper.maxRows} rows (max_rows); ${shaper.dropped} more rows were not returned`,
    });
    const capped = commandComplete(tag.replace(/\d+$/, String(shaper.rows)));
    shaper.reset();
    return Buffer.concat([notice, capped]);
  }

  private finishQuery(q: Extract<Pending, { kind: 'query' }>) {
    if (q.refused) return;
    recordOutcome(this.d.services.audit, this.d.ctx, q.seq, { ms: round(performance.now() - q.started), statements: q.results });
  }

  // ---- helpers -------------------------------------------------------------------------------

  private shaper(obligations: Obligations): ResultShaper {
    return new ResultShaper(obligations, this.d.masks, this.d.services.secret, this.resultGuards);
  }

  private needsShaping(o: Obligations) {
    return o.maxRows !== undefined || (this.d.masks.size > 0 && !!o.mask && Object.keys(o.mask).length > 0);
  }

  private refuse(rule: string, message: string): Refusal {
    return { kind: 'deny', rule, message };
  }

  private expect(frame: Frame, type: number) {
    if (frame.type !== type) throw new ProtocolError(`expected upstream message 0x${type.toString(16)}, got 0x${frame.type.toString(16)}`);
  }

  private flushUpstream(out: Buffer[]) {
    if (out.length) this.d.upstream.write(out.length === 1 ? Buffer.from(out[0]) : Buffer.concat(out));
  }

  private guard(fn: () => void) {
    if (this.closed) return;
    try {
      fn();
    } catch (err) {
      if (err instanceof ProtocolError) this.fatal('08P01', `Gatehouse: ${err.message}`);
      else {
        this.d.services.log.error({ err, connection: this.d.ctx.connection, sessionId: this.d.ctx.sessionId }, 'postgres session failed');
        this.fatal('XX000', 'Gatehouse internal error; the session was closed');
      }
    }
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
    this.d.client.end();
    this.d.upstream.destroy();
    setTimeout(() => this.d.client.destroy(), 100).unref();
    this.d.services.sessions.close(this.d.ctx.sessionId, reason);
  }
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;
