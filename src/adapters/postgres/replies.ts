// The response path of a session: what the upstream owes for each message sent, matched in protocol order, and
// every result shaped (masks, row cap, guards) by the description the upstream gave for that very result.
//
// Masks are placed by the RowDescription of the result itself: a simple query's own, or for an Execute the reply to a
// Describe of its portal sent right before it (the client's own, or one the session adds and swallows). Nothing is
// remembered by statement name, so a name reused or re-prepared with other columns cannot move a mask. A row the
// gateway cannot place is never forwarded: the session is ended instead.
import type { GuardNote } from '../../pipeline/content-guards.ts';
import { framed, type Refuse } from '../../pipeline/gate.ts';
import {
  commandComplete, errorResponse, noticeResponse, parseCommandComplete, parseErrorResponse, parseReadyForQuery,
  parseRowDescription, type FieldDescription,
} from './codec/backend.ts';
import { ProtocolError } from './codec/cursor.ts';
import { Backend } from './codec/messages.ts';
import type { Frame } from './codec/reader.ts';
import { Refusal as Fatal } from './errors.ts';
import type { PreparedStatement, ResultRecord, SessionObjects } from './objects.ts';
import type { ResultShaper } from './results.ts';
import type { SqlStatement } from './sql/analyze.ts';

const INSUFFICIENT_PRIVILEGE = '42501';

/** A refusal as the client will see it: 42501 unless a code says otherwise (a withdrawn request is a cancel). */
export type Refusal = Pick<Refuse, 'rule' | 'message'> & { code?: string };

/** Records what came of one execution against the request record that judged it (the gate's `done`). */

interface StatementOutcome { tag?: string; rows: number; dropped: number; error?: string; columns?: string[]; sample?: (string | null)[][]; guards?: GuardNote[] }

export interface ExecuteExpectation {
  kind: 'execute';
  portal: string;
  started: number;
  /** Made when the portal's description (or first row) arrives: by then the upstream has confirmed its Bind. */
  shaper?: ResultShaper;
  done?: ResultRecord;
}

interface DescribeExpectation {
  kind: 'describe';
  target: 'S' | 'P';
  name: string;
  /** Added by the gateway: the client did not ask, so the reply is not forwarded. */
  swallow: boolean;
  gotParams?: boolean;
  /** The Execute right behind this Describe of its portal, shaped by the reply. */
  feeds?: ExecuteExpectation;
  /** The reply, once it came: the portal's columns, or null for NoData. */
  fields?: FieldDescription[] | null;
}

export type Expectation =
  | {
    kind: 'query'; refused?: Refusal; done?: ResultRecord; statements: readonly SqlStatement[]; started: number;
    shaper: ResultShaper; results: StatementOutcome[]; index: number;
  }
  | { kind: 'parse'; refused?: Refusal; name: string; entry?: PreparedStatement }
  | { kind: 'bind'; portal: string; statement: string }
  | DescribeExpectation
  | ExecuteExpectation
  | { kind: 'close'; target: 'S' | 'P'; name: string }
  | { kind: 'sync' };

type QueryExpectation = Extract<Expectation, { kind: 'query' }>;

export interface RepliesDeps {
  objects: SessionObjects;
  /** Whether results must be shaped at all (a row cap, masks or content guards): if not, rows pass untouched. */
  shaping: boolean;
  shaper(): ResultShaper;
}

/** Refuses a result whose columns the gateway cannot tell: its masks and row cap could not be applied. */
const unplaceable = () => new Fatal(INSUFFICIENT_PRIVILEGE, 'Gatehouse cannot tell which columns this result carries, so masks and the row cap cannot be applied; the session was closed');

export class Replies {
  private readonly queue: Expectation[] = [];
  /** The transaction status of the last ReadyForQuery. */
  private transaction = 'I';
  /** The last expectation queued, while it is a Describe of a portal: an Execute of that portal right behind it uses its reply. */
  private lastDescribe?: DescribeExpectation;

  constructor(private readonly d: RepliesDeps) {}

  /** Something the upstream now owes a reply for. */
  expect(e: Expectation) {
    this.queue.push(e);
    this.lastDescribe = e.kind === 'describe' && e.target === 'P' ? e : undefined;
  }

  /** Whether a statement sent upstream has not finished yet (a CancelRequest would have something to stop). */
  get busy(): boolean {
    return this.queue.some((e) => e.kind === 'query' || e.kind === 'execute');
  }

  /** Nothing is owed and no transaction is open: the session could end now without cutting anything short. */
  get idle(): boolean {
    return this.queue.length === 0 && this.transaction === 'I';
  }

  /**
   * Expectations for one Execute: with shaping, its portal must be described right before it — by the client's own
   * Describe if that is the message just sent, else by one the gateway adds. Returns that added Describe's target.
   */
  expectExecute(portal: string): 'describe' | undefined {
    const execute: ExecuteExpectation = { kind: 'execute', portal, started: performance.now() };
    let added: 'describe' | undefined;
    if (this.d.shaping) {
      const last = this.lastDescribe;
      if (last?.name === portal) last.feeds = execute;
      else {
        this.expect({ kind: 'describe', target: 'P', name: portal, swallow: true, feeds: execute });
        added = 'describe';
      }
      if (last?.name === portal && last.fields !== undefined) this.shape(execute, last.fields);
    }
    this.expect(execute);
    return added;
  }

  /** What to send the client for this upstream frame: undefined = unchanged, null = nothing. */
  onFrame(frame: Frame): Buffer | null | undefined {
    switch (frame.type) {
      case Backend.NoticeResponse:
      case Backend.ParameterStatus:
      case Backend.NotificationResponse:
        return undefined;
      case Backend.ReadyForQuery: return this.onReady(frame);
      case Backend.ErrorResponse: return this.onError(frame);
    }
    const head = this.queue[0];
    if (!head) throw new ProtocolError(`upstream sent message 0x${frame.type.toString(16)} nobody asked for`);
    switch (head.kind) {
      case 'query': return this.onQueryResult(head, frame);
      case 'execute': return this.onExecuteResult(head, frame);
      case 'describe': return this.onDescribe(head, frame);
      case 'parse':
        this.expectType(frame, Backend.ParseComplete);
        this.queue.shift();
        if (head.entry) this.d.objects.prepared(head.name, head.entry);
        return undefined;
      case 'bind': {
        this.expectType(frame, Backend.BindComplete);
        this.queue.shift();
        this.d.objects.opened(head.portal, this.d.objects.statements.get(head.statement)?.done);
        return undefined;
      }
      case 'close':
        this.expectType(frame, Backend.CloseComplete);
        this.queue.shift();
        if (head.target === 'S') this.d.objects.statements.delete(head.name);
        else this.d.objects.portals.delete(head.name);
        return undefined;
      case 'sync': throw new ProtocolError(`upstream sent message 0x${frame.type.toString(16)} before ReadyForQuery`);
    }
  }

  private onReady(frame: Frame): undefined {
    const done = this.queue.shift();
    if (done?.kind === 'query') this.finishQuery(done);
    else if (done?.kind !== 'sync') throw new ProtocolError('upstream sent ReadyForQuery out of turn');
    this.transaction = parseReadyForQuery(frame.body);
    if (this.transaction === 'I') this.d.objects.transactionEnded();
    return undefined;
  }

  private onQueryResult(q: QueryExpectation, frame: Frame): Buffer | null | undefined {
    switch (frame.type) {
      case Backend.RowDescription:
        q.shaper.describe(parseRowDescription(frame.body));
        this.drawRows(q);
        return undefined;
      case Backend.DataRow:
        if (this.d.shaping && !q.shaper.described) throw unplaceable();
        return q.shaper.row(frame.raw, frame.body);
      case Backend.CopyOutResponse:
        this.drawRows(q);
        return undefined;
      case Backend.CopyData: return q.shaper.copyRow() ? undefined : null;
      case Backend.CommandComplete: {
        const reply = this.completeStatement(q.shaper, frame, q.results);
        const statement = q.statements[q.index++];
        if (statement && !q.refused) this.d.objects.completed(statement, q.done);
        return reply;
      }
      case Backend.EmptyQueryResponse:
      case Backend.CopyInResponse:
      case Backend.CopyDone:
        return undefined;
      default:
        throw new ProtocolError(`unexpected upstream message 0x${frame.type.toString(16)} in a query result`);
    }
  }

  /** A FETCH draws rows from its cursor's budget; any other statement's result has its own. */
  private drawRows(q: QueryExpectation) {
    const statement = q.statements[q.index];
    const cursor = statement?.kind === 'fetch' && statement.name !== undefined ? this.d.objects.portals.get(statement.name) : undefined;
    if (cursor) q.shaper.drawFrom(cursor.budget);
  }

  private onExecuteResult(e: ExecuteExpectation, frame: Frame): Buffer | null | undefined {
    switch (frame.type) {
      case Backend.DataRow: {
        const shaper = e.shaper ?? this.shape(e, undefined);
        if (this.d.shaping && !shaper.described) throw unplaceable();
        return shaper.row(frame.raw, frame.body);
      }
      case Backend.CopyData: return (e.shaper ?? this.shape(e, undefined)).copyRow() ? undefined : null;
      case Backend.CopyOutResponse: case Backend.CopyInResponse: case Backend.CopyDone: return undefined;
      case Backend.CommandComplete:
      case Backend.EmptyQueryResponse:
      case Backend.PortalSuspended: {
        this.queue.shift();
        const shaper = e.shaper ?? this.shape(e, undefined);
        const results: StatementOutcome[] = [];
        const reply = frame.type === Backend.CommandComplete ? this.completeStatement(shaper, frame, results) : this.capNotice(shaper);
        if (frame.type === Backend.PortalSuspended) shaper.reset();
        e.done?.({ ms: round(performance.now() - e.started), ...(results[0] ?? { rows: shaper.rows }) });
        return reply && frame.type === Backend.PortalSuspended ? Buffer.concat([reply, frame.raw]) : reply;
      }
      default:
        throw new ProtocolError(`unexpected upstream message 0x${frame.type.toString(16)} in an Execute result`);
    }
  }

  /**
   * The shaper for one Execute, from its portal as the upstream confirmed it and the portal's description (undefined
   * when none was asked for: then rows may pass only if nothing needs to shape them).
   */
  private shape(e: ExecuteExpectation, fields: FieldDescription[] | null | undefined): ResultShaper {
    const portal = this.d.objects.portals.get(e.portal);
    if (this.d.shaping && (!portal || fields === undefined)) throw unplaceable();
    const shaper = this.d.shaper();
    if (portal) shaper.drawFrom(portal.budget);
    if (fields) shaper.describe(fields);
    e.done = portal?.done;
    e.shaper = shaper;
    return shaper;
  }

  private onDescribe(d: DescribeExpectation, frame: Frame): Buffer | null | undefined {
    if (frame.type === Backend.ParameterDescription && d.target === 'S' && !d.gotParams) {
      d.gotParams = true;
      return d.swallow ? null : undefined;
    }
    if (frame.type !== Backend.RowDescription && frame.type !== Backend.NoData) throw new ProtocolError('unexpected upstream reply to Describe');
    this.queue.shift();
    // A portal's description carries the result formats its Bind asked for.
    d.fields = frame.type === Backend.RowDescription ? parseRowDescription(frame.body) : null;
    if (d.feeds && !d.feeds.shaper) this.shape(d.feeds, d.fields);
    return d.swallow ? null : undefined;
  }

  private onError(frame: Frame): Buffer | undefined {
    const head = this.queue[0];
    if (!head) return undefined; // e.g. a FATAL before the upstream closes
    let reply: Buffer | undefined;
    if ((head.kind === 'query' || head.kind === 'parse') && head.refused) {
      reply = errorResponse({ severity: 'ERROR', code: head.refused.code ?? INSUFFICIENT_PRIVILEGE, message: framed(head.refused.message), detail: `rule: ${head.refused.rule}` });
    }
    if (head.kind === 'query') {
      head.results.push({ rows: head.shaper.rows, dropped: 0, error: head.refused ? head.refused.rule : parseErrorResponse(frame.body).message });
      return reply; // ReadyForQuery ends a simple query, error or not
    }
    // Extended protocol: after an error the upstream skips everything up to Sync; so do our expectations.
    const failed = this.queue.shift()!;
    if (failed.kind === 'execute') failed.done?.({ ms: round(performance.now() - failed.started), error: parseErrorResponse(frame.body).message });
    while (this.queue.length && this.queue[0].kind !== 'sync') this.queue.shift();
    return reply;
  }

  private completeStatement(shaper: ResultShaper, frame: Frame, results: StatementOutcome[]): Buffer | undefined {
    const tag = parseCommandComplete(frame.body);
    const { rows, findings } = shaper;
    results.push({ tag, rows, dropped: shaper.dropped, columns: shaper.columns, sample: shaper.sample, ...(findings.length ? { guards: findings } : {}) });
    const notice = this.capNotice(shaper);
    shaper.reset();
    return notice && Buffer.concat([notice, commandComplete(tag.replace(/\d+$/, String(rows)))]);
  }

  /** The NOTICE that says rows were withheld by max_rows, if any were. */
  private capNotice(shaper: ResultShaper): Buffer | undefined {
    if (!shaper.dropped) return undefined;
    return noticeResponse({
      severity: 'NOTICE', code: '01000',
      message: `Gatehouse: result capped at ${shaper.maxRows} rows (max_rows); ${shaper.dropped} more rows were not returned`,
    });
  }

  private finishQuery(q: QueryExpectation) {
    if (q.refused) return;
    q.done?.({ ms: round(performance.now() - q.started), statements: q.results });
  }

  private expectType(frame: Frame, type: number) {
    if (frame.type !== type) throw new ProtocolError(`expected upstream message 0x${type.toString(16)}, got 0x${frame.type.toString(16)}`);
  }
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;
