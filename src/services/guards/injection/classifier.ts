// The statistical layer: logistic regression over hashed words and 4-grams plus named features (rules, signals, source, length).
// The model file is produced by scripts/guards-train-injection.ts; weights ship quantised to int8.
import { hashedFeatures, type SparseVector } from './features.ts';

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
  return {
    hashed: hashedFeatures(folded, model.hashBits, SOURCE_SEED[source]),
    named: [...rules, ...rules.map((rule) => `${source}:${rule}`), `source:${source}`, `${source}:length:${lengthBucket(folded.length)}`],
  };
}

export function logit(model: Model, features: Features): number {
  let z = model.bias;
  const { indices, values } = features.hashed;
  for (let i = 0; i < indices.length; i++) z += model.weights[indices[i]] * values[i];
  for (const name of features.named) z += model.named[name] ?? 0;
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
