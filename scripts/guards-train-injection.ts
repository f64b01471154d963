// Trains the prompt-injection classifier and writes src/services/guards/injection-model.json.
// Usage: tsx scripts/guards-train-injection.ts <path to prompt_injection.jsonl>
// The test split is never seen here. The development data is cut into folds: each fold is scored by a model trained on
// the others, thresholds are calibrated on those out-of-fold scores, and the shipped model is trained on all of it.
// Deterministic: the split, the shuffling and the initialisation are seeded, so a re-run reproduces the file.
import { writeFileSync } from 'node:fs';
import { featuresOf, quantise, sigmoid, type Features, type Model, type ModelFile, type Source } from '../src/services/guards/injection/classifier.ts';
import { normalize, type Normalized } from '../src/services/guards/injection/normalize.ts';
import { PRIOR_WEIGHTS, matchRules } from '../src/services/guards/injection/rules.ts';
import { scanWith, segments } from '../src/services/guards/injection/scan.ts';
import {
  FOLDS, SPLIT_SEED, emptyCounts, pct, prf, readJsonl, seededRandom, shuffle, splitInjection, type InjectionRecord,
} from './guards-dataset.ts';

const MODEL_PATH = new URL('../src/services/guards/injection-model.json', import.meta.url);

const CONFIG = {
  hashBits: 16,
  epochs: 30,
  learningRate: 0.5,
  /** L2 on hashed weights. This value and character 4-grams (over 3, 5 and 3+5) were chosen on out-of-fold scores. */
  l2: 1e-4,
  /** Pull of rule weights back towards their curated prior. */
  priorStrength: 1e-3,
};

const sourceOf = (r: InjectionRecord): Source => (r.subset === 'indirect' ? 'document' : 'user');

interface Example {
  features: Features;
  label: 0 | 1;
  weight: number;
  source: Source;
}

/**
 * Document lines train only the document's own weights. An attack inserted into an e-mail is often a harmless request
 * ("Recommend a good book"); learnt into the shared weights it would make the same request suspicious from a user.
 * User texts train the shared weights too, which carries their injection vocabulary over to documents.
 */
const trainsShared = (ex: Example) => ex.source === 'user';
/** Hashed features come in pairs: the shared bucket, then the source's own (see hashedFeatures). */
const isShared = (position: number) => position % 2 === 0;
const isOwn = (name: string, source: Source) => name.startsWith(`${source}:`) || name === `source:${source}`;

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
    features: featuresOf(l.segment.folded, matchRules(l.segment, l.source), l.source, CONFIG),
    label: l.label,
    weight: labelled.length / (4 * (sizes.get(`${l.source}/${l.label}`) ?? 1)),
    source: l.source,
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
        if (isShared(i) && !trainsShared(ex)) continue;
        const k = indices[i];
        const grad = g * values[i] + l2 * weights[k];
        squared[k] += grad * grad;
        weights[k] -= step(grad, squared[k]);
      }
      for (const name of ex.features.named) {
        if (!trainsShared(ex) && !isOwn(name, ex.source)) continue;
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

interface Scored {
  score: number;
  label: 0 | 1;
  source: Source;
}

/**
 * How much worse a false positive is than a miss. A flagged legitimate prompt or tool result is a blocked user or a
 * broken agent run; a missed attack still meets the model's own training and the gateway's grants.
 */
const FALSE_POSITIVE_COST = 3;

/**
 * The threshold maximising recall − FALSE_POSITIVE_COST × false-positive rate (a cost-weighted Youden's J) on one
 * source's out-of-fold scores. Unlike F1 it does not depend on how many of the records are attacks: the data is mostly
 * attacks, traffic mostly is not. Ties form a range of thresholds; its middle is taken.
 */
function calibrate(all: Scored[], source: Source): { threshold: number; j: number; f1: number; precision: number; recall: number } {
  const scored = all.filter((s) => s.source === source);
  const candidates = [...new Set([0, ...scored.map((s) => s.score)])].sort((a, b) => a - b);
  const results = candidates.map((threshold, i) => {
    const c = emptyCounts();
    for (const s of scored) c[s.label === 1 ? (s.score >= threshold ? 'tp' : 'fn') : s.score >= threshold ? 'fp' : 'tn']++;
    const j = c.tp / Math.max(1, c.tp + c.fn) - (FALSE_POSITIVE_COST * c.fp) / Math.max(1, c.fp + c.tn);
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
  const { folds, test } = splitInjection(records);
  const development = folds.flat();
  console.log(`records: ${records.length} (development ${development.length} in ${FOLDS} folds, test ${test.length} held out)`);

  const modelFrom = (trained: ReturnType<typeof train>, thresholds: Record<Source, number>) => {
    const q = quantise(trained.weights);
    return { q, model: { ...CONFIG, bias: trained.bias, weights: q.dequantised, named: trained.named, thresholds } satisfies Model };
  };

  // Out-of-fold scores, computed exactly as at run time (quantised weights, scanWith).
  const outOfFold: Scored[] = folds.flatMap((held, k) => {
    const { model } = modelFrom(train(examples(folds.filter((_, i) => i !== k).flat()), CONFIG.l2), { user: 0.5, document: 0.5 });
    return held.map((r) => ({ score: scanWith(model, r.text, sourceOf(r)).score, label: r.label, source: sourceOf(r) }));
  });
  const calibration = { user: calibrate(outOfFold, 'user'), document: calibrate(outOfFold, 'document') };
  for (const source of ['user', 'document'] as const) {
    const c = calibration[source];
    console.log(`out-of-fold ${source}: threshold ${c.threshold}, weighted J ${c.j.toFixed(3)}, precision ${pct(c.precision)}, recall ${pct(c.recall)}, F1 ${pct(c.f1)}`);
  }

  const trained = train(examples(development), CONFIG.l2);
  const { q, model } = modelFrom(trained, { user: calibration.user.threshold, document: calibration.document.threshold });
  const file: ModelFile = {
    version: 1,
    hashBits: CONFIG.hashBits,
    bias: trained.bias,
    scale: q.scale,
    weights: q.weights,
    named: trained.named,
    thresholds: model.thresholds,
    training: {
      data: 'prompt_injection.jsonl (see src/services/guards/README.md for sources)',
      split: { seed: SPLIT_SEED, development: development.length, folds: FOLDS, test: test.length },
      epochs: CONFIG.epochs,
      l2: CONFIG.l2,
      outOfFold: Object.fromEntries(Object.entries(calibration).map(([s, c]) => [s, { weightedJ: Number(c.j.toFixed(4)), falsePositiveCost: FALSE_POSITIVE_COST, precision: Number(c.precision.toFixed(4)), recall: Number(c.recall.toFixed(4)), f1: Number(c.f1.toFixed(4)) }])),
    },
  };
  writeFileSync(MODEL_PATH, `${JSON.stringify(file)}\n`);
  console.log(`wrote ${MODEL_PATH.pathname} (${(JSON.stringify(file).length / 1024).toFixed(0)} KB)`);
}

main();
