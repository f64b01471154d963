// The response path for rows: masks cells by their source column (org_table, org_name), applies content guards, caps row counts, keeps a sample for replay.
import { mergeNotes, type ContentGuards, type GuardNote, type GuardPolicy } from '../../pipeline/content-guards.ts';
import type { Obligations } from '../../services/policy/verdict.ts';
import type { MaskStrategy } from '../../services/guards/types.ts';
import { maskValue } from '../../services/guards/index.ts';
import { BINARY_CHARSET } from './codec/constants.ts';
import { decodeBinaryRow, decodeTextRow, encodeBinaryRow, encodeTextRow, isStringType, type ColumnDefinition } from './codec/results.ts';

const SAMPLE_ROWS = 20;
const SAMPLE_CELL = 200;

/** A grant's content guards on result values (only built when some guard is on). */
export interface ResultGuards {
  policy: GuardPolicy;
  hook: ContentGuards;
}

/** How the result's names fold, to match `schema.table.column` mask keys. */
export interface MaskNames {
  caseSensitive: boolean;
}

/** Per-result state: which cells to mask, how many rows may pass, what the replay keeps. */
export class ResultShaper {
  rows = 0;
  dropped = 0;
  sample: (string | null)[][] = [];
  columns: string[] = [];
  private masks: (MaskStrategy | undefined)[] = [];
  private types: number[] = [];
  private text: boolean[] = [];
  private masked = false;
  private notes: GuardNote[] = [];

  constructor(
    private readonly obligations: Obligations,
    private readonly names: MaskNames,
    private readonly key: Buffer,
    private readonly binary: boolean,
    private readonly guards?: ResultGuards,
  ) {}

  get findings(): GuardNote[] {
    return mergeNotes(this.notes);
  }

  get maxRows(): number | undefined {
    return this.obligations.maxRows;
  }

  /** Starts a result set (a query may return several); counts and samples restart with it. */
  describe(columns: readonly ColumnDefinition[]) {
    const mask = this.obligations.mask ?? {};
    const fold = (s: string) => (this.names.caseSensitive ? s : s.toLowerCase());
    this.rows = 0;
    this.dropped = 0;
    this.sample = [];
    this.notes = [];
    this.columns = columns.map((c) => c.name);
    this.types = columns.map((c) => c.type);
    this.text = columns.map((c) => c.charset !== BINARY_CHARSET);
    // The column's own source, as the server reports it: expressions carry no org_table and are never masked here
    // (the analyser refuses masked columns that reach the output through one).
    this.masks = columns.map((c) => (c.orgTable ? mask[`${fold(c.schema)}.${fold(c.orgTable)}.${c.orgName.toLowerCase()}`] : undefined));
    this.masked = this.masks.some(Boolean);
  }

  /** The payload to send for one row (the same one when nothing changes), or null to drop it (over max_rows). */
  row(payload: Buffer): Buffer | null {
    if (this.obligations.maxRows !== undefined && this.rows >= this.obligations.maxRows) {
      this.dropped++;
      return null;
    }
    this.rows++;
    const keep = this.sample.length < SAMPLE_ROWS;
    if (!this.masked && !this.guards && !keep) return payload;
    const cells = this.binary ? decodeBinaryRow(payload, this.types) : decodeTextRow(payload, this.types.length);
    if (!this.masked && !this.guards) {
      this.sample.push(cells.map((c, i) => this.sampleCell(c, i)));
      return payload;
    }
    let changed = false;
    const shaped = cells.map((cell, i): Buffer | string | null => {
      if (cell === null) return null;
      const strategy = this.masks[i];
      if (strategy) {
        changed = true;
        // A binary-protocol number or date cannot carry masked text: it is withheld instead.
        if (this.binary && !isStringType(this.types[i])) return null;
        return maskValue(cell.toString('utf8'), strategy, { key: this.key });
      }
      if (!this.guards || !this.text[i] || (this.binary && !isStringType(this.types[i]))) return cell;
      const before = cell.toString('utf8');
      const after = this.guard(before);
      if (after === before) return cell;
      changed = true;
      return after;
    });
    if (keep) this.sample.push(shaped.map((c, i) => this.sampleCell(typeof c === 'string' ? Buffer.from(c) : c, i)));
    if (!changed) return payload;
    return this.binary ? encodeBinaryRow(shaped, this.types) : encodeTextRow(shaped);
  }

  /** What the audit keeps of this result. */
  outcome(): Record<string, unknown> {
    const guards = this.findings;
    return { rows: this.rows, ...(this.dropped ? { dropped: this.dropped } : {}), columns: this.columns, sample: this.sample, ...(guards.length ? { guards } : {}) };
  }

  private sampleCell(cell: Buffer | null, i: number): string | null {
    if (cell === null) return null;
    if (!this.text[i] || (this.binary && !isStringType(this.types[i]))) return `<${cell.length} bytes binary>`;
    return cell.toString('utf8', 0, Math.min(cell.length, SAMPLE_CELL * 4)).slice(0, SAMPLE_CELL);
  }

  /** Content guards on one text value: redacted where the grant says so, findings noted for the audit. */
  private guard(text: string): string {
    const { policy, hook } = this.guards!;
    const out = hook.returned(text, policy);
    this.notes.push(...out.notes);
    return out.text;
  }
}
