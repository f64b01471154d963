// Trains the prompt-injection classifier and writes src/services/guards/injection-model.json.
// Usage: tsx scripts/guards-train-injection.ts <path to prompt_injection.jsonl>
// Deterministic: the split, the shuffling and the initialisation are seeded, so a re-run reproduces the file byte for byte.
import { writeFileSync } from 'node:fs';
import { featuresOf, quantise, sigmoid, type Features, type Model, type ModelFile, type Source } from '../src/services/guards/injection/classifier.ts';
import { normalize, type Normalized } from '../src/services/guards/injection/normalize.ts';
import { PRIOR_WEIGHTS, matchRules } from '../src/services/guards/injection/rules.ts';
import { scanWith, segments } from '../src/services/guards/injection/scan.ts';
import {
  SPLIT_SEED, emptyCounts, pct, prf, readJsonl, seededRandom, shuffle, splitInjection, type InjectionRecord,
} from './guards-dataset.ts';

const MODEL_PATH = new URL('../src/services/guards/injection-model.json', import.meta.url);

const CONFIG = {
  hashBits: 16,
  charNgrams: [3, 5],
  epochs: 30,
  learningRate: 0.5,
  /** L2 on hashed weights, tried in turn; the one with the best validation balanced accuracy is kept. */
  l2Grid: [1e-5, 3e-5, 1e-4],
  /** Pull of rule weights back towards their curated prior. */
  priorStrength: 1e-3,
};

const sourceOf = (r: InjectionRecord): Source => (r.subset === 'indirect' ? 'document' : 'user');

interface Example {
  features: Features;
  label: 0 | 1;
  weight: number;
}

/** The instruction lines of an inserted attack; code it asks to insert (inside ``` fences) is payload, not instruction. */
function attackLines(attack: string): Set<string> {
  const lines = new Set<string>();
  let inCode = false;
  for (const line of normalize(attack).text.split('\n')) {
    if (line.trim().startsWith('```')) inCode = !inCode;
    else if (!inCode && /\p{L}{2,}/u.test(line)) lines.add(line.trim());
  }
  return lines;
}

/**
 * User texts are examples as they are. Documents are scored line by line at run time, so they are learnt line by line:
 * the lines of the inserted attack are positive, every other line (of clean and of attacked documents) negative.
 */
function labelledSegments(r: InjectionRecord): { segment: Normalized; label: 0 | 1; source: Source }[] {
  const n = normalize(r.text);
  if (sourceOf(r) === 'user') return [{ segment: n, label: r.label, source: 'user' }];
  const attack = r.label === 1 && r.attack_text ? attackLines(r.attack_text) : new Set<string>();
  return segments(n).map((segment) => {
    const line = segment.text.trim();
    const inAttack = [...attack].some((a) => a.includes(line) || (line.length > 40 && line.includes(a)));
    return { segment, label: inAttack ? 1 : 0, source: 'document' };
  });
}

function examples(records: InjectionRecord[]): Example[] {
  const labelled = records.flatMap(labelledSegments);
  // Each (source, label) group carries a quarter of the total weight: documents yield many more (mostly clean) lines.
  const sizes = new Map<string, number>();
  for (const l of labelled) sizes.set(`${l.source}/${l.label}`, (sizes.get(`${l.source}/${l.label}`) ?? 0) + 1);
  return labelled.map((l) => ({
    features: featuresOf(l.segment.folded, matchRules(l.segment), l.source, CONFIG),
    label: l.label,
    weight: labelled.length / (4 * (sizes.get(`${l.source}/${l.label}`) ?? 1)),
  }));
}

/** Logistic regression with AdaGrad; L2 is applied to the features a sample touches (the usual lazy sparse form). */
function train(data: Example[], l2: number): Pick<Model, 'bias' | 'weights' | 'named'> {
  const weights = new Float32Array(1 << CONFIG.hashBits);
  const squared = new Float32Array(1 << CONFIG.hashBits);
  const named: Record<string, number> = { ...PRIOR_WEIGHTS };
  const namedSquared: Record<string, number> = {};
  let bias = -1;
  let biasSquared = 0;
  const random = seededRandom(SPLIT_SEED + 1);
  const step = (g: number, accumulated: number) => (CONFIG.learningRate * g) / (Math.sqrt(accumulated) + 1e-8);

  for (let epoch = 0; epoch < CONFIG.epochs; epoch++) {
    for (const ex of shuffle(data, random)) {
      const { indices, values } = ex.features.hashed;
      let z = bias;
      for (let i = 0; i < indices.length; i++) z += weights[indices[i]] * values[i];
      for (const name of ex.features.named) z += named[name] ?? 0;
      const g = (sigmoid(z) - ex.label) * ex.weight;

      for (let i = 0; i < indices.length; i++) {
        const k = indices[i];
        const grad = g * values[i] + l2 * weights[k];
        squared[k] += grad * grad;
        weights[k] -= step(grad, squared[k]);
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

/**
 * The threshold maximising balanced accuracy (Youden's J = recall − false-positive rate) on one source's validation
 * records, scored exactly as at run time. Unlike F1, J does not depend on how many of the records are attacks: the
 * validation set is mostly attacks, traffic mostly is not. Ties form a range of thresholds; its middle is taken.
 */
function calibrate(model: Model, records: InjectionRecord[], source: Source): { threshold: number; j: number; f1: number; precision: number; recall: number } {
  const scored = records.filter((r) => sourceOf(r) === source).map((r) => ({ score: scanWith(model, r.text, source).score, label: r.label }));
  const candidates = [...new Set([0, ...scored.map((s) => s.score)])].sort((a, b) => a - b);
  const results = candidates.map((threshold, i) => {
    const c = emptyCounts();
    for (const s of scored) c[s.label === 1 ? (s.score >= threshold ? 'tp' : 'fn') : s.score >= threshold ? 'fp' : 'tn']++;
    const j = c.tp / Math.max(1, c.tp + c.fn) - c.fp / Math.max(1, c.fp + c.tn);
    // Any threshold above the previous score and up to this one gives the same counts.
    return { low: candidates[i - 1] ?? 0, high: threshold, j, ...prf(c) };
  });
  const bestJ = Math.max(...results.map((r) => r.j));
  const ties = results.filter((r) => r.j === bestJ);
  const threshold = (ties[0].low + ties[ties.length - 1].high) / 2;
  return { ...ties[0], threshold: Number(threshold.toFixed(4)) };
}

function main(): void {
  const path = process.argv[2];
  if (!path) {
    console.error('usage: tsx scripts/guards-train-injection.ts <path to prompt_injection.jsonl>');
    process.exit(2);
  }
  const records = readJsonl<InjectionRecord>(path);
  const split = splitInjection(records);
  const trainSet = examples(split.train);
  console.log(`records: ${records.length} (train ${split.train.length}, validation ${split.validation.length}, test ${split.test.length})`);

  let chosen: { model: Model; file: Omit<ModelFile, 'thresholds' | 'training'>; l2: number; calibration: Record<Source, ReturnType<typeof calibrate>> } | undefined;
  for (const l2 of CONFIG.l2Grid) {
    const trained = train(trainSet, l2);
    const q = quantise(trained.weights);
    const model: Model = { ...CONFIG, bias: trained.bias, weights: q.dequantised, named: trained.named, thresholds: { user: 0.5, document: 0.5 } };
    const calibration = { user: calibrate(model, split.validation, 'user'), document: calibrate(model, split.validation, 'document') };
    model.thresholds = { user: calibration.user.threshold, document: calibration.document.threshold };
    const score = calibration.user.j + calibration.document.j;
    console.log(`l2=${l2}: validation user J ${calibration.user.j.toFixed(3)} F1 ${pct(calibration.user.f1)} (t=${calibration.user.threshold}), document J ${calibration.document.j.toFixed(3)} F1 ${pct(calibration.document.f1)} (t=${calibration.document.threshold})`);
    if (!chosen || score > chosen.calibration.user.j + chosen.calibration.document.j) {
      chosen = {
        model, l2, calibration,
        file: { version: 1, hashBits: CONFIG.hashBits, charNgrams: CONFIG.charNgrams, bias: trained.bias, scale: q.scale, weights: q.weights, named: trained.named },
      };
    }
  }
  if (!chosen) throw new Error('no model trained');

  const file: ModelFile = {
    ...chosen.file,
    thresholds: chosen.model.thresholds,
    training: {
      data: 'prompt_injection.jsonl (see src/services/guards/README.md for sources)',
      split: { seed: SPLIT_SEED, train: split.train.length, validation: split.validation.length, test: split.test.length },
      epochs: CONFIG.epochs,
      l2: chosen.l2,
      validation: Object.fromEntries(Object.entries(chosen.calibration).map(([s, c]) => [s, { balancedAccuracyJ: Number(c.j.toFixed(4)), precision: Number(c.precision.toFixed(4)), recall: Number(c.recall.toFixed(4)), f1: Number(c.f1.toFixed(4)) }])),
    },
  };
  writeFileSync(MODEL_PATH, `${JSON.stringify(file)}\n`);
  console.log(`wrote ${MODEL_PATH.pathname} (${(JSON.stringify(file).length / 1024).toFixed(0)} KB), l2=${chosen.l2}, thresholds ${JSON.stringify(file.thresholds)}`);
}

main();
