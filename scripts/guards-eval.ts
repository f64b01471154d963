// Measures the guards against the labelled data: PII/secret detectors per type; prompt injection leaving one source out.
// Usage: tsx scripts/guards-eval.ts <data dir> [--errors] [--pii|--injection] [--scores <file from the trainer>]
// (the data dir holds pii_secrets.jsonl, prompt_injection.jsonl and prompt_injection_extra.jsonl)
import { detect } from '../src/services/guards/detectors.ts';
import { readFileSync } from 'node:fs';
import { CHANNELS, type Source } from '../src/services/guards/injection/classifier.ts';
import { bundledModels, scanWith } from '../src/services/guards/injection/scan.ts';
import { SECRETS, type DetectorType } from '../src/services/guards/types.ts';
import {
  SPLIT_SEED, benignCell, channelOf, emptyCounts, loadInjection, pct, piiFile, prf, readJsonl, repoOf, seededRandom, shuffle, utf16Offsets,
  type InjectionRecord, type PiiRecord,
} from './guards-dataset.ts';
import { channelExamples, leaveOneSourceOut, shipped, sources, train, type Scored } from './guards-injection-model.ts';

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

/** The leave-one-source-out scores: from a file `guards-train-injection.ts --scores` wrote, or computed afresh. */
function looScores(records: InjectionRecord[], scoresFile: string | undefined): Scored[] {
  if (!scoresFile) return leaveOneSourceOut(records, (line) => console.error(line));
  const byId = new Map(records.map((r) => [r.id, r]));
  return (JSON.parse(readFileSync(scoresFile, 'utf8')) as { id: string; channel: Source; score: number; byRules: boolean }[])
    .map((s) => ({ record: byId.get(s.id) as InjectionRecord, channel: s.channel, score: s.score, byRules: s.byRules }));
}

const rate = (scores: number[], threshold: number) => scores.filter((s) => s >= threshold).length / Math.max(1, scores.length);
/** Flagged as the product flags: the model's score at the threshold, or the rules alone (RULE_FLOOR). */
const flaggedRate = (scored: Scored[], threshold: number) => scored.filter((s) => s.byRules || s.score >= threshold).length / Math.max(1, scored.length);
const cellMark = (ok: boolean) => (ok ? '' : ' ✗');

/**
 * Leave one source out, at the thresholds the product ships: per held-out repository and channel, the share of its
 * attacks caught (target ≥ 60%) and of each of its benign cells flagged (target ≤ 3%). Every cell is shown, met or not.
 */
export function evaluateInjection(records: InjectionRecord[], scoresFile: string | undefined, showErrors: boolean): string[] {
  const models = bundledModels();
  const scored = looScores(records, scoresFile);
  const lines = [
    `### Prompt injection — leave one source out (${records.length} records, ${sources(records).length} sources)`,
    '',
    `Each row: a model trained on every other source scores this source's records on their channel; thresholds are the`,
    `shipped ones (user ${models.user.threshold}, document ${models.document.threshold}), or the rules alone (RULE_FLOOR). ✗ marks a cell that misses its target (attacks caught ≥ 60%,`,
    'benign flagged ≤ 3%).',
    '',
    row(['held-out source', 'channel', 'cell', 'n', 'caught / flagged']),
    row(Array(5).fill('---')),
  ];
  for (const source of sources(records)) {
    for (const channel of CHANNELS) {
      const mine = scored.filter((s) => repoOf(s.record) === source && s.channel === channel);
      if (!mine.length) continue;
      const threshold = models[channel].threshold;
      const attacks = mine.filter((s) => s.record.label === 1);
      if (attacks.length) {
        const caught = flaggedRate(attacks, threshold);
        lines.push(row([source, channel, 'attacks', attacks.length, `**${pct(caught)}**${cellMark(caught >= 0.6)}`]));
      }
      const cells = new Map<string, Scored[]>();
      for (const s of mine.filter((x) => x.record.label === 0)) cells.set(benignCell(s.record), [...(cells.get(benignCell(s.record)) ?? []), s]);
      for (const [cell, scores] of [...cells].sort(([a], [b]) => a.localeCompare(b))) {
        const flagged = flaggedRate(scores, threshold);
        lines.push(row([source, channel, `benign: ${cell}`, scores.length, `${pct(flagged)}${cellMark(flagged <= 0.03)}`]));
      }
      if (showErrors) {
        for (const s of mine) {
          if ((s.byRules || s.score >= threshold) !== (s.record.label === 1)) console.error(`${s.record.label ? 'MISS' : 'FALSE'} ${source} ${channel} ${s.record.id} ${s.score.toFixed(3)}: ${JSON.stringify(s.record.text.slice(0, 160))}`);
        }
      }
    }
  }
  lines.push('', ...randomSplit(records, models));
  return lines;
}

/**
 * A seeded random 80/20 split of all records, scored at the same thresholds: what the model remembers of sources it
 * has seen. Reported only beside the leave-one-source-out table, never instead of it.
 */
function randomSplit(records: InjectionRecord[], models: ReturnType<typeof bundledModels>): string[] {
  const shuffled = shuffle(records, seededRandom(SPLIT_SEED));
  const cut = Math.floor(shuffled.length * 0.8);
  const [trainOn, test] = [shuffled.slice(0, cut), shuffled.slice(cut)];
  const lines = [`Random split for comparison (memory, not defence): trained on a seeded 80% of all records, scored on the other ${test.length}.`, '', row(['channel', 'attacks caught', 'benign flagged']), row(Array(3).fill('---'))];
  for (const channel of CHANNELS) {
    const model = { ...shipped(train(channelExamples(trainOn, channel)), models[channel].threshold).model };
    const mine = test.filter((r) => channelOf(r) === channel).map((r) => ({ label: r.label, flagged: scanWith(model, r.text, channel).flagged ? 1 : 0 }));
    const attacks = mine.filter((m) => m.label === 1).map((m) => m.flagged);
    const benign = mine.filter((m) => m.label === 0).map((m) => m.flagged);
    lines.push(row([channel, `${pct(rate(attacks, 1))} of ${attacks.length}`, `${pct(rate(benign, 1))} of ${benign.length}`]));
  }
  return lines;
}

function main(): void {
  const dataDir = process.argv[2];
  if (!dataDir) {
    console.error('usage: tsx scripts/guards-eval.ts <data dir> [--errors] [--pii|--injection] [--scores <file>]');
    process.exit(2);
  }
  const showErrors = process.argv.includes('--errors');
  const only = process.argv.find((a) => a === '--pii' || a === '--injection');
  const out: string[] = [];
  if (only !== '--injection') out.push(...evaluatePii(readJsonl<PiiRecord>(piiFile(dataDir)), showErrors), '');
  const scoresAt = process.argv.indexOf('--scores');
  if (only !== '--pii') out.push(...evaluateInjection(loadInjection(dataDir), scoresAt > 0 ? process.argv[scoresAt + 1] : undefined, showErrors));
  console.log(out.join('\n'));
}

main();
