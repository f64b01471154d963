// Compares two bench runs (bench/results/*.json) metric by metric: the Gatehouse column before and after, and each
// run's ratio to its reference. Usage: npx tsx bench/compare.ts before.json after.json [label-before] [label-after]
import { readFileSync } from 'node:fs';
import { fmt, type Row } from './lib/report.ts';

interface Run { at: string; rows: Row[]; machine: { loadavg?: { before: number; after: number } } }

const [a, b, la = 'before', lb = 'after'] = process.argv.slice(2);
if (!a || !b) {
  console.error('usage: tsx bench/compare.ts <before.json> <after.json> [label-before] [label-after]');
  process.exit(2);
}
const before = JSON.parse(readFileSync(a, 'utf8')) as Run;
const after = JSON.parse(readFileSync(b, 'utf8')) as Run;
const key = (r: Row) => `${r.section}\u0000${r.metric}`;
const old = new Map(before.rows.map((r) => [key(r), r]));
const head = ['section', 'metric', 'unit', `Gatehouse ${la}`, `Gatehouse ${lb}`, 'change', `G/ref ${la}`, `G/ref ${lb}`, `pass ${lb}`];
const body = after.rows.filter((r) => r.gatehouse !== undefined || old.get(key(r))?.gatehouse !== undefined).map((r) => {
  const o = old.get(key(r));
  const change = o?.gatehouse && r.gatehouse !== undefined ? `${r.gatehouse / o.gatehouse >= 1 ? '+' : ''}${fmt((r.gatehouse / o.gatehouse - 1) * 100, 2)}%` : '';
  return [r.section, r.metric, r.unit, fmt(o?.gatehouse), fmt(r.gatehouse), change, fmt(o?.ratioRef, 2), fmt(r.ratioRef, 2), r.pass === undefined ? '' : r.pass ? 'PASS' : 'FAIL'];
});
const widths = head.map((h, i) => Math.max(h.length, ...body.map((x) => x[i].length)));
const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
console.log([line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n'));
const load = (r: Run) => (r.machine.loadavg ? `${r.machine.loadavg.before.toFixed(1)}→${r.machine.loadavg.after.toFixed(1)}` : 'n/a');
console.log(`\n${la}: ${before.at} (load ${load(before)}); ${lb}: ${after.at} (load ${load(after)})`);
