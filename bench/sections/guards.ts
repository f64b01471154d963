// Guards: masking detectors and prompt-injection scan throughput, from the guards' own micro-benchmark (bench/guards.ts).
import { benchGuards } from '../guards.ts';
import type { Context, Row } from '../lib/report.ts';

export async function benchGuardsSection(_ctx: Context): Promise<Row[]> {
  const results = await benchGuards();
  return results.map((r): Row => {
    const row: Row = { section: 'guards', metric: r.name.replace(/^guards /, ''), unit: r.unit, gatehouse: r.value };
    // The masking detectors on whole texts; the stream redactor fed 16-character chunks is a different (worst) case.
    if (r.unit === 'µs/KB' && /detect|redact \(|maskJson/.test(r.name) && !/stream/.test(r.name)) { row.target = '< 50 µs/KB'; row.pass = r.value < 50; }
    // Worst-case inputs built per detector: linear time means a bounded cost per KB, whatever the size.
    if (/adversarial/.test(r.name)) { row.target = '< 1,000 µs/KB'; row.pass = r.value < 1000; }
    // "A 4 KB prompt": what a user sends; a retrieved document is scanned with stricter rules and reported beside it.
    if (/scanInjection user 4 KB/.test(r.name)) { row.target = '< 200 µs'; row.pass = r.value < 200; }
    if (r.unit === 'µs/KB' && /scanInjection document/.test(r.name)) { row.target = '< 100 µs/KB'; row.pass = r.value < 100; }
    return row;
  });
}
