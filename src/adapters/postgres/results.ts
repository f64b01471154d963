// The response path for rows: masks cells by their source column, caps row counts, keeps a sample for replay.
import type { MaskStrategy, Obligations } from '../../pipeline/verdict.ts';
import { maskValue } from '../../services/guards/index.ts';
import { dataRow } from './codec/backend.ts';
import type { FieldDescription } from './codec/backend.ts';

/** `tableOid.attnum` → strategy for every masked column this role has, resolved from the upstream catalog. */
export type MaskIndex = ReadonlyMap<string, MaskStrategy>;

const SAMPLE_ROWS = 20;
const SAMPLE_CELL = 200;

/** Per-result state: which cells to mask, how many rows may pass, what the replay keeps. */
export class ResultShaper {
  rows = 0;
  dropped = 0;
  sample: (string | null)[][] = [];
  columns: string[] = [];
  private masks: (MaskStrategy | undefined)[] = [];
  private binary: boolean[] = [];

  constructor(private readonly obligations: Obligations, private readonly index: MaskIndex, private readonly key: Buffer) {}

  get maxRows(): number | undefined {
    return this.obligations.maxRows;
  }

  /** Starts the next statement's result (multi-statement queries); the previous sample stays with its outcome. */
  reset() {
    this.rows = 0;
    this.dropped = 0;
    this.sample = [];
    this.columns = [];
    this.masks = [];
  }

  /** True when rows must be decoded at all; otherwise DataRows pass through untouched (and uncounted for the sample). */
  get active(): boolean {
    return this.masks.some(Boolean) || this.obligations.maxRows !== undefined;
  }

  describe(fields: FieldDescription[], formats?: number[]) {
    this.columns = fields.map((f) => f.name);
    this.masks = fields.map((f) => (f.tableOid ? this.index.get(`${f.tableOid}.${f.columnAttr}`) : undefined));
    this.binary = fields.map((f, i) => (formats ? (formats.length === 1 ? formats[0] : formats[i] ?? 0) : f.format) === 1);
  }

  /** Returns the frame to send for one DataRow, or null to drop it (over the cap). */
  row(raw: Buffer, cells: (Buffer | null)[]): Buffer | null {
    if (this.obligations.maxRows !== undefined && this.rows >= this.obligations.maxRows) {
      this.dropped++;
      return null;
    }
    this.rows++;
    let out = raw;
    if (this.masks.some(Boolean)) {
      const masked = cells.map((cell, i) => {
        const strategy = this.masks[i];
        if (!strategy || cell === null) return cell;
        // A binary-format cell cannot be rewritten as text safely for every type: it is withheld instead.
        if (this.binary[i]) return null;
        return maskValue(cell.toString('utf8'), strategy, { key: this.key });
      });
      out = dataRow(masked);
      cells = masked.map((c) => (typeof c === 'string' ? Buffer.from(c) : c));
    }
    if (this.sample.length < SAMPLE_ROWS) {
      this.sample.push(cells.map((c, i) => (c === null ? null : this.binary[i] ? `<${c.length} bytes binary>` : c.toString('utf8').slice(0, SAMPLE_CELL))));
    }
    return out;
  }

  /** A count of sampled rows for results that passed through unshaped. */
  passthrough(cells: (Buffer | null)[]) {
    this.rows++;
    if (this.sample.length < SAMPLE_ROWS) this.sample.push(cells.map((c) => (c === null ? null : c.toString('utf8').slice(0, SAMPLE_CELL))));
  }
}
