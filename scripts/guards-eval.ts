// Measures the guards against the labelled data: PII/secret detectors per type, prompt injection per category (test split).
// Usage: tsx scripts/guards-eval.ts <data dir> [--errors]   (the data dir holds pii_secrets.jsonl and prompt_injection.jsonl)
import { detect } from '../src/services/guards/detectors.ts';
import { scanInjection } from '../src/services/guards/injection/scan.ts';
import { SECRETS, type DetectorType } from '../src/services/guards/types.ts';
import {
  emptyCounts, injectionFile, pct, piiFile, prf, readJsonl, splitInjection, utf16Offsets,
  type Counts, type InjectionRecord, type PiiRecord,
} from './guards-dataset.ts';

/** Data set type → the detector types that count as finding it. Vendor and keyword secrets may be found by any secret detector. */
const TYPE_MAP: Record<string, ReadonlySet<DetectorType>> = {
  email: new Set(['email']),
  phone: new Set(['phone']),
  credit_card: new Set(['credit_card']),
  us_ssn: new Set(['us_ssn']),
  iban: new Set(['iban']),
  ip_address: new Set(['ip_address']),
  aws_access_key: new Set(['aws_access_key']),
  aws_secret_key: new Set(['aws_secret_key']),
  github_token: new Set(['github_token']),
  private_key: new Set(['private_key']),
  jwt: new Set(['jwt']),
  generic_api_key: SECRETS,
  api_key: SECRETS,
};

const row = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;

export function evaluatePii(records: PiiRecord[], showErrors: boolean): string[] {
  const lines = [
    '### PII and secret detectors (all of pii_secrets.jsonl; nothing was trained on it)',
    '',
    'Record level: a positive record counts as found when a finding of a matching type exists; a negative (near-miss) record',
    'counts as a false positive when one exists. Span level: labelled spans overlapped by a finding of a matching type, and',
    'findings in fully annotated positive records that overlap no labelled span of that type.',
    '',
    row(['type', 'pos', 'neg', 'precision', 'recall', 'F1', 'span recall', 'exact spans', 'span precision']),
    row(Array(9).fill('---')),
  ];
  const total = emptyCounts();
  for (const [dataType, ours] of Object.entries(TYPE_MAP)) {
    const c = emptyCounts();
    let spans = 0, overlapped = 0, exact = 0, spanTp = 0, spanFp = 0;
    for (const r of records) {
      const positive = r.label === 1 && r.entity_types.includes(dataType);
      const negative = r.label === 0 && (r.negative_for ?? []).includes(dataType);
      if (!positive && !negative) continue;
      const findings = detect(r.text).filter((f) => ours.has(f.type));
      const hit = findings.length > 0;
      if (positive) c[hit ? 'tp' : 'fn']++;
      else c[hit ? 'fp' : 'tn']++;
      if (showErrors && positive !== hit) {
        console.error(`${positive ? 'MISS' : 'FALSE'} ${dataType} ${r.id}: ${JSON.stringify(r.text.slice(0, 160))} → ${JSON.stringify(findings.map((f) => `${f.type}:${f.value}`))}`);
      }
      if (!positive) continue;
      const offsets = utf16Offsets(r.text);
      const labelled = r.entities
        .filter((e) => e.type === dataType && e.start !== null && e.end !== null)
        .map((e) => ({ start: offsets[e.start ?? 0], end: offsets[e.end ?? 0] }));
      for (const e of labelled) {
        spans++;
        if (findings.some((f) => f.start < e.end && e.start < f.end)) overlapped++;
        if (findings.some((f) => f.start === e.start && f.end === e.end)) exact++;
      }
      if (r.spans_complete && labelled.length > 0) {
        for (const f of findings) {
          if (labelled.some((e) => f.start < e.end && e.start < f.end)) spanTp++;
          else spanFp++;
        }
      }
    }
    const { precision, recall, f1 } = prf(c);
    for (const k of ['tp', 'fp', 'fn', 'tn'] as const) total[k] += c[k];
    lines.push(row([
      dataType, c.tp + c.fn, c.fp + c.tn, pct(precision), pct(recall), pct(f1),
      spans ? `${pct(overlapped / spans)} of ${spans}` : '—', spans ? pct(exact / spans) : '—',
      spanTp + spanFp ? pct(spanTp / (spanTp + spanFp)) : '—',
    ]));
  }
  const { precision, recall, f1 } = prf(total);
  lines.push(row(['**all**', total.tp + total.fn, total.fp + total.tn, pct(precision), pct(recall), pct(f1), '', '', '']));
  return lines;
}

/** Per category: P/R/F1 of that category against every record of the opposite label, plus the flag rate. */
export function evaluateInjection(records: InjectionRecord[], showErrors: boolean): string[] {
  const { test } = splitInjection(records);
  const flagged = new Map(test.map((r) => [r.id, scanInjection(r.text, { source: r.subset === 'indirect' ? 'document' : 'user' }).flagged]));
  const countsFor = (rs: InjectionRecord[]): Counts => {
    const c = emptyCounts();
    for (const r of rs) {
      const f = flagged.get(r.id) ?? false;
      c[r.label === 1 ? (f ? 'tp' : 'fn') : f ? 'fp' : 'tn']++;
    }
    return c;
  };
  const lines = [
    `### Prompt injection (held-out test split: ${test.length} of ${records.length} records)`,
    '',
    'Per category, precision/recall/F1 are computed on that category plus every test record of the opposite label, so a',
    'benign category shows how its false positives cost precision. "flagged" is the share of the category flagged.',
    '',
    row(['category', 'label', 'n', 'flagged', 'precision', 'recall', 'F1']),
    row(Array(7).fill('---')),
  ];
  const categories = [...new Set(test.map((r) => r.category))].sort();
  for (const category of categories) {
    const own = test.filter((r) => r.category === category);
    const label = own[0].label;
    const c = countsFor([...own, ...test.filter((r) => r.label !== label)]);
    const { precision, recall, f1 } = prf(c);
    const rate = own.filter((r) => flagged.get(r.id)).length / own.length;
    lines.push(row([category, label, own.length, pct(rate), pct(precision), pct(recall), pct(f1)]));
  }
  for (const [name, subset] of [['direct (user)', 'direct'], ['indirect (document)', 'indirect'], ['**all**', undefined]] as const) {
    const rs = subset ? test.filter((r) => r.subset === subset) : test;
    const { precision, recall, f1 } = prf(countsFor(rs));
    lines.push(row([name, '', rs.length, pct(rs.filter((r) => flagged.get(r.id)).length / rs.length), pct(precision), pct(recall), pct(f1)]));
  }
  if (showErrors) {
    for (const r of test) {
      if ((flagged.get(r.id) ?? false) !== (r.label === 1)) {
        const scan = scanInjection(r.text, { source: r.subset === 'indirect' ? 'document' : 'user' });
        console.error(`${r.label ? 'MISS' : 'FALSE'} ${r.category} ${r.id} ${scan.score.toFixed(3)} [${scan.rules.join(',')}]: ${JSON.stringify(r.text.slice(0, 200))}`);
      }
    }
  }
  return lines;
}

function main(): void {
  const dataDir = process.argv[2];
  if (!dataDir) {
    console.error('usage: tsx scripts/guards-eval.ts <data dir> [--errors] [--pii|--injection]');
    process.exit(2);
  }
  const showErrors = process.argv.includes('--errors');
  const only = process.argv.find((a) => a === '--pii' || a === '--injection');
  const out: string[] = [];
  if (only !== '--injection') out.push(...evaluatePii(readJsonl<PiiRecord>(piiFile(dataDir)), showErrors), '');
  if (only !== '--pii') out.push(...evaluateInjection(readJsonl<InjectionRecord>(injectionFile(dataDir)), showErrors));
  console.log(out.join('\n'));
}

main();
