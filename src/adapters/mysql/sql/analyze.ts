// The MySQL analyser's entry point: text → one classified statement per statement, as the server will read it in this session. Pure; never throws.
import type { SqlAnalysis, SqlStatement } from '../../../services/policy/sql/facts.ts';
import { classify, unknownStatement } from './classify.ts';
import { lex, type LexedStatement, type LexMode, type ServerFlavor, type Token } from './lexer.ts';

export { loadParser } from './parser.ts';

/** What the server's reading of a statement depends on in this session. */
export interface SqlSession {
  /** The current database (from the URL, then USE / COM_INIT_DB). */
  database: string | null;
  mode: LexMode;
  server: ServerFlavor;
  /** lower_case_table_names = 0 upstream: table and database names are case-sensitive. */
  caseSensitive: boolean;
  /** The client enabled multi-statements (CLIENT_MULTI_STATEMENTS or COM_SET_OPTION). */
  multiStatements: boolean;
}

/** Larger inputs are refused unparsed: it bounds analysis time and memory, and no agent statement needs more. */
const maxTextLength = 4 * 1024 * 1024;
const maxCachedLength = 16 * 1024;
const cacheSize = 1024;
const cache = new Map<string, SqlAnalysis>();

/**
 * Analyses by shape: the token sequence with its literal values replaced by placeholders of their kind. Agents, ORMs and
 * benchmarks send the same statement with different constants; one parse serves them all. Sound only where the analysis
 * cannot depend on a literal's value: only single SELECT, INSERT, UPDATE and DELETE statements are cached by shape (never
 * PREPARE, whose string is SQL, nor SET), and an integer right after BY or after a comma in an ORDER BY / GROUP BY list
 * stays verbatim (`ORDER BY 2` names a column). test/mysql-analyze.test.ts varies the constants of every such statement
 * and must find the cached analysis equal to a fresh one.
 */
const shapes = new Map<string, SqlStatement>();
const shapeKinds: ReadonlySet<string> = new Set(['select', 'insert', 'update', 'delete']);

const sessionKey = (s: SqlSession) => `${s.database}\0${+s.mode.ansiQuotes}${+s.mode.noBackslashEscapes}${+s.caseSensitive}${+s.multiStatements}\0${s.server.mariadb}${s.server.version}`;

function remember<K, V>(map: Map<K, V>, key: K, value: V) {
  if (map.size >= cacheSize) map.delete(map.keys().next().value!);
  map.set(key, value);
}

export function analyzeMysql(text: string, session: SqlSession): SqlAnalysis {
  const key = `${sessionKey(session)}\0${text}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const { statements, byShape } = analyze(text, session, true);
  const analysis = deepFreeze({ text, statements });
  // What the shape cache serves is not kept by text too: statements that differ only in their constants (most of them)
  // would churn this cache on every query for nothing, and the shape costs no more to find again than the text.
  if (!byShape && text.length <= maxCachedLength) remember(cache, key, analysis);
  return analysis;
}

/** The analysis without the exact-text cache (the shape cache still serves): what tests compare. */
export function analyzeUncached(text: string, session: SqlSession, useShapes = true): SqlAnalysis {
  return deepFreeze({ text, statements: analyze(text, session, useShapes).statements });
}

/** The statements, and whether they came from the shape cache. */
function analyze(text: string, session: SqlSession, useShapes: boolean): { statements: SqlStatement[]; byShape: boolean } {
  const none = (reason: string) => ({ statements: [unknownStatement(text, reason)], byShape: false });
  if (text.length > maxTextLength) return none(`the query is longer than ${maxTextLength} characters`);
  const lexed = lex(text, session.mode, session.server);
  if (!lexed.ok) return none(lexed.reason);
  const shape = useShapes && lexed.statements.length === 1 && text.length <= maxCachedLength ? `${sessionKey(session)}\0${shapeOf(lexed.statements[0].tokens)}` : undefined;
  if (shape !== undefined) {
    const known = shapes.get(shape);
    if (known) return { statements: [{ ...known, text: lexed.statements[0].text }], byShape: true };
    const [statement] = analyzeStatements(lexed.statements, text, session);
    if (shapeKinds.has(statement.kind) && !statement.inner && !statement.setting && statement.name === undefined) remember(shapes, shape, statement);
    return { statements: [statement], byShape: false };
  }
  return { statements: analyzeStatements(lexed.statements, text, session), byShape: false };
}

/** Placeholders by literal kind: a different kind of token could make a different tree. */
const placeholder: Partial<Record<Token['kind'], (t: Token) => string>> = {
  string: () => '\u0002',
  literal: () => '\u0003',
  number: (t) => (/^\d+$/.test(t.value) ? '\u0001' : '\u0004'),
};
/** Words after which a `BY` list ends. */
const clauseWords: ReadonlySet<string> = new Set(['SELECT', 'FROM', 'WHERE', 'HAVING', 'LIMIT', 'UNION', 'ON', 'JOIN', 'WINDOW', 'FOR', 'LOCK', 'INTO', 'SET', 'VALUES', 'OFFSET', 'ROWS', 'RANGE']);

function shapeOf(tokens: readonly Token[]): string {
  let inBy = false;
  return tokens.map((t, i) => {
    const prev = tokens[i - 1];
    if (t.kind === 'word') {
      const w = t.value.toUpperCase();
      if (w === 'BY') inBy = true;
      else if (clauseWords.has(w)) inBy = false;
      return t.canonical;
    }
    if (t.kind === 'op' && t.value === ')') inBy = false;
    const replace = placeholder[t.kind];
    if (!replace) return t.canonical;
    // ORDER BY 2, GROUP BY 1, 2: an integer in a BY list names an output column.
    if (t.kind === 'number' && inBy && prev && ((prev.kind === 'word' && prev.value.toUpperCase() === 'BY') || prev.value === ',')) return t.canonical;
    return replace(t);
  }).join(' ');
}

function analyzeStatements(lexed: readonly LexedStatement[], text: string, session: SqlSession): SqlStatement[] {
  if (!lexed.length) return [unknownStatement(text, 'the query is empty')];
  if (lexed.length > 1 && !session.multiStatements) return [unknownStatement(text, 'the query holds several statements and the client did not enable multi-statements')];
  let database = session.database;
  const statements: SqlStatement[] = [];
  for (const [i, stmt] of lexed.entries()) {
    const previous = statements[i - 1];
    // The server reads what follows SET sql_mode under the new mode; Gatehouse split and lexed it under the old one.
    if (previous?.setting?.name === 'sql_mode') {
      statements.push(unknownStatement(stmt.text, 'a statement after SET sql_mode in the same query; send SET sql_mode on its own'));
      continue;
    }
    try {
      statements.push(classify(stmt, { names: { database, caseSensitive: session.caseSensitive }, mode: session.mode, server: session.server }));
    } catch (error) {
      const reason = error instanceof RangeError ? 'the statement is nested too deeply to analyse' : `the statement could not be analysed (${String(error)})`;
      statements.push(unknownStatement(stmt.text, reason));
    }
    // USE in a multi-statement query changes where the next statements' names resolve (the server stops at a failed USE).
    const current = statements[i];
    if (current.label === 'USE') database = current.setting!.values[0];
  }
  return statements;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
