// One agent's MySQL session after authentication: every command judged through the gate, forwarded, and its reply shaped on the way back.
//
// Commands are taken one at a time, as the server itself runs them: a command is judged (its audit record committed),
// forwarded, and its reply followed to its end before the next is read. A refusal is an ERR packet Gatehouse writes
// itself; nothing reaches the upstream, so a transaction in progress goes on as it does after any failed statement.
import type { Socket } from 'node:net';
import type { Logger } from '../../services/telemetry/logger.ts';
import type { SqlGrant } from '../../config/schema.ts';
import type { Forward, GateSession, Outcome, Refuse } from '../../pipeline/gate.ts';
import type { SqlCatalog } from '../../services/policy/sql/catalog.ts';
import { decideSqlAll } from '../../services/policy/sql/decide.ts';
import { deny } from '../../services/policy/verdict.ts';
import type { SqlAnalysis, SqlStatement } from '../../services/policy/sql/facts.ts';
import { sqlFacts } from '../../services/policy/sql/to-facts.ts';
import { ProtocolError } from './codec/bytes.ts';
import { Capability, Command, commandName, Status } from './codec/constants.ts';
import { commandText, decodeFieldList, decodeSetOption, decodeStmtExecute, encodeQuery, statementId } from './codec/commands.ts';
import { frame, packetCount, type Packet, type PacketReader } from './codec/packets.ts';
import { encodeErr, encodeOk } from './codec/results.ts';
import { refusal, refusalPacket } from './refusal.ts';
import { ReplyTracker, type ReplyShape } from './response.ts';
import { ResultShaper, type ResultGuards } from './shaper.ts';
import { analyzeMysql, type SqlSession } from './sql/analyze.ts';
import { sqlModeFlags } from './sql/settings.ts';
import type { LexMode } from './sql/lexer.ts';
import { maskedViewRead, type ViewCatalog } from './views.ts';

export interface SessionDeps {
  gate: GateSession;
  grant: SqlGrant;
  catalog: SqlCatalog;
  /** The upstream's views, to refuse those that would expose a masked column under their own name. */
  views: ViewCatalog;
  /** How the server reads SQL on this connection; updated as USE, COM_INIT_DB and SET sql_mode succeed. */
  sql: SqlSession;
  /** Capabilities in force on both sides of the session. */
  capabilities: number;
  /** A role without write grants: the upstream session is read-only and stays so (re-applied after COM_RESET_CONNECTION). */
  readOnly: boolean;
  client: Socket;
  upstream: Socket;
  clientReader: PacketReader;
  upstreamReader: PacketReader;
  secret: Buffer;
  guards?: ResultGuards;
  log: Logger;
}

/** While a command is in flight, this much more from the client is buffered before its socket is paused. */
const CLIENT_BACKLOG = 1024 * 1024;

interface Prepared { analysis: SqlAnalysis; text: string }
interface InFlight { tracker: ReplyTracker; silent: boolean; settle: () => void; fail: (err: Error) => void; clientSeq: number }

export class MysqlSession {
  private closed = false;
  private busy = false;
  /** The client reads slower than the upstream sends: the upstream is paused until it drains. */
  private backpressure = false;
  /** The gateway is shutting down: the session ends once it is idle and outside a transaction. */
  private draining = false;
  private inTransaction = false;
  private inFlight?: InFlight;
  /** Statements prepared with COM_STMT_PREPARE, by the upstream's statement id. */
  private readonly statements = new Map<number, Prepared>();
  /** Statements prepared with SQL PREPARE, by name: what an SQL EXECUTE runs. */
  private readonly sqlPrepared = new Map<string, SqlStatement>();
  private readonly initialMode: LexMode;
  private readonly multiAtConnect: boolean;

  constructor(private readonly d: SessionDeps) {
    this.initialMode = d.sql.mode;
    this.multiAtConnect = d.sql.multiStatements;
    d.client.on('data', (chunk: Buffer) => this.guard(() => this.fromClient(chunk)));
    d.upstream.on('data', (chunk: Buffer) => this.guard(() => this.fromUpstream(chunk)));
    d.client.on('close', () => this.end('client disconnected'));
    d.client.on('error', () => this.end('client connection error'));
    d.upstream.on('close', () => this.fatal('the upstream closed the connection'));
    d.upstream.on('error', (err) => this.fatal(`upstream connection failed: ${err.message}`));
    if (d.clientReader.buffered) this.guard(() => this.fromClient(Buffer.alloc(0)));
  }

  /** Ends the session from the gateway's side (revocation, shutdown), telling the client why. */
  terminate(reason: string) {
    if (this.closed) return;
    this.d.client.write(frame(encodeErr({ code: 1927, sqlState: '70100', message: `Gatehouse: connection terminated: ${reason}` }), this.replySeq()));
    this.end(reason);
  }

  /** Graceful shutdown: the session ends as soon as no command is in flight and no transaction is open. */
  drain() {
    this.draining = true;
    this.endIfIdle();
  }

  private endIfIdle() {
    if (this.draining && !this.busy && !this.inTransaction) {
      this.d.client.write(frame(encodeErr({ code: 1053, sqlState: '08S01', message: 'Gatehouse: the gateway is shutting down' }), 0));
      this.end('the gateway is shutting down');
    }
  }

  // ---- client → upstream ---------------------------------------------------------------------

  private fromClient(chunk: Buffer) {
    this.d.clientReader.push(chunk);
    if (this.busy && this.d.clientReader.buffered > CLIENT_BACKLOG) this.d.client.pause();
    this.pump();
  }

  /** Takes the next command when none is in flight. */
  private pump() {
    if (this.busy || this.closed) return;
    const packet = this.d.clientReader.next();
    if (!packet) return;
    if (packet.seq !== 0) throw new ProtocolError(`a command must start with sequence id 0, not ${packet.seq}`);
    this.busy = true;
    const copy = Buffer.from(packet.payload);
    this.command(copy).then(
      () => this.guard(() => {
        this.busy = false;
        this.d.client.resume();
        this.endIfIdle();
        this.pump();
      }),
      (err: Error) => this.guard(() => { throw err; }),
    );
  }

  private async command(payload: Buffer): Promise<void> {
    const byte = payload[0];
    switch (byte) {
      case Command.QUERY: return this.query(payload);
      case Command.STMT_PREPARE: return this.prepare(payload);
      case Command.STMT_EXECUTE: return this.execute(payload);
      case Command.STMT_SEND_LONG_DATA: {
        if (!this.statements.has(statementId(payload))) return; // the server, too, answers nothing; the execute will fail
        this.d.upstream.write(frame(payload, 0));
        return;
      }
      case Command.STMT_CLOSE:
        this.statements.delete(statementId(payload));
        this.d.upstream.write(frame(payload, 0));
        return;
      case Command.STMT_RESET:
      case Command.PING:
        await this.forward(payload, 'single');
        return;
      case Command.QUIT: return this.end('client quit');
      case Command.INIT_DB: {
        const db = this.text(payload, 'COM_INIT_DB');
        if (db === undefined) return;
        return this.judged(`USE \`${db.replace(/`/g, '``')}\``, payload, 'single');
      }
      case Command.FIELD_LIST: {
        const { table } = decodeFieldList(payload);
        return this.judged(`SHOW COLUMNS FROM \`${table.replace(/`/g, '``')}\``, payload, 'fields');
      }
      case Command.SET_OPTION: {
        const on = decodeSetOption(payload) === 0;
        if (on && !this.multiAtConnect) return this.refuse('mysql.command', `COM_SET_OPTION may not turn multi-statements on: connect with them enabled (CLIENT_MULTI_STATEMENTS) instead`);
        const tracker = await this.forward(payload, 'single');
        if (!tracker.error) this.d.sql = { ...this.d.sql, multiStatements: on };
        return;
      }
      case Command.RESET_CONNECTION: return this.resetConnection(payload);
      default:
        return this.refuse('mysql.command', `${commandName(byte)} is not allowed through Gatehouse`);
    }
  }

  private async query(payload: Buffer) {
    const text = this.text(payload, 'COM_QUERY');
    if (text === undefined) return;
    const analysis = analyzeMysql(text, this.d.sql);
    const forward = await this.judge(analysis, text);
    if (!forward) return;
    const tracker = await this.forward(payload, 'result', forward);
    this.apply(analysis.statements.slice(0, tracker.finished));
    forward.done(this.outcome(tracker));
  }

  /** COM_INIT_DB and COM_FIELD_LIST, judged as the statements they amount to. */
  private async judged(sql: string, payload: Buffer, shape: ReplyShape) {
    const analysis = analyzeMysql(sql, { ...this.d.sql, multiStatements: false });
    const forward = await this.judge(analysis, sql);
    if (!forward) return;
    const tracker = await this.forward(payload, shape);
    if (!tracker.error) this.apply(analysis.statements);
    forward.done(this.outcome(tracker));
  }

  private async prepare(payload: Buffer) {
    const text = this.text(payload, 'COM_STMT_PREPARE');
    if (text === undefined) return;
    const analysis = analyzeMysql(text, { ...this.d.sql, multiStatements: false });
    const forward = await this.judge(analysis, text);
    if (!forward) return;
    const tracker = await this.forward(payload, 'prepare');
    if (tracker.prepared) this.statements.set(tracker.prepared.statementId, { analysis, text });
    forward.done(this.outcome(tracker));
  }

  /** Each execution is judged again (its audit record, an approval bound to its parameters) by what was prepared. */
  private async execute(payload: Buffer) {
    const { statementId: id, flags } = decodeStmtExecute(payload);
    const prepared = this.statements.get(id);
    if (!prepared) return this.refuse('sql.execute.unknown', `no statement ${id} was prepared through Gatehouse on this connection`);
    if (flags !== 0) return this.refuse('mysql.cursor', 'server-side cursors are not supported through Gatehouse (rows must come back where they can be masked); execute without a cursor');
    const forward = await this.judge(prepared.analysis, prepared.text, payload.subarray(10).toString('hex'));
    if (!forward) return;
    const tracker = await this.forward(payload, 'result', forward, true);
    forward.done(this.outcome(tracker));
  }

  /** After COM_RESET_CONNECTION the server has forgotten everything the session set: the read-only backstop is set again before the client hears OK. */
  private async resetConnection(payload: Buffer) {
    const tracker = await this.forward(payload, 'single', undefined, false, true);
    if (tracker.error) return this.reply([encodeErr(tracker.error)], 1);
    this.statements.clear();
    this.sqlPrepared.clear();
    this.d.sql = { ...this.d.sql, mode: this.initialMode };
    if (this.d.readOnly) {
      const backstop = await this.forward(encodeQuery('SET SESSION TRANSACTION READ ONLY'), 'result', undefined, false, true);
      if (backstop.error) throw new Error(`the read-only backstop could not be set again: ${backstop.error.message}`);
    }
    this.reply([encodeOk({ status: 0x0002 })], 1);
  }

  /** The gate's verdict on an analysed request: the forward outcome, or undefined once the refusal has been sent. */
  private async judge(analysis: SqlAnalysis, text: string, parameters?: string): Promise<Forward | undefined> {
    const { gate, grant, catalog, views } = this.d;
    const { role } = gate.ctx.who;
    const { connection } = gate.ctx;
    const facts = sqlFacts(analysis, connection, text, 'mysql');
    const policy = () => {
      const verdict = decideSqlAll(analysis, { role, connection, grant, catalog, prepared: this.sqlPrepared });
      const exposed = verdict.kind === 'deny' ? undefined : maskedViewRead(analysis, views.maskedViews(grant), this.sqlPrepared);
      return exposed ? deny('sql.mask.view', `Gatehouse: view ${exposed[0]} exposes masked column ${exposed[1]} to role "${role}"; mask the view's columns too (${connection}.mask) to allow it`) : verdict;
    };
    const outcome: Outcome = await gate.pass({
      facts,
      policy,
      ...(parameters ? { exact: `${text}\n-- parameters: ${parameters}`, detail: { parameters: parameters.length / 2 } } : {}),
    });
    const settled: Forward | Refuse = outcome.kind === 'held' ? await outcome.settled : outcome;
    if (this.closed) return undefined;
    if (settled.kind === 'refuse') {
      this.refuse(settled.rule, settled.message);
      return undefined;
    }
    return settled;
  }

  /** Sends a command upstream and follows its reply to the end; rows are shaped when the verdict carries obligations. */
  private forward(payload: Buffer, shape: ReplyShape, verdict?: Forward, binary = false, silent = false): Promise<ReplyTracker> {
    const { guards, secret, sql, capabilities } = this.d;
    const shaper = shape === 'result' && verdict ? new ResultShaper(verdict.obligations, { caseSensitive: sql.caseSensitive }, secret, binary, guards) : undefined;
    const tracker = new ReplyTracker(shape, capabilities, shaper);
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new Error('session closed'));
      this.inFlight = { tracker, silent, settle: () => resolve(tracker), fail: reject, clientSeq: 1 };
      this.d.upstream.write(frame(payload, 0));
    });
  }

  // ---- upstream → client ---------------------------------------------------------------------

  private fromUpstream(chunk: Buffer) {
    const reader = this.d.upstreamReader;
    reader.push(chunk);
    const out: Buffer[] = [];
    for (let packet = reader.next(); packet; packet = reader.next()) {
      const flight = this.inFlight;
      if (!flight) throw new ProtocolError(`the upstream sent a packet nobody asked for (0x${packet.payload[0]?.toString(16)})`);
      const step = flight.tracker.next(packet.payload);
      if (step.upstream) this.d.upstream.write(frame(step.upstream, packet.lastSeq + 1));
      if (step.client && !flight.silent) out.push(this.renumbered(packet, step.client, flight));
      if (flight.tracker.done) {
        this.inFlight = undefined;
        this.inTransaction = (flight.tracker.status & Status.IN_TRANS) !== 0;
        this.flush(out);
        flight.settle();
      }
    }
    this.flush(out);
  }

  /** The packet as the client must see it: unchanged when possible, renumbered after packets were dropped or swallowed. */
  private renumbered(packet: Packet, payload: Buffer, flight: InFlight): Buffer {
    const seq = flight.clientSeq;
    flight.clientSeq = (seq + packetCount(payload.length)) & 0xff;
    return payload === packet.payload && packet.seq === seq ? packet.raw : frame(payload, seq);
  }

  /** One write per upstream chunk: a copy, since the reader reuses its memory; pauses the upstream when the client lags. */
  private flush(out: Buffer[]) {
    if (!out.length) return;
    const bytes = out.length === 1 ? Buffer.from(out[0]) : Buffer.concat(out);
    out.length = 0;
    if (!this.d.client.write(bytes) && !this.backpressure) {
      this.backpressure = true;
      this.d.upstream.pause();
      this.d.client.once('drain', () => {
        this.backpressure = false;
        this.d.upstream.resume();
      });
    }
  }

  // ---- helpers -------------------------------------------------------------------------------

  /** What a finished query changed in how the server reads the next one. */
  private apply(done: readonly SqlStatement[]) {
    for (const stmt of done) {
      if (stmt.label === 'USE') this.d.sql = { ...this.d.sql, database: stmt.setting!.values[0] };
      else if (stmt.setting?.name === 'sql_mode') {
        const flags = sqlModeFlags(stmt.setting.values[0] ?? '');
        if (!('refused' in flags)) this.d.sql = { ...this.d.sql, mode: flags };
      } else if (stmt.kind === 'prepare' && stmt.name && stmt.inner) this.sqlPrepared.set(stmt.name, stmt.inner);
      else if (stmt.kind === 'deallocate' && stmt.name) this.sqlPrepared.delete(stmt.name);
    }
  }

  private outcome(tracker: ReplyTracker): Record<string, unknown> {
    return {
      ...(tracker.error ? { error: `${tracker.error.code} ${tracker.error.message}` } : {}),
      ...(tracker.affectedRows ? { affected: tracker.affectedRows } : {}),
      ...(tracker.refusedLocalInfile ? { refusedLocalInfile: true } : {}),
      ...(tracker.results.length ? { results: tracker.results } : {}),
    };
  }

  /** The command's text; a command that is not UTF-8 is refused (the connection stays usable). */
  private text(payload: Buffer, what: string): string | undefined {
    try {
      return commandText(payload, what);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.refuse('mysql.encoding', `${err.message}; Gatehouse reads SQL as UTF-8 (connect with utf8mb4)`);
      return undefined;
    }
  }

  private refuse(rule: string, message: string) {
    this.reply([refusalPacket(rule, message)], 1);
  }

  private reply(payloads: Buffer[], seq: number) {
    if (this.closed) return;
    this.d.client.write(Buffer.concat(payloads.map((p, i) => frame(p, seq + i))));
  }

  /** The sequence id the client expects next: within a command's reply, or 1 while a command waits to be answered. */
  private replySeq(): number {
    return this.inFlight?.clientSeq ?? (this.busy ? 1 : 0);
  }

  private guard(fn: () => void) {
    if (this.closed) return;
    try {
      fn();
    } catch (err) {
      if (err instanceof ProtocolError) return this.fatal(err.message);
      this.d.log.error({ err, connection: this.d.gate.ctx.connection, sessionId: this.d.gate.ctx.sessionId }, 'mysql session failed');
      this.fatal('Gatehouse internal error; the session was closed');
    }
  }

  private fatal(message: string) {
    if (this.closed) return;
    const err = refusal('mysql.protocol', message);
    this.d.client.write(frame(encodeErr({ ...err, code: 2013, sqlState: '08S01' }), this.replySeq()));
    this.end(message);
  }

  private end(reason: string) {
    if (this.closed) return;
    this.closed = true;
    this.inFlight?.fail(new Error(reason));
    this.inFlight = undefined;
    this.d.gate.close(reason);
    this.d.client.end();
    this.d.upstream.destroy();
    setTimeout(() => this.d.client.destroy(), 100).unref();
  }
}

/** Whether the client asked for multi-statements at connect time. */
export const multiStatements = (capabilities: number) => (capabilities & Capability.MULTI_STATEMENTS) !== 0;
