// Follows one command's reply from the upstream packet by packet: where it ends, what each packet is, and which rows to shape.
import { ProtocolError } from './codec/bytes.ts';
import { Capability, Reply, Status } from './codec/constants.ts';
import { decodePrepareOk, type PrepareOk } from './codec/commands.ts';
import { decodeColumnCount, decodeColumnDefinition, decodeErr, decodeOk, encodeEof, encodeOk, endStatus, isErr, isResultEnd, type ColumnDefinition, type ErrPacket } from './codec/results.ts';
import type { ResultShaper } from './shaper.ts';

/** What kind of reply a command gets. */
export type ReplyShape =
  /** COM_QUERY, COM_STMT_EXECUTE: OK / ERR / result sets, several when more results exist. */
  | 'result'
  /** COM_STMT_PREPARE: its OK, parameter and column definitions. */
  | 'prepare'
  /** COM_FIELD_LIST: column definitions to an EOF. */
  | 'fields'
  /** COM_PING, COM_INIT_DB, COM_RESET_CONNECTION, COM_SET_OPTION, COM_STMT_RESET: one OK, EOF or ERR. */
  | 'single';

export interface Step {
  /** The payload to send the client (the packet's own when unchanged), or null to send nothing. */
  client: Buffer | null;
  /** A payload to answer the upstream with (the refusal of a LOCAL INFILE request). */
  upstream?: Buffer;
}

type Phase = 'first' | 'columns' | 'columnsEof' | 'rows' | 'params' | 'paramsEof' | 'prepColumns' | 'prepColumnsEof' | 'fields' | 'done';

export class ReplyTracker {
  phase: Phase;
  /** Statements the upstream finished (an OK, or the end of a result set), in order. */
  finished = 0;
  error?: ErrPacket;
  affectedRows = 0;
  prepared?: PrepareOk;
  /** The upstream asked for a client file (LOAD DATA LOCAL), which was refused without the client seeing it. */
  refusedLocalInfile = false;
  /** Server status flags of the reply's last OK or EOF (whether a transaction is open, more results...). */
  status = 0;
  /** Outcomes of each result set, for the audit. */
  readonly results: Record<string, unknown>[] = [];
  private remaining = 0;
  private columns: ColumnDefinition[] = [];

  constructor(readonly shape: ReplyShape, private readonly capabilities: number, private readonly shaper?: ResultShaper) {
    this.phase = shape === 'fields' ? 'fields' : 'first';
  }

  get done(): boolean {
    return this.phase === 'done';
  }

  private get classicEof(): boolean {
    return !(this.capabilities & Capability.DEPRECATE_EOF);
  }

  next(payload: Buffer): Step {
    switch (this.phase) {
      case 'first': return this.first(payload);
      case 'columns': {
        const column = decodeColumnDefinition(payload);
        this.columns.push(column);
        if (--this.remaining === 0) {
          this.shaper?.describe(this.columns);
          this.phase = this.classicEof ? 'columnsEof' : 'rows';
        }
        return { client: payload };
      }
      case 'columnsEof': this.expectEof(payload); this.phase = 'rows'; return { client: payload };
      case 'rows': return this.row(payload);
      case 'params': return this.definition(payload, 'paramsEof');
      case 'paramsEof': this.expectEof(payload); this.afterParams(); return { client: payload };
      case 'prepColumns': return this.definition(payload, 'prepColumnsEof');
      case 'prepColumnsEof': this.expectEof(payload); this.phase = 'done'; return { client: payload };
      case 'fields':
        if (isErr(payload)) return this.fail(payload);
        if (isResultEnd(payload, this.capabilities)) { this.phase = 'done'; this.finished++; return { client: payload }; }
        decodeColumnDefinition(payload);
        return { client: payload };
      case 'done': throw new ProtocolError('the upstream sent more than the reply');
    }
  }

  private first(payload: Buffer): Step {
    if (isErr(payload)) return this.fail(payload);
    if (this.shape === 'single') {
      if (payload[0] !== Reply.OK && payload[0] !== Reply.EOF) throw new ProtocolError('expected OK from the upstream');
      this.status = endStatus(payload);
      this.phase = 'done';
      this.finished++;
      return { client: payload };
    }
    if (this.shape === 'prepare') {
      this.prepared = decodePrepareOk(payload);
      this.remaining = this.prepared.params;
      if (this.remaining) this.phase = 'params';
      else this.afterParams();
      return { client: payload };
    }
    if (payload[0] === Reply.OK) {
      const ok = decodeOk(payload);
      this.status = ok.status;
      this.affectedRows += ok.affectedRows;
      this.finished++;
      this.results.push({ affected: ok.affectedRows });
      this.phase = ok.status & Status.MORE_RESULTS_EXISTS ? 'first' : 'done';
      return { client: payload };
    }
    if (payload[0] === Reply.LOCAL_INFILE) {
      // Gatehouse never offers LOCAL_FILES: a server asking for a client file is refused, and the client never sees it.
      this.refusedLocalInfile = true;
      return { client: null, upstream: Buffer.alloc(0) };
    }
    this.remaining = decodeColumnCount(payload);
    this.columns = [];
    this.phase = 'columns';
    return { client: payload };
  }

  private row(payload: Buffer): Step {
    if (isErr(payload)) return this.fail(payload);
    if (isResultEnd(payload, this.capabilities)) {
      this.finished++;
      this.results.push(this.shaper?.outcome() ?? {});
      this.status = endStatus(payload);
      this.phase = this.status & Status.MORE_RESULTS_EXISTS ? 'first' : 'done';
      return { client: this.shaper?.dropped ? capped(payload, this.shaper.maxRows!) : payload };
    }
    return { client: this.shaper ? this.shaper.row(payload) : payload };
  }

  private definition(payload: Buffer, eofPhase: Phase): Step {
    decodeColumnDefinition(payload);
    if (--this.remaining === 0) {
      if (this.classicEof) this.phase = eofPhase;
      else if (eofPhase === 'paramsEof') this.afterParams();
      else this.phase = 'done';
    }
    return { client: payload };
  }

  private afterParams() {
    this.remaining = this.prepared!.columns;
    this.phase = this.remaining ? 'prepColumns' : 'done';
  }

  private fail(payload: Buffer): Step {
    this.error = decodeErr(payload);
    this.phase = 'done';
    return { client: payload };
  }

  private expectEof(payload: Buffer) {
    if (payload[0] !== Reply.EOF || payload.length >= 9) throw new ProtocolError('expected EOF from the upstream');
  }
}

/**
 * The end of a result max_rows cut short, never silently: one more warning, and (when the client takes an OK here) a
 * message saying so. MySQL has no notice message; the warning count is what every client shows.
 */
function capped(end: Buffer, maxRows: number): Buffer {
  if (end.length < 9) return encodeEof(end.readUInt16LE(3), end.readUInt16LE(1) + 1);
  const ok = decodeOk(end);
  return encodeOk({ ...ok, warnings: ok.warnings + 1, info: `Gatehouse: result capped at ${maxRows} rows (max_rows)` }, Reply.EOF);
}
