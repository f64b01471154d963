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
import type { AdapterServices } from '../../pipeline/adapter.ts';
import { guardsActive } from '../../pipeline/content-guards.ts';
import type { Forward, GateSession, Held, Outcome, Refuse } from '../../pipeline/gate.ts';
import type { Obligations, Verdict } from '../../services/policy/verdict.ts';
import type { SqlGrant } from '../../config/schema.ts';
import type { SqlCatalog } from '../../services/policy/sql/catalog.ts';
import { decideSqlAll, sqlObligations } from '../../services/policy/sql/decide.ts';
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

/**
 * A statement waiting for the gate's outcome — its audit record's group commit (audit before effect; the commit ends
 * the current turn of the event loop, shared by every session that judged a statement in it), or people deciding.
 * `resume` gives the frames to send upstream then; what the client sends meanwhile waits behind it, in order.
 */
class Waiting {
  /** Set while people decide: a CancelRequest withdraws it. */
  held?: Held;
  constructor(readonly outcome: Promise<Outcome>, readonly resume: (outcome: Forward | Refuse) => Step) {}
}

type Step = Buffer[] | undefined | 'close' | Waiting;

export interface SessionDeps {
  services: AdapterServices;
  /** The gate's session: every statement passes through it. */
  gate: GateSession;
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
  private waiting?: Waiting;
  /** The gateway is shutting down: the session ends once nothing is in flight and no transaction is open. */
  private draining = false;

  constructor(private readonly d: SessionDeps) {
    if (guardsActive(d.grant.guards)) this.resultGuards = { policy: d.grant.guards, hook: d.services.guards };
    this.obligations = sqlObligations(d.grant, d.catalog);
    const shaping = this.obligations.maxRows !== undefined || d.masks.size > 0 || this.resultGuards !== undefined;
    this.replies = new Replies({ objects: this.objects, shaping, shaper: () => this.shaper() });
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
    if (this.draining && !this.waiting && this.replies.idle) this.terminate('the gateway is shutting down');
  }

  /** Ends the session after an exception (the connection's boundary caught it): a FATAL, one audit record, one log line. */
  fail(err: unknown) {
    const fatal = fatalOf(err);
    const { services, gate } = this.d;
    const where = { connection: gate.ctx.connection, sessionId: gate.ctx.sessionId };
    if (fatal.internal) services.log.error({ err, ...where }, 'postgres session failed');
    else services.log.warn({ ...where, code: fatal.code }, fatal.message);
    this.fatal(fatal.code, fatal.message, true);
  }

  /** A CancelRequest for this session: withdraws a held statement; returns false if none is held (forward it upstream). */
  cancelHeld(): boolean {
    const held = this.waiting?.held;
    if (!held) return false;
    held.withdraw('cancelled by the client');
    return true;
  }

  // ---- client → upstream ---------------------------------------------------------------------

  private fromClient(chunk: Buffer) {
    this.d.clientReader.push(chunk);
    if (!this.waiting) return this.drainClient();
    if (this.d.clientReader.buffered > HELD_BUFFER) this.clientValve.close('held');
  }

  private drainClient() {
    const out: Buffer[] = [];
    const reader = this.d.clientReader;
    for (let frame = reader.next(); frame; frame = reader.next()) {
      const step = this.onClientFrame(frame);
      if (step === 'close') { this.toUpstream(out); this.end('client terminated'); return; }
      if (step instanceof Waiting) {
        this.toUpstream(out);
        this.park(step);
        return;
      }
      out.push(...(step ?? [frame.raw]));
    }
    this.toUpstream(out);
  }

  private park(step: Waiting) {
    this.waiting = step;
    const settle = (outcome: Forward | Refuse) => this.d.boundary.run(() => {
      if (this.closed) return;
      this.waiting = undefined;
      this.clientValve.open('held');
      const next = step.resume(outcome);
      if (next instanceof Waiting) return this.park(next);
      if (next === 'close') return this.end('client terminated');
      this.toUpstream(next ?? []);
      this.drainClient();
    });
    void step.outcome.then((outcome) => {
      if (outcome.kind !== 'held') return settle(outcome);
      step.held = outcome;
      return outcome.settled.then(settle);
    });
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
        return this.onRefusedQuery(refusal('sql.fastpath', 'the function-call (fast-path) protocol is not allowed'));
      }
      default:
        throw new ProtocolError(`unexpected message type 0x${frame.type.toString(16)} from client`);
    }
  }

  private onQuery(text: string): Step {
    const analysis = analyzeSql(text);
    return this.judge(analysis, text, (forward) => {
      this.replies.expect({ kind: 'query', done: forward.done, statements: analysis.statements, started: performance.now(), shaper: this.shaper(), results: [], index: 0 });
      return [queryMessage(text)];
    }, (refused) => this.onRefusedQuery(refused));
  }

  private onRefusedQuery(refused: Refusal): Buffer[] {
    this.replies.expect({ kind: 'query', refused, statements: [], started: performance.now(), shaper: this.shaper(), results: [], index: 0 });
    return [queryMessage(REFUSED_SQL)];
  }

  private onParse(msg: { name: string; text: string; paramTypes: number[] }): Step {
    // PostgreSQL drops the unnamed statement as soon as a new Parse of it starts, whether or not that one succeeds.
    if (msg.name === '') this.objects.statements.delete('');
    const analysis = analyzeSql(msg.text);
    const single = analysis.statements.length === 1 ? undefined : refusal('sql.extended.multi', 'a prepared statement must contain exactly one statement');
    return this.judge(analysis, msg.text, (forward) => {
      this.replies.expect({ kind: 'parse', name: msg.name, entry: { statement: analysis.statements[0], done: forward.done } });
      return [parseMessage(msg.name, msg.text, msg.paramTypes)];
    }, (refused) => {
      this.replies.expect({ kind: 'parse', name: msg.name, refused });
      return [parseMessage(msg.name, REFUSED_SQL)];
    }, single);
  }

  /**
   * Passes a statement through the gate: policy, a human where the grant asks for one (in `wait` mode the statement is
   * parked on the wire and the client sees a slow query; in `async` mode it is refused with the request id), and the
   * audit record committed before anything is forwarded.
   */
  private judge(analysis: SqlAnalysis, text: string, forward: (f: Forward) => Buffer[], refuse: (r: Refusal) => Buffer[], also?: Refusal): Waiting {
    const { gate, grant, catalog } = this.d;
    const { connection, who } = gate.ctx;
    const outcome = gate.pass({
      facts: sqlFacts(analysis, connection, text),
      exact: text,
      policy: (): Verdict => {
        const verdict = decideSqlAll(analysis, { role: who.role, connection, grant, catalog, prepared: this.prepared });
        if (verdict.kind === 'deny') return verdict;
        const extra = also ?? this.maskedViewRead(analysis);
        return extra ? { kind: 'deny', ...extra } : verdict;
      },
    });
    return new Waiting(outcome, (o) => (o.kind === 'forward' ? forward(o) : refuse({ rule: o.rule, message: o.message, code: o.rule === 'approval.withdrawn' ? QUERY_CANCELED : undefined })));
  }

  /** A read of a view over a masked column would return the base values under the view's name: refused (see catalog-cache). */
  private maskedViewRead(analysis: SqlAnalysis): Refusal | undefined {
    const { maskedViews, catalog, gate } = this.d;
    if (!maskedViews.size) return undefined;
    for (const statement of analysis.statements) {
      for (const rel of statement.relations) {
        const { schema, name } = catalog.resolveRelation(rel.schema, rel.name);
        const exposed = maskedViews.get(`${schema}.${name}`.toLowerCase());
        if (exposed) {
          const { connection, who } = gate.ctx;
          return refusal('sql.mask.view', `view ${schema}.${name} exposes masked column ${exposed} to role "${who.role}"; mask the view's columns too (${connection}.mask) to allow it`);
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

  /** Ends the session with a FATAL the client reads; a `failed` session (its boundary caught an exception) is audited as such. */
  private fatal(code: string, message: string, failed = false) {
    if (this.closed) return;
    this.d.client.write(errorResponse({ severity: 'FATAL', code, message }));
    this.end(message, failed ? { code, message } : undefined);
  }

  private end(reason: string, failure?: { code: string; message: string }) {
    if (this.closed) return;
    this.closed = true;
    // Closing our side does not stop a statement PostgreSQL is running: it would only notice when it next writes.
    if (this.replies.busy && !this.d.upstream.destroyed) this.d.cancelUpstream();
    this.d.client.end();
    this.d.upstream.destroy();
    setTimeout(() => this.d.client.destroy(), 100).unref();
    // The gate withdraws a statement still waiting for a human, and records why the session ended.
    this.d.gate.close(reason, failure);
  }
}

const refusal = (rule: string, message: string): Refusal => ({ rule, message });
