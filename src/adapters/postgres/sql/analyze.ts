// The SQL analyser's entry point: text → one classified statement per statement, cached by exact text and by shape. Pure; never throws.
import type { Node } from 'libpg-query';
import { classify, unknownStatement } from './classify.ts';
import { Lru } from './lru.ts';
import { parseStatements } from './parse.ts';
import type { SqlAnalysis, SqlKind, SqlStatement } from '../../../services/policy/sql/facts.ts';

export type * from '../../../services/policy/sql/facts.ts';
export { sqlFacts } from '../../../services/policy/sql/to-facts.ts';

/** Larger inputs are refused unparsed: it bounds parse time and memory, and no agent statement needs more. */
const maxTextLength = 4 * 1024 * 1024;
/** Larger texts are analysed each time instead of cached, so the cache's memory stays small. */
const maxCachedLength = 16 * 1024;
const cache = new Lru<string, SqlAnalysis>(1024);

/**
 * Analyses by shape: the text with its literal constants replaced by placeholders (see sqlShape). Agents and ORMs send
 * the same statement with different constants (`... WHERE id = 41`, `... WHERE id = 42`); one parse serves them all.
 *
 * Sound only where the analysis cannot depend on a constant's value. In the analyser today, constants are read in
 * exactly three places: SET / transaction-mode values (settings.ts), integer positions in ORDER BY / GROUP BY
 * (walk.ts, outputReference), and function arguments with what WHERE pins them to (walk.ts, argOf). So an entry is
 * made only for a single SELECT, INSERT, UPDATE, DELETE or MERGE in whose tree no constant sits under a sort or group
 * clause and no call has a constant argument or a pinned column argument. test/sql-shape-cache.test.ts re-analyses every such statement
 * of the SQL corpus with its constants varied and must find the cached analysis identical to a fresh one.
 */
const shapes = new Lru<string, SqlStatement>(1024);
const shapeKinds: ReadonlySet<SqlKind> = new Set(['select', 'insert', 'update', 'delete', 'merge']);

export function analyzeSql(text: string): SqlAnalysis {
  const cached = cache.get(text);
  if (cached) return cached;
  const shape = text.length <= maxCachedLength ? sqlShape(text) : undefined;
  if (shape !== undefined) {
    const statement = shapes.get(shape);
    // Same shape: same tokens but for literal values, so the same tree but for its constants' values.
    if (statement) return Object.freeze({ text, statements: Object.freeze([Object.freeze({ ...statement, text: statementText(text) })]) });
  }
  const { statements, nodes } = analyze(text);
  // Frozen because cached analyses are shared by every caller.
  const analysis = deepFreeze({ text, statements });
  if (text.length <= maxCachedLength) cache.set(text, analysis);
  if (shape !== undefined && statements.length === 1 && nodes.length === 1 && shapeSafe(statements[0], nodes[0], text)) shapes.set(shape, statements[0]);
  return analysis;
}

/** The analysis without either cache: what analyzeSql must always be equal to (tests compare the two). */
export function analyzeSqlUncached(text: string): SqlAnalysis {
  return deepFreeze({ text, statements: analyze(text).statements });
}

function analyze(text: string): { statements: SqlStatement[]; nodes: Node[] } {
  const none = (reason: string) => ({ statements: [unknownStatement(text, reason)], nodes: [] });
  if (text.length > maxTextLength) return none(`the query is longer than ${maxTextLength} characters`);
  // PostgreSQL stops reading a query string at NUL while a JavaScript string does not: refuse rather than guess.
  if (!text.trim()) return none('the query is empty');
  if (text.includes('\0')) return none('the query contains a NUL character');
  const parsed = parseStatements(text);
  if (!parsed.ok) return none(`the query does not parse: ${parsed.error}`);
  if (!parsed.statements.length) return none('the query is empty');
  const statements = parsed.statements.map(({ node, text: slice }) => {
    try {
      return classify(node, slice);
    } catch (error) {
      const reason = error instanceof RangeError ? 'the statement is nested too deeply to analyse' : `the statement could not be analysed (${String(error)})`;
      return unknownStatement(slice, reason);
    }
  });
  return { statements, nodes: parsed.statements.map((s) => s.node) };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

// ---- shapes ------------------------------------------------------------------------------------

/** May this statement's analysis serve every text of its shape? */
function shapeSafe(statement: SqlStatement, node: Node, text: string): boolean {
  if (!shapeKinds.has(statement.kind) || statement.inner || statement.setting || statement.readWrite !== undefined || statement.name !== undefined) return false;
  // A call's constant arguments (and the constants its column arguments are pinned to) name objects policy judges.
  if (statement.functions.some((fn) => fn.args?.some((arg) => arg.kind === 'const' || (arg.kind === 'column' && arg.pins.length > 0)))) return false;
  // The statement's own text is rebuilt for each text of the shape, so it must be the whole text, less a final `;`.
  if (statement.text !== statementText(text)) return false;
  return !constantInSortOrGroup(node, false);
}

/** The statement text parseStatements gives a single-statement query: trimmed, without its terminating `;`. */
function statementText(text: string): string {
  const trimmed = text.trim();
  return trimmed.endsWith(';') ? trimmed.slice(0, -1).trimEnd() : trimmed;
}

/** True if a constant appears anywhere under ORDER BY / GROUP BY (including window ORDER BY): `ORDER BY 2` names a column. */
function constantInSortOrGroup(value: unknown, inside: boolean): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) return value.some((v) => constantInSortOrGroup(v, inside));
  for (const [key, child] of Object.entries(value)) {
    if (inside && key === 'A_Const') return true;
    const enters = inside || key === 'sortClause' || key === 'groupClause' || key === 'SortBy' || key === 'orderClause' || key === 'partitionClause' || key === 'distinctClause';
    if (constantInSortOrGroup(child, enters)) return true;
  }
  return false;
}

const NUMBER = '\u0001'; // an integer that always lexes as ICONST (1 to 9 digits)
const STRING = '\u0002'; // a standard-conforming string constant
const DECIMAL = '\u0003'; // a decimal or exponent literal (FCONST)
const PLACEHOLDERS = /[\0\u0001\u0002\u0003]/;

const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
/** PostgreSQL's ident_cont: letters, digits, `_`, `$` and every non-ASCII character. */
const isIdentChar = (c: number) => (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || isDigit(c) || c === 0x5f || c === 0x24 || c >= 0x80;

/**
 * The text with each literal constant replaced by a placeholder of its token type, everything else kept verbatim
 * (identifiers, keywords, operators, parameters, whitespace, comments). Two texts with the same shape are the same
 * token sequence but for the values of their literals, so PostgreSQL's grammar builds the same tree for both.
 *
 * Conservative: undefined (no shape) for anything whose lexing could depend on a literal's content or on a setting:
 * escape, bit, hex, national and Unicode strings (`E'..'`, `B'..'`, `X'..'`, `N'..'`, `U&'..'`, `U&".."`), a backslash
 * in a string (standard_conforming_strings), dollar quoting, unterminated quotes or comments, NUL, and numbers glued
 * to identifiers or dots. Integers of 10 digits or more are kept verbatim (they may lex as ICONST or FCONST).
 */
export function sqlShape(text: string): string | undefined {
  if (PLACEHOLDERS.test(text)) return undefined;
  let out = '';
  let last = 0;
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x2d && text.charCodeAt(i + 1) === 0x2d) { // -- comment, to the end of the line
      while (i < n && text.charCodeAt(i) !== 0x0a && text.charCodeAt(i) !== 0x0d) i++;
      continue;
    }
    if (c === 0x2f && text.charCodeAt(i + 1) === 0x2a) { // /* comment */, nested as PostgreSQL nests them
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (text.charCodeAt(i) === 0x2f && text.charCodeAt(i + 1) === 0x2a) { depth++; i += 2; }
        else if (text.charCodeAt(i) === 0x2a && text.charCodeAt(i + 1) === 0x2f) { depth--; i += 2; }
        else i++;
      }
      if (depth > 0) return undefined;
      continue;
    }
    if (c === 0x27) { // 'string'
      const prev = i > 0 ? text.charCodeAt(i - 1) : 0x20;
      if (isIdentChar(prev) || prev === 0x26 || prev === 0x27) return undefined; // E'', B'', X'', N'', U&'', typed'' glued
      let j = i + 1;
      for (;;) {
        const k = text.indexOf("'", j);
        if (k === -1) return undefined;
        if (text.charCodeAt(k + 1) === 0x27) { j = k + 2; continue; } // '' is a quote inside the string
        j = k;
        break;
      }
      if (text.lastIndexOf('\\', j) > i) return undefined;
      out += text.slice(last, i) + STRING;
      i = last = j + 1;
      continue;
    }
    if (c === 0x22) { // "quoted identifier": kept verbatim
      if (i > 0 && text.charCodeAt(i - 1) === 0x26) return undefined; // U&"..." (UESCAPE could change it)
      let j = i + 1;
      for (;;) {
        const k = text.indexOf('"', j);
        if (k === -1) return undefined;
        if (text.charCodeAt(k + 1) === 0x22) { j = k + 2; continue; }
        j = k;
        break;
      }
      i = j + 1;
      continue;
    }
    if (c === 0x24) { // $1 parameter (kept); anything else is dollar quoting
      if (!isDigit(text.charCodeAt(i + 1))) return undefined;
      i++;
      while (i < n && isDigit(text.charCodeAt(i))) i++;
      if (i < n && isIdentChar(text.charCodeAt(i))) return undefined;
      continue;
    }
    if (isDigit(c) || (c === 0x2e && isDigit(text.charCodeAt(i + 1)))) {
      const start = i;
      while (i < n && isDigit(text.charCodeAt(i))) i++;
      let decimal = false;
      if (text.charCodeAt(i) === 0x2e) {
        decimal = true;
        i++;
        while (i < n && isDigit(text.charCodeAt(i))) i++;
      }
      const e = text.charCodeAt(i);
      if (e === 0x65 || e === 0x45) {
        let k = i + 1;
        if (text.charCodeAt(k) === 0x2b || text.charCodeAt(k) === 0x2d) k++;
        if (!isDigit(text.charCodeAt(k))) return undefined; // 1e, 1e+: lexer errors or junk
        while (k < n && isDigit(text.charCodeAt(k))) k++;
        decimal = true;
        i = k;
      }
      if (i < n && (isIdentChar(text.charCodeAt(i)) || text.charCodeAt(i) === 0x2e)) return undefined; // 1abc, 1.2.3, 1..2, 0x1F
      if (!decimal && i - start > 9) continue; // may not fit int4: kept verbatim
      out += text.slice(last, start) + (decimal ? DECIMAL : NUMBER);
      last = i;
      continue;
    }
    if (isIdentChar(c)) { // identifier or keyword, digits and $ included: kept verbatim
      i++;
      while (i < n && isIdentChar(text.charCodeAt(i))) i++;
      continue;
    }
    i++;
  }
  return out + text.slice(last);
}
