// The statistical layer: one logistic regression per channel (what a person typed, what came from elsewhere) over hashed
// words and 4-grams plus named features (rules, signals, length). The model file is produced by
// scripts/guards-train-injection.ts; weights ship quantised to int8.
import { hashedDot, hashedFeatures, type SparseVector } from './features.ts';

/**
 * The channel a text arrived on: `user` is what a person typed; `document` is everything else a model reads — tool
 * results, retrieved documents, database values, files. "Translate this to French" is harmless in the first and an
 * injection in the second, so each has its own model and threshold.
 */
export type Source = 'user' | 'document';
export const CHANNELS: readonly Source[] = ['user', 'document'];

/** One channel's part of injection-model.json. */
export interface ChannelFile {
  bias: number;
  /** Hashed weights = int8 values × scale, base64-encoded. */
  scale: number;
  weights: string;
  /** Weights of rules, signals and the length bucket, by name. */
  named: Record<string, number>;
  /** Score at or above which a text is flagged; chosen on leave-one-source-out scores (see the trainer). */
  threshold: number;
}

/** What the trainer writes to injection-model.json. */
export interface ModelFile {
  version: 2;
  hashBits: number;
  channels: Record<Source, ChannelFile>;
  training: Record<string, unknown>;
}

/** One channel's model, ready to score. */
export interface Model {
  hashBits: number;
  bias: number;
  weights: Float32Array;
  named: Record<string, number>;
  threshold: number;
}

export type Models = Record<Source, Model>;

export interface Features {
  hashed: SparseVector;
  named: string[];
}

/** Texts of very different lengths behave differently (jailbreaks are long); the bucket is a feature. */
const lengthBucket = (length: number) => Math.min(5, Math.floor(Math.log(Math.max(length, 32) / 32) / Math.log(4)));
const LENGTH_NAMES = [0, 1, 2, 3, 4, 5].map((bucket) => `length:${bucket}`);

/** The name of the length feature of a text of `length` characters. */
export const lengthName = (length: number) => LENGTH_NAMES[lengthBucket(length)];

const namedFeatures = (folded: string, rules: readonly string[]) => [...rules, lengthName(folded.length)];

export function featuresOf(folded: string, rules: readonly string[], model: Pick<Model, 'hashBits'>): Features {
  return { hashed: hashedFeatures(folded, model.hashBits), named: namedFeatures(folded, rules) };
}

/**
 * The model's log-odds for a text: the bias, then the weights of `featuresOf(…)` in order, summed as the hashed
 * features are made — scanning never needs the vector itself. Bit for bit what summing over `featuresOf` gives (tested).
 */
export function logit(model: Model, folded: string, rules: readonly string[]): number {
  let z = hashedDot(folded, model.hashBits, model.weights, model.bias);
  for (const name of namedFeatures(folded, rules)) z += model.named[name] ?? 0;
  return z;
}

export const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

export function decodeChannel(hashBits: number, file: ChannelFile): Model {
  const bytes = Buffer.from(file.weights, 'base64');
  const quantised = new Int8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  return {
    hashBits,
    bias: file.bias,
    weights: Float32Array.from(quantised, (q) => q * file.scale),
    named: file.named,
    threshold: file.threshold,
  };
}

export function decodeModel(file: ModelFile): Models {
  if (file.version !== 2) throw new Error(`injection model: version ${String(file.version)} is not supported (expected 2)`);
  return { user: decodeChannel(file.hashBits, file.channels.user), document: decodeChannel(file.hashBits, file.channels.document) };
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
