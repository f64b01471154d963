// The MySQL analyser's entry point: text → one classified statement per statement, as the server will read it in this session. Pure; never throws.
import type { SqlAnalysis, SqlStatement } from '../../../services/policy/sql/facts.ts';
import { classify, unknownStatement } from './classify.ts';
import { lex, type LexMode, type ServerFlavor } from './lexer.ts';

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

export function analyzeMysql(text: string, session: SqlSession): SqlAnalysis {
  const key = `${session.database}\0${+session.mode.ansiQuotes}${+session.mode.noBackslashEscapes}${+session.caseSensitive}${+session.multiStatements}\0${session.server.mariadb}${session.server.version}\0${text}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const analysis = deepFreeze({ text, statements: analyze(text, session) });
  if (text.length <= maxCachedLength) {
    if (cache.size >= cacheSize) cache.delete(cache.keys().next().value!);
    cache.set(key, analysis);
  }
  return analysis;
}

function analyze(text: string, session: SqlSession): SqlStatement[] {
  const none = (reason: string) => [unknownStatement(text, reason)];
  if (text.length > maxTextLength) return none(`the query is longer than ${maxTextLength} characters`);
  const lexed = lex(text, session.mode, session.server);
  if (!lexed.ok) return none(lexed.reason);
  if (!lexed.statements.length) return none('the query is empty');
  if (lexed.statements.length > 1 && !session.multiStatements) return none('the query holds several statements and the client did not enable multi-statements');
  let database = session.database;
  const statements: SqlStatement[] = [];
  for (const [i, stmt] of lexed.statements.entries()) {
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
