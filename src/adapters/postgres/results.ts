// The response path for rows: masks cells by their source column, applies content guards, caps row counts, keeps a sample for replay.
import { mergeNotes, type ContentGuards, type GuardNote, type GuardPolicy } from '../../pipeline/content-guards.ts';
import type { MaskStrategy } from '../../services/guards/types.ts';
import type { Obligations } from '../../services/policy/verdict.ts';
import { maskValue } from '../../services/guards/index.ts';
import { dataRow, parseDataRow } from './codec/backend.ts';
import { ProtocolError } from './codec/cursor.ts';
import type { FieldDescription } from './codec/backend.ts';

/** `tableOid.attnum` → strategy for every masked column this role has, resolved from the upstream catalog. */
export type MaskIndex = ReadonlyMap<string, MaskStrategy>;

const SAMPLE_ROWS = 20;
const SAMPLE_CELL = 200;
/** A UTF-8 character is at most 4 bytes: decoding this much of a cell always yields its first SAMPLE_CELL characters. */
const SAMPLE_BYTES = SAMPLE_CELL * 4;

/** What a row description means for one role: computed once per description, shared by every result it describes. */
interface Layout { index: MaskIndex; columns: string[]; masks: (MaskStrategy | undefined)[]; masked: boolean }
// Keyed by the parsed description: a prepared statement's fields are described once and executed many times.
const layouts = new WeakMap<FieldDescription[], Layout>();
const NO_MASKS: (MaskStrategy | undefined)[] = [];

function layoutOf(fields: FieldDescription[], index: MaskIndex): Layout {
  const hit = layouts.get(fields);
  if (hit?.index === index) return hit;
  const masks = fields.map((f) => (f.tableOid && index.size ? index.get(`${f.tableOid}.${f.columnAttr}`) : undefined));
  const layout = { index, columns: fields.map((f) => f.name), masks, masked: masks.some(Boolean) };
  layouts.set(fields, layout);
  return layout;
}

/** The replay's copy of one cell: text cut to SAMPLE_CELL characters, binary summarised; only what is kept is decoded. */
function sampleCell(cell: Buffer | null, binary: boolean | undefined): string | null {
  if (cell === null) return null;
  if (binary) return `<${cell.length} bytes binary>`;
  return cell.length <= SAMPLE_CELL ? cell.toString('utf8') : cell.toString('utf8', 0, Math.min(cell.length, SAMPLE_BYTES)).slice(0, SAMPLE_CELL);
}

/** A grant's content guards on result values (only built when some guard is on). */
export interface ResultGuards {
  policy: GuardPolicy;
  hook: ContentGuards;
}

/**
 * Rows a portal has handed out so far: `max_rows` caps a portal (an Execute's portal, a SQL cursor), not each Execute
 * or FETCH, so every result drawn from one portal counts against one budget.
 */
export interface RowBudget {
  delivered: number;
}

/** Per-result state: which cells to mask, how many rows may pass, what the replay keeps. */
export class ResultShaper {
  /** Rows of this result sent to the client. */
  rows = 0;
  /** Rows of this result withheld by max_rows. */
  dropped = 0;
  sample: (string | null)[][] = [];
  columns: string[] = [];
  private masks: (MaskStrategy | undefined)[] = NO_MASKS;
  /** Some column of the current result is masked. */
  private masked = false;
  private binary: boolean[] = [];
  private width = -1;
  private budget: RowBudget = { delivered: 0 };
  /** What the content guards found in this result (types and counts, never values). */
  private notes: GuardNote[] = [];

  constructor(private readonly obligations: Obligations, private readonly index: MaskIndex, private readonly key: Buffer, private readonly guards?: ResultGuards) {}

  /** The guards' findings so far, merged for the audit. */
  get findings(): GuardNote[] {
    return mergeNotes(this.notes);
  }

  get maxRows(): number | undefined {
    return this.obligations.maxRows;
  }

  /** Whether a row description for the current result has been given (rows cannot be shaped without one). */
  get described(): boolean {
    return this.width >= 0;
  }

  /** Starts the next statement's result (multi-statement queries); the previous sample stays with its outcome. */
  reset() {
    this.rows = 0;
    this.dropped = 0;
    this.sample = [];
    this.columns = [];
    this.masks = NO_MASKS;
    this.masked = false;
    this.width = -1;
    this.budget = { delivered: 0 };
    this.notes = [];
  }

  /** Counts this result's rows against a portal's budget (by default each result has its own). */
  drawFrom(budget: RowBudget) {
    this.budget = budget;
  }

  describe(fields: FieldDescription[], formats?: number[]) {
    const layout = layoutOf(fields, this.index);
    // Shared with every other result of the same description: never mutated.
    this.columns = layout.columns;
    this.masks = layout.masks;
    this.masked = layout.masked;
    this.width = fields.length;
    this.binary = fields.map((f, i) => (formats ? (formats.length === 1 ? formats[0] : formats[i] ?? 0) : f.format) === 1);
  }

  /**
   * Returns the frame to send for one DataRow (the same `raw` when nothing changes), or null to drop it (over the cap).
   * Rows nothing needs to rewrite are decoded only while the replay sample is filling.
   */
  row(raw: Buffer, body: Buffer): Buffer | null {
    if (!this.admit()) return null;
    const keep = this.sample.length < SAMPLE_ROWS;
    if (!this.masked && !this.guards) {
      if (keep) this.sample.push(parseDataRow(body).map((c, i) => sampleCell(c, this.binary[i])));
      return raw;
    }
    let cells = parseDataRow(body);
    // The description says which cell is which: a row of another shape cannot be masked by it.
    if (cells.length !== this.width) throw new ProtocolError(`upstream sent a row of ${cells.length} columns for a result described with ${this.width}`);
    let out = raw;
    let changed = false;
    const shaped = cells.map((cell, i) => {
      if (cell === null) return cell;
      const strategy = this.masks[i];
      if (strategy) {
        changed = true;
        // A binary-format cell cannot be rewritten as text safely for every type: it is withheld instead.
        return this.binary[i] ? null : maskValue(cell.toString('utf8'), strategy, { key: this.key });
      }
      if (!this.guards || this.binary[i]) return cell;
      const text = cell.toString('utf8');
      const guarded = this.guard(text);
      if (guarded === text) return cell;
      changed = true;
      return guarded;
    });
    if (changed) {
      out = dataRow(shaped);
      cells = shaped.map((c) => (typeof c === 'string' ? Buffer.from(c) : c));
    }
    if (keep) this.sample.push(cells.map((c, i) => sampleCell(c, this.binary[i])));
    return out;
  }

  /** One CopyData row of COPY ... TO STDOUT: counted, and dropped (false) once max_rows is reached. */
  copyRow(): boolean {
    return this.admit();
  }

  /** Counts a row, or the row max_rows withholds. */
  private admit(): boolean {
    if (this.obligations.maxRows !== undefined && this.budget.delivered >= this.obligations.maxRows) {
      this.dropped++;
      return false;
    }
    this.budget.delivered++;
    this.rows++;
    return true;
  }

  /** Content guards on one text value: redacted where the grant says so, findings noted for the audit. */
  private guard(text: string): string {
    const { policy, hook } = this.guards!;
    const out = hook.returned(text, policy);
    this.notes.push(...out.notes);
    return out.text;
  }
}
