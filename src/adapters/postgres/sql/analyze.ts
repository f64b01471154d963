// The SQL analyser's entry point: text → one classified statement per statement, cached by exact text. Pure; never throws.
import { classify, unknownStatement } from './classify.ts';
import { Lru } from './lru.ts';
import { parseStatements } from './parse.ts';
import type { SqlAnalysis, SqlStatement } from './types.ts';

export type * from './types.ts';
export { sqlFacts } from './facts.ts';

/** Larger inputs are refused unparsed: it bounds parse time and memory, and no agent statement needs more. */
const maxTextLength = 4 * 1024 * 1024;
/** Larger texts are analysed each time instead of cached, so the cache's memory stays small. */
const maxCachedLength = 16 * 1024;
const cache = new Lru<string, SqlAnalysis>(1024);

export function analyzeSql(text: string): SqlAnalysis {
  const cached = cache.get(text);
  if (cached) return cached;
  // Frozen because cached analyses are shared by every caller.
  const analysis = deepFreeze({ text, statements: analyze(text) });
  if (text.length <= maxCachedLength) cache.set(text, analysis);
  return analysis;
}

function analyze(text: string): SqlStatement[] {
  if (text.length > maxTextLength) return [unknownStatement(text, `the query is longer than ${maxTextLength} characters`)];
  // PostgreSQL stops reading a query string at NUL while a JavaScript string does not: refuse rather than guess.
  if (!text.trim()) return [unknownStatement(text, 'the query is empty')];
  if (text.includes('\0')) return [unknownStatement(text, 'the query contains a NUL character')];
  const parsed = parseStatements(text);
  if (!parsed.ok) return [unknownStatement(text, `the query does not parse: ${parsed.error}`)];
  if (!parsed.statements.length) return [unknownStatement(text, 'the query is empty')];
  return parsed.statements.map(({ node, text: slice }) => {
    try {
      return classify(node, slice);
    } catch (error) {
      const reason = error instanceof RangeError ? 'the statement is nested too deeply to analyse' : `the statement could not be analysed (${String(error)})`;
      return unknownStatement(slice, reason);
    }
  });
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
