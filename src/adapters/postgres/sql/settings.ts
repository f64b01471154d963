// Reads SET / RESET / BEGIN / SET TRANSACTION: which setting, which value, which grant it needs, and whether it asks for READ WRITE.
import type { A_Const, TransactionStmt, VariableSetStmt } from 'libpg-query';
import { nodeOf } from './walk.ts';
import type { SqlKind, SqlNeed, SqlSetting } from '../../../services/policy/sql/facts.ts';

/**
 * Settings any role may change: formatting, names and timeouts. None widens access, changes which
 * relation or function a name resolves to, or changes how the parser reads SQL. Deliberately absent:
 * search_path (name resolution: needs `set_search_path`), role / session_authorization (identity:
 * `set_role`), default_transaction_read_only / transaction_read_only (the read-only backstop),
 * session_replication_role (disables triggers), custom `app.*` settings (often read by row-level security).
 */
const safeSettings: ReadonlySet<string> = new Set([
  'application_name', 'datestyle', 'intervalstyle', 'timezone', 'extra_float_digits', 'bytea_output',
  'client_min_messages', 'statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout',
  'idle_session_timeout', 'transaction_isolation', 'default_transaction_isolation', 'transaction_deferrable',
  'default_transaction_deferrable',
]);

/**
 * Settings that change how PostgreSQL tokenizes SQL. Gatehouse parses as UTF-8 with standard-conforming
 * strings; any other value would let the upstream see different statements than were judged, so only
 * the value Gatehouse parses with is accepted, whatever the grant.
 */
const parserSettings: Readonly<Record<string, RegExp>> = {
  standard_conforming_strings: /^(on|true|yes|1)$/i,
  client_encoding: /^(utf8|utf-8|unicode)$/i,
};

/** The read-only backstop Gatehouse sets for roles without write grants. */
const readOnlySettings: ReadonlySet<string> = new Set(['default_transaction_read_only', 'transaction_read_only']);

/** PostgreSQL's parse_bool accepts these (and unique prefixes) as true. */
const truthy = /^(on|t|tr|tru|true|y|ye|yes|1)$/i;

export interface SessionClassification {
  kind: SqlKind;
  label: string;
  needs: SqlNeed[];
  setting?: SqlSetting;
  readWrite?: boolean;
  /** Set when the statement must be refused whatever the grant (kind is then `unknown`). */
  reason?: string;
}

export function classifySet(stmt: VariableSetStmt): SessionClassification {
  const name = (stmt.name ?? '').toLowerCase();
  const local = !!stmt.is_local;
  const values = (stmt.args ?? []).map(constantText);
  const reset = stmt.kind === 'VAR_RESET' || stmt.kind === 'VAR_RESET_ALL';
  const verb = reset ? 'RESET' : 'SET';
  const base = { kind: reset ? 'reset' : 'set', label: `${verb} ${name || 'ALL'}`, setting: { name: name || 'all', local, values } } as const;

  if (stmt.kind === 'VAR_SET_MULTI') return classifyTransactionMode(name, stmt.args ?? []);
  if (stmt.kind === 'VAR_RESET_ALL') return { ...base, needs: [] };
  if (name === 'role' || name === 'session_authorization') return { ...base, kind: 'set_role', needs: ['set_role'] };
  if (name === 'search_path') return { ...base, needs: ['set_search_path'] };
  const parserValue = parserSettings[name];
  if (parserValue) {
    if (stmt.kind === 'VAR_SET_VALUE' && values.length === 1 && parserValue.test(values[0])) return { ...base, needs: [] };
    return { ...base, kind: 'unknown', needs: [], reason: `${verb} ${name} would make PostgreSQL read SQL differently from Gatehouse's parser` };
  }
  if (readOnlySettings.has(name)) {
    const turnsOn = stmt.kind === 'VAR_SET_VALUE' && values.length === 1 && truthy.test(values[0]);
    return turnsOn ? { ...base, needs: [] } : { ...base, needs: ['set'], readWrite: true };
  }
  return { ...base, needs: safeSettings.has(name) ? [] : ['set'] };
}

/** SET TRANSACTION, SET SESSION CHARACTERISTICS AS TRANSACTION, SET TRANSACTION SNAPSHOT. */
function classifyTransactionMode(name: string, args: readonly unknown[]): SessionClassification {
  const label = `SET ${name.toUpperCase()}`;
  if (name === 'transaction' || name === 'session characteristics') return { kind: 'transaction', label, needs: [], readWrite: asksReadWrite(args) };
  if (name === 'transaction snapshot') return { kind: 'transaction', label, needs: [] };
  return { kind: 'unknown', label, needs: [], reason: `unrecognised SET form ${label}` };
}

const transactionLabels: Record<string, string> = {
  TRANS_STMT_BEGIN: 'BEGIN', TRANS_STMT_START: 'START TRANSACTION', TRANS_STMT_COMMIT: 'COMMIT', TRANS_STMT_ROLLBACK: 'ROLLBACK',
  TRANS_STMT_SAVEPOINT: 'SAVEPOINT', TRANS_STMT_RELEASE: 'RELEASE SAVEPOINT', TRANS_STMT_ROLLBACK_TO: 'ROLLBACK TO SAVEPOINT',
  TRANS_STMT_PREPARE: 'PREPARE TRANSACTION', TRANS_STMT_COMMIT_PREPARED: 'COMMIT PREPARED', TRANS_STMT_ROLLBACK_PREPARED: 'ROLLBACK PREPARED',
};

export function classifyTransaction(stmt: TransactionStmt): SessionClassification {
  const kind = stmt.kind ?? 'TRANS_STMT_BEGIN';
  const label = transactionLabels[kind] ?? kind;
  // Two-phase commit detaches a transaction from the session: it outlives revocation and holds locks indefinitely.
  if (kind === 'TRANS_STMT_PREPARE' || kind === 'TRANS_STMT_COMMIT_PREPARED' || kind === 'TRANS_STMT_ROLLBACK_PREPARED') {
    return { kind: 'two_phase', label, needs: ['two_phase'] };
  }
  return { kind: 'transaction', label, needs: [], readWrite: asksReadWrite(stmt.options ?? []) };
}

/** Transaction modes arrive as DefElems; READ WRITE is `transaction_read_only = 0` (omitted, as protobuf omits zeros). */
function asksReadWrite(options: readonly unknown[]): boolean {
  return options.some((option) => {
    const elem = nodeOf(option);
    if (elem?.[0] !== 'DefElem' || elem[1].defname !== 'transaction_read_only') return false;
    return constantText(elem[1].arg) !== '1';
  });
}

/** A SET argument as text: `'UTC'`, `5`, `on`; anything that is not a plain constant reads as empty. */
function constantText(value: unknown): string {
  const node = nodeOf(value);
  if (node?.[0] !== 'A_Const') return '';
  const { sval, ival, fval, boolval } = node[1] as A_Const;
  if (sval) return sval.sval ?? '';
  if (ival) return String(ival.ival ?? 0);
  if (fval) return fval.fval ?? '';
  if (boolval) return boolval.boolval ? 'true' : 'false';
  return '';
}
