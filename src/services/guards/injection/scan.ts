// Prompt-injection scanning: normalise, match rules, score every view of the text with its channel's model and keep the
// highest. Reports a score and the rules that fired; whether to block, flag or let through is the policy's decision.
import { readFileSync } from 'node:fs';
import { decodeModel, logit, sigmoid, type Model, type ModelFile, type Models, type Source } from './classifier.ts';
import { views, type Normalized, type ViewName } from './normalize.ts';
import { PRIOR_WEIGHTS, SIGNAL_WEIGHTS, matchRules, ruledOut } from './rules.ts';

export interface InjectionScan {
  /** Probability-like score in [0, 1]: the highest over the views (and, for a document, its windows). */
  score: number;
  /** `score` reached the threshold of this channel, or the rules alone reached RULE_FLOOR (see `by`). */
  flagged: boolean;
  /** What flagged the text: the model's score, or the curated rules' prior weights on their own. */
  by?: 'model' | 'rules';
  /** Names of the rules and obfuscation signals that matched, in any view. */
  rules: string[];
  /** The view that scored highest: `text`, or a decoded / collapsed / hidden part of it. */
  view: ViewName;
  /**
   * Not flagged, but within GREY_BAND of the threshold: where a second opinion (an LLM judge, a human) would be asked.
   * Nothing here asks one; a caller that has one can.
   */
  grey: boolean;
}

/** Scores this far below a channel's threshold are in the grey band. */
export const GREY_BAND = 0.15;

/**
 * The curated rules flag a window on their own when their prior weights add up to this (one strong rule such as
 * `ignore-previous-instructions`, or two weaker ones): the priors are written by hand, not fitted, so they do not forget
 * an attack family a training source happened to lack. Measured on every benign cell, none flagged above 0.5%.
 */
export const RULE_FLOOR = 3;

let bundled: Models | undefined;

/** Loaded on first use, so importing the guards costs nothing when injection scanning is off. */
export function bundledModels(): Models {
  bundled ??= decodeModel(JSON.parse(readFileSync(new URL('../injection-model.json', import.meta.url), 'utf8')) as ModelFile);
  return bundled;
}

/** Long lines are cut at sentence ends, so one injected sentence is not averaged away by a paragraph. */
const MAX_SEGMENT = 600;
const SENTENCES = /[^.!?。！？।؟]+(?:[.!?。！？।؟]+\s*|$)/g;

/**
 * A document is scored in windows — lines, long lines cut into runs of sentences — and its score is the highest
 * window's: an injection inserted into an e-mail, a table or a web page is a few sentences among many, and would
 * vanish in a score of the whole. Leetspeak folding maps one character to one, so `text` and `folded` split alike.
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

/** Letters counted per script by scriptOf, and the scripts in the order met (reused; scripts are numbered below 0xad). */
const scriptCounts = new Uint8Array(0xad);
const scriptsMet: number[] = [];

/** Coarse script of a text from its first letters: enough to see a document switch language family mid-way. */
function scriptOf(text: string): number {
  scriptCounts.fill(0);
  scriptsMet.length = 0;
  let seen = 0;
  for (let i = 0; i < text.length && seen < 48; i++) {
    const c = text.charCodeAt(i);
    if (c < 65 || (c > 90 && c < 97) || (c > 122 && c < 0xc0)) continue;
    // Latin 0, Greek/Cyrillic/Armenian/Hebrew/Arabic by 256-blocks, Indic and South-East Asian by block, CJK/Kana/Hangul as one.
    const script = c < 0x370 ? 0 : c < 0x2e80 ? c >> 8 : c < 0xac00 ? 0x2e : 0xac;
    if (scriptCounts[script]++ === 0) scriptsMet.push(script);
    seen++;
  }
  // The most frequent; on a tie, the one met first.
  let best = -1;
  for (const script of scriptsMet) if (best === -1 || scriptCounts[script] > scriptCounts[best]) best = script;
  return best;
}

/**
 * A document that informs, then one line that gives its reader an order ("Write a poem about the sea."): the shift from
 * describing to commanding is the signal, not the order itself — a how-to or a checklist gives orders on every line.
 * Marks `command-shift` on the request lines of a document of three or more windows where such lines are rare.
 */
function markCommandShift(matches: string[][]): void {
  if (matches.length < 3) return;
  const requests = matches.filter((m) => m.includes('standalone-request'));
  if (requests.length === 0 || requests.length > Math.max(1, matches.length / 4)) return;
  for (const m of requests) m.push('command-shift');
}

/** A sentence of at least four words. */
const PROSE = /\p{L}+(?:\s+\S+){3,}/u;

/**
 * A table (three or more windows, most of them rows with `|` cells) with a line of prose among its rows: an injected
 * sentence does not take the form of the data it was slipped into. Marks `format-shift` on those lines. A caption or a
 * note under a table is prose too, so this is a weak signal: it needs another (a request, an order about "your reply").
 */
function markFormatShift(windows: Normalized[], matches: string[][]): void {
  if (windows.length < 3) return;
  const rows = windows.filter((w) => w.text.includes('|')).length;
  if (rows < 0.6 * windows.length || rows === windows.length) return;
  windows.forEach((w, i) => {
    if (!w.text.includes('|') && PROSE.test(w.text)) matches[i].push('format-shift');
  });
}

/** The best window of a scan: what `explain` shows. */
export interface ScoredWindow {
  score: number;
  view: ViewName;
  text: Normalized;
  rules: string[];
}

const scoreOf = (model: Model, n: Normalized, rules: string[]) => sigmoid(logit(model, n.folded, rules));

/**
 * Scores `text` on one channel with a given model; the trainer uses this to choose thresholds exactly as they will be
 * applied. A document's rules are matched per window, as its score is computed: the union is what it matched.
 */
export function scoreWindows(model: Model, text: string, source: Source): { best: ScoredWindow; rules: Set<string>; ruleWeight: number } {
  const rules = new Set<string>();
  let best: ScoredWindow | undefined;
  let ruleWeight = 0;
  for (const { name, n } of views(text)) {
    const windows = source === 'user' ? [n] : segments(n);
    const documentScript = source === 'document' && windows.length > 1 ? scriptOf(n.text) : -1;
    const skip = windows.length > 1 ? ruledOut(n) : undefined;
    const matches = windows.map((window) => matchRules(window, source, skip));
    markCommandShift(matches);
    markFormatShift(windows, matches);
    let previous: string[] = [];
    for (const [i, window] of windows.entries()) {
      const matched = matches[i];
      if (documentScript !== -1 && scriptOf(window.text) !== documentScript) matched.push('script-change');
      for (const rule of matched) rules.add(rule);
      // An injection often spans two lines (a fake delimiter, then the order): the rule floor reads neighbours together.
      ruleWeight = Math.max(ruleWeight, priorWeight(matched), previous.length && matched.length ? priorWeight([...new Set([...previous, ...matched])]) : 0);
      previous = matched;
      const score = scoreOf(model, window, matched);
      if (!best || score > best.score) best = { score, view: name, text: window, rules: matched };
    }
    for (const signal of n.signals) rules.add(signal); // also when no window has letters
  }
  const empty = views('')[0].n;
  return { best: best ?? { score: scoreOf(model, empty, []), view: 'text', text: empty, rules: [] }, rules, ruleWeight };
}

/** The hand-written prior weights of the rules and signals a window matched, summed (obfuscation signals excluded). */
function priorWeight(matched: readonly string[]): number {
  let sum = 0;
  for (const name of matched) if (!(name in SIGNAL_WEIGHTS)) sum += PRIOR_WEIGHTS[name] ?? 0;
  return sum;
}

export function scanWith(model: Model, text: string, source: Source): InjectionScan {
  const { best, rules, ruleWeight } = scoreWindows(model, text, source);
  const byModel = best.score >= model.threshold;
  const flagged = byModel || ruleWeight >= RULE_FLOOR;
  const scan: InjectionScan = { score: best.score, flagged, rules: [...rules], view: best.view, grey: !flagged && best.score >= model.threshold - GREY_BAND };
  if (flagged) scan.by = byModel ? 'model' : 'rules';
  return scan;
}

/**
 * Scans what a person typed (`source: 'user'`, the default) or content that came from elsewhere — tool results,
 * retrieved documents, database values, files (`source: 'document'`) — for prompt injection.
 */
export function scanInjection(text: string, opts: { source?: Source } = {}): InjectionScan {
  const source = opts.source ?? 'user';
  return scanWith(bundledModels()[source], text, source);
}
