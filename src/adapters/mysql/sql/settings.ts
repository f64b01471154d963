// SET, transactions and the session's sql_mode: which setting, which value, which grant it needs, whether it asks for READ WRITE.
import type { SqlNeed, SqlSetting } from '../../../services/policy/sql/facts.ts';
import type { LexMode, Token } from './lexer.ts';

/**
 * Session settings any role may change: formatting, time zones, timeouts, limits. None widens access, changes which
 * table or function a name means, or changes how the server reads SQL. Deliberately absent (they need a grant that
 * cannot be given yet, `set`): foreign_key_checks and unique_checks (integrity), sql_log_bin, optimizer and storage
 * settings, and everything not named here.
 */
const safeSettings: ReadonlySet<string> = new Set([
  'autocommit', 'time_zone', 'transaction_isolation', 'tx_isolation', 'max_execution_time', 'max_statement_time', 'wait_timeout',
  'interactive_timeout', 'net_read_timeout', 'net_write_timeout', 'lock_wait_timeout', 'innodb_lock_wait_timeout',
  'group_concat_max_len', 'sql_select_limit', 'sql_safe_updates', 'div_precision_increment', 'lc_time_names', 'lc_messages',
  'sql_notes', 'sql_warnings', 'sql_quote_show_create', 'sql_auto_is_null', 'sql_big_selects', 'sql_buffer_result',
  'max_join_size', 'max_sort_length', 'session_track_schema', 'session_track_state_change', 'session_track_system_variables',
  'session_track_transaction_info', 'sql_require_primary_key', 'explicit_defaults_for_timestamp', 'big_tables',
]);

/** Character sets the server reads text in the way Gatehouse's lexer does (UTF-8, or its ASCII subset). */
const utf8Charsets = /^(utf8|utf8mb3|utf8mb4|ascii)$/i;
const utf8Collations = /^(utf8|utf8mb3|utf8mb4|ascii)_[a-z0-9_]+$/i;

/** sql_mode words Gatehouse knows; composite modes expand as the server expands them. ORACLE and MSSQL change the grammar itself. */
const modeWords: ReadonlySet<string> = new Set([
  'ALLOW_INVALID_DATES', 'ANSI_QUOTES', 'ERROR_FOR_DIVISION_BY_ZERO', 'HIGH_NOT_PRECEDENCE', 'IGNORE_SPACE', 'NO_AUTO_CREATE_USER',
  'NO_AUTO_VALUE_ON_ZERO', 'NO_BACKSLASH_ESCAPES', 'NO_DIR_IN_CREATE', 'NO_ENGINE_SUBSTITUTION', 'NO_FIELD_OPTIONS', 'NO_KEY_OPTIONS',
  'NO_TABLE_OPTIONS', 'NO_UNSIGNED_SUBTRACTION', 'NO_ZERO_DATE', 'NO_ZERO_IN_DATE', 'ONLY_FULL_GROUP_BY', 'PAD_CHAR_TO_FULL_LENGTH',
  'PIPES_AS_CONCAT', 'REAL_AS_FLOAT', 'STRICT_ALL_TABLES', 'STRICT_TRANS_TABLES', 'TIME_TRUNCATE_FRACTIONAL', 'EMPTY_STRING_IS_NULL',
  'SIMULTANEOUS_ASSIGNMENT', 'TRADITIONAL', 'ANSI', 'DB2', 'MAXDB', 'POSTGRESQL', 'MYSQL323', 'MYSQL40',
]);
/** Composite modes that include ANSI_QUOTES (and so change what `"x"` means). */
const quotingComposites: ReadonlySet<string> = new Set(['ANSI', 'DB2', 'MAXDB', 'POSTGRESQL']);

/** The lexing flags a literal sql_mode value sets, or a reason it is refused. */
export function sqlModeFlags(value: string): LexMode | { refused: string } {
  const words = value.toUpperCase().split(',').map((w) => w.trim()).filter(Boolean);
  const unknown = words.find((w) => !modeWords.has(w));
  if (unknown) return { refused: `sql_mode ${unknown} is not one Gatehouse reads SQL under` };
  return {
    ansiQuotes: words.some((w) => w === 'ANSI_QUOTES' || quotingComposites.has(w)),
    noBackslashEscapes: words.includes('NO_BACKSLASH_ESCAPES'),
  };
}

export interface SetAssignment {
  /** `user` (@x), `session` or `global` (also PERSIST). */
  scope: 'user' | 'session' | 'global';
  name: string;
  value: Token[];
}

export type SetClassification =
  | { kind: 'set' | 'alter_system' | 'set_role' | 'grant' | 'transaction'; label: string; needs: SqlNeed[]; setting?: SqlSetting; readWrite?: boolean; expressions: Token[][] }
  | { kind: 'unknown'; label: string; reason: string };

const word = (t: Token | undefined) => (t?.kind === 'word' ? t.value.toUpperCase() : undefined);
const scopeWords: Record<string, SetAssignment['scope']> = { GLOBAL: 'global', PERSIST: 'global', PERSIST_ONLY: 'global', SESSION: 'session', LOCAL: 'session' };

/** SET ...: every assignment is checked; the most demanding decides. */
export function classifySet(tokens: Token[]): SetClassification {
  const first = word(tokens[1]);
  if (first === 'STATEMENT') return { kind: 'unknown', label: 'SET STATEMENT', reason: 'SET STATEMENT ... FOR changes settings for one statement; send them separately' };
  if (first === 'PASSWORD') return { kind: 'grant', label: 'SET PASSWORD', needs: ['grant'], expressions: [] };
  if (first === 'ROLE' || (first === 'DEFAULT' && word(tokens[2]) === 'ROLE')) return { kind: 'set_role', label: `SET ${first === 'ROLE' ? 'ROLE' : 'DEFAULT ROLE'}`, needs: ['set_role'], expressions: [] };
  const txAt = first === 'TRANSACTION' ? 1 : scopeWords[first ?? ''] && word(tokens[2]) === 'TRANSACTION' ? 2 : 0;
  if (txAt) {
    const global = scopeWords[first ?? ''] === 'global';
    const label = tokens.slice(0, txAt + 1).map((t) => t.value.toUpperCase()).join(' ');
    if (global) return { kind: 'alter_system', label, needs: ['alter_system'], expressions: [] };
    return { kind: 'transaction', label, needs: [], readWrite: asksReadWrite(tokens), expressions: [] };
  }
  const parts = splitAssignments(tokens.slice(1));
  if (!parts) return { kind: 'unknown', label: 'SET', reason: 'this SET statement is not one Gatehouse reads' };
  let result: SetClassification = { kind: 'set', label: 'SET', needs: [], expressions: [] };
  for (const part of parts) {
    const one = classifyAssignment(part);
    if (one.kind === 'unknown') return one;
    result = merge(result as Extract<SetClassification, { kind: 'set' }>, one);
  }
  return result;
}

/** What a whole SET needs: the union of its assignments' needs, the first non-trivial label and setting. */
function merge(a: Extract<SetClassification, { expressions: Token[][] }>, b: Extract<SetClassification, { expressions: Token[][] }>): SetClassification {
  const rank = { set: 0, transaction: 1, set_role: 2, grant: 3, alter_system: 4 } as const;
  const top = rank[b.kind] > rank[a.kind] ? b : a;
  return {
    kind: top.kind, label: a.label === 'SET' ? b.label : a.label, needs: [...new Set([...a.needs, ...b.needs])],
    ...(a.setting ?? b.setting ? { setting: a.setting ?? b.setting } : {}),
    ...(a.readWrite || b.readWrite ? { readWrite: true } : {}),
    expressions: [...a.expressions, ...b.expressions],
  };
}

/** Splits `a = 1, @b := (SELECT 1, 2), NAMES utf8mb4` at top-level commas. */
function splitAssignments(tokens: Token[]): Token[][] | undefined {
  const parts: Token[][] = [[]];
  let depth = 0;
  for (const t of tokens) {
    if (t.kind === 'op' && t.value === '(') depth++;
    if (t.kind === 'op' && t.value === ')') depth--;
    if (depth < 0) return undefined;
    if (depth === 0 && t.kind === 'op' && t.value === ',') parts.push([]);
    else parts.at(-1)!.push(t);
  }
  return parts.every((p) => p.length) ? parts : undefined;
}

function classifyAssignment(tokens: Token[]): SetClassification {
  const head = word(tokens[0]);
  if (head === 'NAMES' || head === 'CHARSET' || (head === 'CHARACTER' && word(tokens[1]) === 'SET')) {
    const value = tokens[head === 'CHARACTER' ? 2 : 1];
    const charset = value?.kind === 'word' || value?.kind === 'string' || value?.kind === 'quoted' ? value.value : '';
    const collation = word(tokens[head === 'CHARACTER' ? 3 : 2]) === 'COLLATE' ? tokens[head === 'CHARACTER' ? 4 : 3]?.value ?? '' : '';
    if (!utf8Charsets.test(charset) || (collation && !utf8Collations.test(collation))) {
      return { kind: 'unknown', label: `SET ${head}`, reason: `SET ${head} ${charset} would make the server read SQL in a character set Gatehouse does not lex; use utf8mb4` };
    }
    return { kind: 'set', label: `SET ${head}`, needs: [], setting: { name: 'names', local: false, values: [charset.toLowerCase()] }, expressions: [] };
  }
  const target = assignmentTarget(tokens);
  if (!target) return { kind: 'unknown', label: 'SET', reason: 'this SET assignment is not one Gatehouse reads' };
  const { scope, name, value } = target;
  const expressions = value.length === 1 && value[0].kind !== 'op' ? [] : [value];
  if (scope === 'user') return { kind: 'set', label: 'SET @variable', needs: [], expressions };
  if (scope === 'global') return { kind: 'alter_system', label: `SET GLOBAL ${name}`, needs: ['alter_system'], expressions };
  const literal = value.length === 1 ? value[0] : undefined;
  const text = literal && literal.kind !== 'op' ? literal.value : undefined;
  const setting: SqlSetting = { name, local: false, values: text === undefined ? [] : [text] };
  const label = `SET ${name}`;
  if (name === 'sql_mode') {
    if (literal?.kind !== 'string') return { kind: 'unknown', label, reason: 'sql_mode may only be set to a literal list of modes (Gatehouse must know how the server will read what follows)' };
    const flags = sqlModeFlags(literal.value);
    if ('refused' in flags) return { kind: 'unknown', label, reason: flags.refused };
    return { kind: 'set', label, needs: [], setting, expressions };
  }
  if (name === 'character_set_client' || name === 'character_set_connection' || name === 'collation_connection' || name === 'character_set_results') {
    const ok = text !== undefined && (utf8Charsets.test(text) || utf8Collations.test(text) || (name === 'character_set_results' && /^(binary|null)$/i.test(text)));
    return ok ? { kind: 'set', label, needs: [], setting, expressions } : { kind: 'unknown', label, reason: `${name} must stay UTF-8 for Gatehouse to read SQL as the server does` };
  }
  if (name === 'transaction_read_only' || name === 'tx_read_only') {
    const on = text !== undefined && /^(1|on|true)$/i.test(text);
    return on ? { kind: 'set', label, needs: [], setting, expressions } : { kind: 'set', label, needs: ['set'], setting, readWrite: true, expressions };
  }
  return { kind: 'set', label, needs: safeSettings.has(name) ? [] : ['set'], setting, expressions };
}

/** `[GLOBAL|SESSION] name = v`, `@@[global.|session.]name = v`, `@x := v`. */
function assignmentTarget(tokens: Token[]): SetAssignment | undefined {
  let i = 0;
  let scope: SetAssignment['scope'] = 'session';
  let name: string | undefined;
  const t0 = tokens[0];
  if (t0?.kind === 'variable') {
    scope = 'user';
    name = t0.value;
    i = 1;
  } else if (t0?.kind === 'system') {
    const [prefix, rest] = t0.value.includes('.') ? t0.value.split('.', 2) : ['session', t0.value];
    scope = scopeWords[prefix.toUpperCase()] ?? 'global'; // an unknown prefix: refuse as the most dangerous
    name = rest;
    i = 1;
  } else {
    const s = scopeWords[word(t0) ?? ''];
    if (s) { scope = s; i = 1; }
    const n = tokens[i];
    if (n?.kind !== 'word' && n?.kind !== 'quoted') return undefined;
    name = n.value.toLowerCase();
    i++;
  }
  const eq = tokens[i];
  if (eq?.kind !== 'op' || (eq.value !== '=' && eq.value !== ':=')) return undefined;
  const value = tokens.slice(i + 1);
  if (!value.length || !name) return undefined;
  return { scope, name, value };
}

/** START TRANSACTION READ WRITE, SET TRANSACTION READ WRITE: asks for a read-write transaction. */
export function asksReadWrite(tokens: Token[]): boolean {
  return tokens.some((t, i) => word(t) === 'READ' && word(tokens[i + 1]) === 'WRITE');
}
