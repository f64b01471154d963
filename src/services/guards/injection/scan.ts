// Prompt-injection scanning: normalise, match rules, score with the classifier. Reports a score and the rules that
// fired; whether to block, flag or let through is the policy's decision, never this module's.
import { readFileSync } from 'node:fs';
import { decodeModel, logit, sigmoid, type Model, type ModelFile, type Source } from './classifier.ts';
import { normalize, type Normalized } from './normalize.ts';
import { matchRules } from './rules.ts';

export interface InjectionScan {
  /** Probability-like score in [0, 1]. */
  score: number;
  /** `score` reached the threshold calibrated for this source. */
  flagged: boolean;
  /** Names of the rules and obfuscation signals that matched. */
  rules: string[];
}

let bundled: Model | undefined;

/** Loaded on first use, so importing the guards costs nothing when injection scanning is off. */
function bundledModel(): Model {
  bundled ??= decodeModel(JSON.parse(readFileSync(new URL('../injection-model.json', import.meta.url), 'utf8')) as ModelFile);
  return bundled;
}

/** Long lines are cut at sentence ends, so one injected sentence is not averaged away by a paragraph. */
const MAX_SEGMENT = 600;
const SENTENCES = /[^.!?]+(?:[.!?]+\s*|$)/g;

/**
 * A document is scored line by line and its score is the highest line's: an injection inserted into an e-mail, a table
 * or a web page is a few lines among many, and would vanish in a score of the whole. Leetspeak folding maps one
 * character to one, so `text` and `folded` split at the same places.
 */
export function segments(n: Normalized): Normalized[] {
  const out: Normalized[] = [];
  const folded = n.folded.split('\n');
  n.text.split('\n').forEach((line, i) => {
    if (!/\p{L}/u.test(line)) return;
    if (line.length <= MAX_SEGMENT) {
      out.push({ text: line, folded: folded[i], foldedWords: n.foldedWords, signals: n.signals });
      return;
    }
    let start = 0;
    let chunk = '';
    for (const sentence of line.match(SENTENCES) ?? []) {
      if (chunk && chunk.length + sentence.length > MAX_SEGMENT) {
        out.push({ text: chunk, folded: folded[i].slice(start, start + chunk.length), foldedWords: n.foldedWords, signals: n.signals });
        start += chunk.length;
        chunk = '';
      }
      chunk += sentence;
    }
    if (chunk) out.push({ text: chunk, folded: folded[i].slice(start, start + chunk.length), foldedWords: n.foldedWords, signals: n.signals });
  });
  return out;
}

const scoreOf = (model: Model, folded: string, rules: string[], source: Source) => sigmoid(logit(model, folded, rules, source));

/**
 * Scores `text` with a given model; the trainer uses this to calibrate thresholds exactly as they will be applied.
 * A document's rules are matched line by line, as its score is computed: the union is what it matched.
 */
export function scanWith(model: Model, text: string, source: Source): InjectionScan {
  const normalized = normalize(text);
  if (source === 'user') {
    const rules = matchRules(normalized, source);
    const score = scoreOf(model, normalized.folded, rules, source);
    return { score, flagged: score >= model.thresholds.user, rules };
  }
  let score = 0;
  const rules = new Set<string>();
  for (const segment of segments(normalized)) {
    const matched = matchRules(segment, source);
    for (const rule of matched) rules.add(rule);
    score = Math.max(score, scoreOf(model, segment.folded, matched, source));
  }
  for (const signal of normalized.signals) rules.add(signal); // also when no line has letters
  return { score, flagged: score >= model.thresholds.document, rules: [...rules] };
}

/**
 * Scans user input (`source: 'user'`, the default) or content the user did not write — documents, tool output, rows,
 * web pages (`source: 'document'`) — for prompt injection.
 */
export function scanInjection(text: string, opts: { source?: Source } = {}): InjectionScan {
  return scanWith(bundledModel(), text, opts.source ?? 'user');
}
