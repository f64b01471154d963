// Training of the per-channel injection models, leave-one-source-out scoring, and the frozen threshold rule: shared by
// the trainer (which ships the model) and the evaluation (which reports every held-out cell at the shipped threshold).
import { CHANNELS, featuresOf, quantise, sigmoid, type Features, type Model, type Source } from '../src/services/guards/injection/classifier.ts';
import { views, type Normalized } from '../src/services/guards/injection/normalize.ts';
import { PRIOR_WEIGHTS, matchRules } from '../src/services/guards/injection/rules.ts';
import { scanWith, segments } from '../src/services/guards/injection/scan.ts';
import { SPLIT_SEED, benignCell, channelOf, languageOf, repoOf, seededRandom, shuffle, type InjectionRecord } from './guards-dataset.ts';

export const CONFIG = {
  hashBits: 16,
  epochs: 12,
  learningRate: 0.5,
  /** L2 on hashed weights: strong, because a model that generalises to unseen sources must not memorise phrasings. */
  l2: 3e-3,
  /** Pull of rule weights back towards their curated prior. */
  priorStrength: 5e-2,
};

/**
 * The frozen rule that picks each channel's threshold, written before any held-out fold was looked at: the lowest score
 * at which no benign cell of the channel (20 records or more) is flagged more than MAX_CELL_FPR of the time, on
 * leave-one-source-out scores. A blocked legitimate prompt costs more than a missed attack, which still meets the
 * model's own training and the gateway's grants.
 */
export const MAX_CELL_FPR = 0.02;
export const MIN_CELL = 20;

interface Example {
  features: Features;
  label: 0 | 1;
  record: InjectionRecord;
}

/** The instruction lines of an inserted attack; code it asks to insert (inside ``` fences) is payload, not instruction. */
function attackLines(attack: string): Set<string> {
  const lines = new Set<string>();
  let inCode = false;
  for (const line of views(attack)[0].n.text.split('\n')) {
    if (line.trim().startsWith('```')) inCode = !inCode;
    else if (!inCode && /\p{L}{2,}/u.test(line)) lines.add(line.trim());
  }
  return lines;
}

/** A short direct attack is one window: it is an injection inside a document too. */
const SHORT = 600;
/**
 * Typed texts that are fine inside a document as well: system prompts (full of "do not reveal" and "instructions"), and
 * questions in many languages (with a `lang`), so that no language is known to the document model from attacks alone.
 */
const DOCUMENT_NEGATIVES = new Set(['benign_system_prompt']);

/**
 * What one record teaches a channel's model, window by window and view by view, as scanning will see it. User texts
 * are one window. Documents are windows: the lines of an inserted attack are positive, every other line negative; an
 * attacked document whose attack is not marked is one positive window. Direct attacks short enough to be one window
 * teach the document model too; benign user prompts do not ("Translate this" is fine typed, not inside an e-mail).
 */
function windowsOf(r: InjectionRecord, channel: Source): { window: Normalized; label: 0 | 1 }[] {
  const own = channelOf(r);
  if (channel === 'user') {
    if (own !== 'user') return [];
    return views(r.text).map((v) => ({ window: v.n, label: r.label }));
  }
  if (own === 'user') {
    if (r.text.length > SHORT || (r.label === 0 && !DOCUMENT_NEGATIVES.has(r.category) && !r.lang)) return [];
    return views(r.text).map((v) => ({ window: v.n, label: r.label }));
  }
  if (r.label === 1 && (r.category === 'attack_ingredient' || !r.attack_text)) {
    return views(r.text).map((v) => ({ window: v.n, label: 1 as const }));
  }
  const attack = r.label === 1 && r.attack_text ? attackLines(r.attack_text) : new Set<string>();
  return views(r.text).flatMap((v) => segments(v.n).map((window) => {
    const line = window.text.trim();
    const inAttack = [...attack].some((a) => a.includes(line) || (line.length > 40 && line.includes(a)));
    return { window, label: inAttack ? 1 as const : 0 as const };
  }));
}

/** Every example of a channel, features computed once (they do not depend on the fold). */
export function channelExamples(records: InjectionRecord[], channel: Source): Example[] {
  return records.flatMap((record) => windowsOf(record, channel).map(({ window, label }) => ({
    features: featuresOf(window.folded, matchRules(window, channel), CONFIG),
    label,
    record,
  })));
}

/**
 * Each class carries half the weight, and within a class each source the square root of its share: a source of 3,000
 * assistant queries should not drown one of 30 jailbreaks, nor count the same as it. Then, within each language that
 * has both classes, attacks and benign texts weigh the same: otherwise a language seen mostly in attacks (the translated
 * ones) becomes a sign of attack, and every text in it a false positive.
 */
function weightsOf(data: Example[]): Float64Array {
  const count = (key: (ex: Example) => string) => {
    const totals = new Map<string, number>();
    for (const ex of data) totals.set(key(ex), (totals.get(key(ex)) ?? 0) + 1);
    return totals;
  };
  const bySource = count((ex) => `${ex.label}/${repoOf(ex.record)}`);
  const raw = Float64Array.from(data, (ex) => 1 / Math.sqrt(bySource.get(`${ex.label}/${repoOf(ex.record)}`) ?? 1));
  const classTotal = [0, 0];
  data.forEach((ex, i) => (classTotal[ex.label] += raw[i]));
  data.forEach((ex, i) => (raw[i] = (raw[i] / classTotal[ex.label]) * (data.length / 2)));
  const byLanguage = new Map<string, number>();
  data.forEach((ex, i) => byLanguage.set(`${ex.label}/${languageOf(ex.record)}`, (byLanguage.get(`${ex.label}/${languageOf(ex.record)}`) ?? 0) + raw[i]));
  return raw.map((w, i) => {
    const lang = languageOf(data[i].record);
    const own = byLanguage.get(`${data[i].label}/${lang}`) ?? 0;
    const other = byLanguage.get(`${1 - data[i].label}/${lang}`) ?? 0;
    return other > 0 ? (w * (own + other)) / (2 * own) : w;
  });
}

/** Logistic regression with AdaGrad; L2 is applied to the features a sample touches (the usual lazy sparse form). */
export function train(data: Example[]): Pick<Model, 'bias' | 'weights' | 'named'> {
  const weights = new Float32Array(1 << CONFIG.hashBits);
  const squared = new Float32Array(1 << CONFIG.hashBits);
  const named: Record<string, number> = { ...PRIOR_WEIGHTS };
  const namedSquared: Record<string, number> = {};
  const sampleWeight = weightsOf(data);
  let bias = -1;
  let biasSquared = 0;
  const random = seededRandom(SPLIT_SEED + 1);
  const step = (g: number, accumulated: number) => (CONFIG.learningRate * g) / (Math.sqrt(accumulated) + 1e-8);
  const order = data.map((_, i) => i);

  for (let epoch = 0; epoch < CONFIG.epochs; epoch++) {
    for (const i of shuffle(order, random)) {
      const ex = data[i];
      const { indices, values } = ex.features.hashed;
      let z = bias;
      for (let k = 0; k < indices.length; k++) z += weights[indices[k]] * values[k];
      for (const name of ex.features.named) z += named[name] ?? 0;
      const g = (sigmoid(z) - ex.label) * sampleWeight[i];
      for (let k = 0; k < indices.length; k++) {
        const j = indices[k];
        const grad = g * values[k] + CONFIG.l2 * weights[j];
        squared[j] += grad * grad;
        weights[j] -= step(grad, squared[j]);
      }
      for (const name of ex.features.named) {
        const current = named[name] ?? 0;
        const grad = g + CONFIG.priorStrength * (current - (PRIOR_WEIGHTS[name] ?? 0));
        namedSquared[name] = (namedSquared[name] ?? 0) + grad * grad;
        named[name] = current - step(grad, namedSquared[name]);
      }
      biasSquared += g * g;
      bias -= step(g, biasSquared);
    }
  }
  const rounded = Object.fromEntries(Object.entries(named).sort(([a], [b]) => a.localeCompare(b)).map(([k, w]) => [k, Number(w.toFixed(4))]));
  return { bias: Number(bias.toFixed(4)), weights, named: rounded };
}

/** A trained channel as it ships: quantised weights (scores are computed exactly as at run time). */
export function shipped(trained: ReturnType<typeof train>, threshold: number): { model: Model; scale: number; weights: string } {
  const q = quantise(trained.weights);
  return { model: { hashBits: CONFIG.hashBits, bias: trained.bias, weights: q.dequantised, named: trained.named, threshold }, scale: q.scale, weights: q.weights };
}

export interface Scored {
  record: InjectionRecord;
  channel: Source;
  score: number;
  /** The rules alone flag it (RULE_FLOOR): counted as flagged whatever the threshold. */
  byRules: boolean;
}

export const sources = (records: InjectionRecord[]) => [...new Set(records.map(repoOf))].sort();

/**
 * Leave one source out: for every upstream repository, both channels' models are trained on every other repository and
 * score each record of the held-out one, on its own channel, exactly as the product would (views, windows, quantised).
 */
export function leaveOneSourceOut(records: InjectionRecord[], log: (line: string) => void = () => {}): Scored[] {
  const examples = Object.fromEntries(CHANNELS.map((c) => [c, channelExamples(records, c)])) as Record<Source, Example[]>;
  const out: Scored[] = [];
  for (const held of sources(records)) {
    const started = Date.now();
    const models = Object.fromEntries(CHANNELS.map((c) => [c, shipped(train(examples[c].filter((ex) => repoOf(ex.record) !== held)), 0.5).model])) as Record<Source, Model>;
    for (const record of records.filter((r) => repoOf(r) === held)) {
      const channel = channelOf(record);
      const scan = scanWith({ ...models[channel], threshold: Infinity }, record.text, channel);
      out.push({ record, channel, score: scan.score, byRules: scan.flagged });
    }
    log(`  held out ${held}: ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
  return out;
}

/** Benign cells of a channel with enough records to measure a rate. */
export function benignCells(scored: Scored[], channel: Source): Map<string, Scored[]> {
  const cells = new Map<string, Scored[]>();
  for (const s of scored) {
    if (s.channel !== channel || s.record.label !== 0) continue;
    const cell = benignCell(s.record);
    cells.set(cell, [...(cells.get(cell) ?? []), s]);
  }
  return new Map([...cells].filter(([, members]) => members.length >= MIN_CELL));
}

/**
 * The frozen rule (see MAX_CELL_FPR): the lowest threshold that keeps every benign cell at or under it, counting what
 * the rules flag on their own (RULE_FLOOR) as flagged whatever the threshold.
 */
export function chooseThreshold(scored: Scored[], channel: Source): number {
  let threshold = 0;
  for (const members of benignCells(scored, channel).values()) {
    const byRules = members.filter((s) => s.byRules).length;
    const sorted = members.filter((s) => !s.byRules).map((s) => s.score).sort((a, b) => b - a);
    const allowed = Math.max(0, Math.floor(MAX_CELL_FPR * members.length) - byRules); // may score at or above the threshold
    const needed = allowed < sorted.length ? sorted[allowed] : 0; // a threshold just above this score
    threshold = Math.max(threshold, needed);
  }
  return Number(Math.min(0.999, threshold + 1e-4).toFixed(4));
}
