// The statistical layer: logistic regression over hashed words and 4-grams plus named features (rules, signals, source, length).
// The model file is produced by scripts/guards-train-injection.ts; weights ship quantised to int8.
import { hashedDot, hashedFeatures, type SparseVector } from './features.ts';

export type Source = 'user' | 'document';

/** What the trainer writes to injection-model.json. */
export interface ModelFile {
  version: 1;
  hashBits: number;
  bias: number;
  /** Hashed weights = int8 values × scale, base64-encoded. */
  scale: number;
  weights: string;
  /** Weights of rules, signals, the source and the length bucket, by name. */
  named: Record<string, number>;
  /** Score at or above which a text is flagged, per source; calibrated on out-of-fold scores of the development data. */
  thresholds: Record<Source, number>;
  training: Record<string, unknown>;
}

export interface Model {
  hashBits: number;
  bias: number;
  weights: Float32Array;
  named: Record<string, number>;
  thresholds: Record<Source, number>;
}

export interface Features {
  hashed: SparseVector;
  named: string[];
}

/** Texts of very different lengths behave differently (jailbreaks are long); the bucket is a feature per source. */
const lengthBucket = (length: number) => Math.min(5, Math.floor(Math.log(Math.max(length, 32) / 32) / Math.log(4)));

/** Seeds of each source's private buckets (see hashedFeatures): the same words can mean different things by source. */
const SOURCE_SEED: Record<Source, number> = { user: 0x5bd1e995, document: 0x27d4eb2f };

/**
 * Every n-gram and rule counts twice, once shared by both sources and once for `source` alone ("frustratingly easy"
 * domain adaptation): "Write a script that…" is a request from a user but an injection inside a document.
 */
export function featuresOf(folded: string, rules: readonly string[], source: Source, model: Pick<Model, 'hashBits'>): Features {
  return { hashed: hashedFeatures(folded, model.hashBits, SOURCE_SEED[source]), named: namedFeatures(folded, rules, source) };
}

/**
 * The per-source names (`user:dan-persona`, `source:user`, `user:length:2`), each built once: a string made afresh
 * for every line of a document would have to be hashed again for every lookup.
 */
const OWN_NAMES: Record<Source, Map<string, string>> = { user: new Map(), document: new Map() };
const SOURCE_NAME: Record<Source, string> = { user: 'source:user', document: 'source:document' };
const LENGTH_NAMES: Record<Source, string[]> = {
  user: [0, 1, 2, 3, 4, 5].map((bucket) => `user:length:${bucket}`),
  document: [0, 1, 2, 3, 4, 5].map((bucket) => `document:length:${bucket}`),
};

function ownName(source: Source, rule: string): string {
  let name = OWN_NAMES[source].get(rule);
  if (name === undefined) OWN_NAMES[source].set(rule, (name = `${source}:${rule}`));
  return name;
}

const namedFeatures = (folded: string, rules: readonly string[], source: Source) =>
  [...rules, ...rules.map((rule) => ownName(source, rule)), SOURCE_NAME[source], LENGTH_NAMES[source][lengthBucket(folded.length)]];

/**
 * The model's log-odds for a text: the bias, then the weights of `featuresOf(…)` in order, summed as the hashed
 * features are made — scanning never needs the vector itself. Bit for bit what summing over `featuresOf` gives (tested).
 */
export function logit(model: Model, folded: string, rules: readonly string[], source: Source): number {
  let z = hashedDot(folded, model.hashBits, SOURCE_SEED[source], model.weights, model.bias);
  for (const name of namedFeatures(folded, rules, source)) z += model.named[name] ?? 0;
  return z;
}

export const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

export function decodeModel(file: ModelFile): Model {
  const bytes = Buffer.from(file.weights, 'base64');
  const quantised = new Int8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  return {
    hashBits: file.hashBits,
    bias: file.bias,
    weights: Float32Array.from(quantised, (q) => q * file.scale),
    named: file.named,
    thresholds: file.thresholds,
  };
}

/** Int8 with one scale: a quarter of float32's size, and a model's ranking barely moves. */
export function quantise(weights: Float32Array): { scale: number; weights: string; dequantised: Float32Array } {
  const max = weights.reduce((m, w) => Math.max(m, Math.abs(w)), 0) || 1;
  const scale = max / 127;
  const q = Int8Array.from(weights, (w) => Math.round(w / scale));
  return {
    scale,
    weights: Buffer.from(q.buffer, q.byteOffset, q.byteLength).toString('base64'),
    dequantised: Float32Array.from(q, (v) => v * scale),
  };
}
