// Loads the labelled guard data (never copied into the repo) and names its sources, channels and benign cells the same
// way for training and evaluation.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface InjectionRecord {
  id: string;
  text: string;
  label: 0 | 1;
  category: string;
  subset: 'direct' | 'indirect';
  source: string;
  source_path: string;
  lang?: string | null;
  attack_text?: string | null;
}

export interface PiiEntity {
  type: string;
  start: number | null;
  end: number | null;
  value: string;
}

export interface PiiRecord {
  id: string;
  text: string;
  label: 0 | 1;
  entity_types: string[];
  entities: PiiEntity[];
  spans_complete?: boolean;
  negative_for?: string[];
}

export function readJsonl<T>(path: string): T[] {
  return readFileSync(path, 'utf8').split('\n').filter((line) => line.trim() !== '').map((line) => JSON.parse(line) as T);
}

export const injectionFile = (dataDir: string) => join(dataDir, 'prompt_injection.jsonl');
export const injectionExtraFile = (dataDir: string) => join(dataDir, 'prompt_injection_extra.jsonl');

/** Both prompt-injection files, in file order. */
export const loadInjection = (dataDir: string) => [...readJsonl<InjectionRecord>(injectionFile(dataDir)), ...readJsonl<InjectionRecord>(injectionExtraFile(dataDir))];

/**
 * The upstream repository a record came from, spelt one way (`github:microsoft/BIPIA` and `microsoft/BIPIA` are one
 * source): the unit a leave-one-source-out fold holds out, so nothing of a held-out source leaks into training.
 */
export const repoOf = (r: Pick<InjectionRecord, 'source'>) => r.source.replace(/^github:/i, '').toLowerCase();

/**
 * The channel a record belongs to: what a person typed (`user`) or what came from elsewhere (`document`). Attack
 * fragments (`attack_ingredient`) are only injections inside a document, so they belong to the document channel only.
 */
export const channelOf = (r: Pick<InjectionRecord, 'subset' | 'category'>): 'user' | 'document' =>
  r.subset === 'indirect' || r.category === 'attack_ingredient' ? 'document' : 'user';

const LANGUAGE_CODES: Record<string, string> = {
  english: 'en', hindi: 'hi', turkish: 'tr', italian: 'it', spanish: 'es', 'filipino/tagalog': 'tl', bengali: 'bn', russian: 'ru',
  arabic: 'ar', korean: 'ko', vietnamese: 'vi', french: 'fr', japanese: 'ja', chinese: 'zh', portuguese: 'pt', german: 'de',
  indonesian: 'id', thai: 'th', greek: 'el', romanian: 'ro',
};

/** A record's language as a code: the source's own label where it gives one, English otherwise (the sources' default). */
export const languageOf = (r: Pick<InjectionRecord, 'lang'>) => (r.lang ? LANGUAGE_CODES[r.lang.toLowerCase()] ?? r.lang.toLowerCase() : 'en');

/**
 * The cell a benign record is reported in: its file within the repository (NotInject and WildGuard share one), its
 * category (CyberSecEval's system prompts share a file with its attacks) and its language where the source names one.
 */
export function benignCell(r: InjectionRecord): string {
  const file = r.source_path.split('/').pop()?.replace(/\.(json|jsonl|csv|py|txt)$/, '').replace(/_(one|two|three)$/, '').replace(/^xquad\.\w+$/, 'xquad') ?? '';
  const where = repoOf(r) === 'leolee99/injecguard' ? ` ${file}` : repoOf(r) === 'microsoft/bipia' ? ` ${r.source_path.split('/')[1]} ${file}` : '';
  return `${repoOf(r).split('/')[1]}${where}${r.lang ? ` ${languageOf(r)}` : ''} · ${r.category}`;
}
export const piiFile = (dataDir: string) => join(dataDir, 'pii_secrets.jsonl');

/** mulberry32: a tiny seeded PRNG, so the split is identical on every machine and every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffle<T>(items: T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** The seed of every shuffle in training and evaluation: the same on every machine and every run. */
export const SPLIT_SEED = 20240611;
/** Python code-point offsets → JavaScript UTF-16 offsets (they differ after any astral character, e.g. an emoji). */
export function utf16Offsets(text: string): number[] {
  const offsets: number[] = [];
  let i = 0;
  for (const ch of text) {
    offsets.push(i);
    i += ch.length;
  }
  offsets.push(i);
  return offsets;
}

export interface Counts {
  tp: number;
  fp: number;
  fn: number;
  tn: number;
}

export const emptyCounts = (): Counts => ({ tp: 0, fp: 0, fn: 0, tn: 0 });

export function prf(c: Counts): { precision: number; recall: number; f1: number } {
  const precision = c.tp + c.fp === 0 ? 1 : c.tp / (c.tp + c.fp);
  const recall = c.tp + c.fn === 0 ? 1 : c.tp / (c.tp + c.fn);
  const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  return { precision, recall, f1 };
}

export const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
