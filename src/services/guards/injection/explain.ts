// Why a text scored what it scored: the channel's threshold, the view and window that scored highest, and the features
// that moved it most — so an operator can see what a false positive costs and what drove it (`gatehouse policy explain`).
import { lengthName, type Model, type Source } from './classifier.ts';
import { featureTerms } from './features.ts';
import { bundledModels, scoreWindows, scanWith, type InjectionScan } from './scan.ts';

export interface InjectionExplanation extends InjectionScan {
  channel: Source;
  threshold: number;
  /** The window of the best view that scored highest (a document's line or run of sentences; a prompt whole). */
  window: string;
  /** Log-odds contributions, largest in magnitude first: the bias, rules and signals, the length bucket, n-grams. */
  features: { feature: string; weight: number }[];
}

const TOP = 12;

export function explainWith(model: Model, text: string, source: Source): InjectionExplanation {
  const scan = scanWith(model, text, source);
  const { best } = scoreWindows(model, text, source);
  const contributions = new Map<string, number>();
  for (const { term, index, value } of featureTerms(best.text.folded, model.hashBits)) {
    contributions.set(term, (contributions.get(term) ?? 0) + model.weights[index] * value);
  }
  const named = [...best.rules, lengthName(best.text.folded.length)].filter((name) => name in model.named);
  const features = [
    { feature: '(bias)', weight: model.bias },
    ...named.map((name) => ({ feature: `rule ${name}`, weight: model.named[name] })),
    ...[...contributions].map(([feature, weight]) => ({ feature, weight })),
  ]
    .filter((f) => f.weight !== 0)
    .sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight))
    .slice(0, TOP)
    .map((f) => ({ feature: f.feature, weight: Number(f.weight.toFixed(3)) }));
  return { ...scan, channel: source, threshold: model.threshold, window: best.text.text, features };
}

/** Explains the bundled model's score of `text` on a channel. */
export function explainInjection(text: string, opts: { source?: Source } = {}): InjectionExplanation {
  const source = opts.source ?? 'user';
  return explainWith(bundledModels()[source], text, source);
}
