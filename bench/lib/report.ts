// The bench's one output shape: rows of measurements side by side with their references, ratios and pass/fail targets.

export interface Row {
  section: string;
  metric: string;
  unit: string;
  /** Straight to the upstream, no proxy. */
  direct?: number;
  /** Node's floor: a bare passthrough/proxy written in a few lines. */
  floor?: number;
  /** The reference proxy (pgbouncer, nginx, Portkey) and its name. */
  ref?: number;
  refName?: string;
  gatehouse?: number;
  /** Gatehouse / reference and Gatehouse / direct (for throughputs); computed when both sides are numbers. */
  ratioRef?: number;
  ratioDirect?: number;
  target?: string;
  pass?: boolean;
  note?: string;
}

export interface Context {
  dir: string;
  seconds: number;
  profileDir?: string;
  log(line: string): void;
}

export function withRatios(row: Row): Row {
  const r = { ...row };
  if (r.gatehouse !== undefined && r.ref !== undefined && r.ref > 0 && r.ratioRef === undefined) r.ratioRef = r.gatehouse / r.ref;
  if (r.gatehouse !== undefined && r.direct !== undefined && r.direct > 0 && r.ratioDirect === undefined) r.ratioDirect = r.gatehouse / r.direct;
  return r;
}

export const fmt = (x: number | undefined, digits = 3): string => {
  if (x === undefined || Number.isNaN(x)) return '';
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 1000) return Math.round(x).toLocaleString('en-US');
  if (a === 0) return '0';
  return Number(x.toPrecision(digits)).toString();
};

const passText = (p: boolean | undefined) => (p === undefined ? '' : p ? 'PASS' : 'FAIL');

/** A Markdown table, readable in a terminal and pasteable into RESULTS.md. */
export function table(rows: Row[]): string {
  const head = ['section', 'metric', 'unit', 'direct', 'node floor', 'reference', 'Gatehouse', 'G/ref', 'G/direct', 'target', 'pass', 'note'];
  const body = rows.map((r) => [
    r.section, r.metric, r.unit, fmt(r.direct), fmt(r.floor), r.ref === undefined ? (r.refName ? `${r.refName}: n/a` : '') : `${fmt(r.ref)} (${r.refName ?? 'ref'})`,
    fmt(r.gatehouse), fmt(r.ratioRef, 2), fmt(r.ratioDirect, 2), r.target ?? '', passText(r.pass), r.note ?? '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}
