// What the SQL analyser says about a statement: the data policy judges and the audit records.
import type { Effect } from '../facts.ts';
import type { sqlStatementKinds } from '../../../config/schema.ts';

/** What a statement is, precisely enough for policy to judge it. */
export type SqlKind =
  | 'select' | 'insert' | 'update' | 'delete' | 'merge'
  | 'copy_to' | 'copy_from' | 'copy_file'
  | 'explain' | 'prepare' | 'execute' | 'deallocate'
  | 'declare_cursor' | 'fetch' | 'close'
  | 'transaction' | 'two_phase' | 'set' | 'reset' | 'show' | 'discard' | 'set_constraints'
  | 'set_role' | 'listen' | 'unlisten' | 'notify'
  | 'ddl' | 'grant' | 'alter_system' | 'select_into' | 'maintenance' | 'truncate' | 'lock'
  | 'do' | 'call'
  | 'unknown';

/**
 * A statement kind a grant must list (`statements:`) before the statement may run.
 * `set` (a setting outside the safe list) and `two_phase` (PREPARE TRANSACTION / COMMIT PREPARED)
 * are not in schema.ts yet; until they are, statements needing them are always refused.
 */
export type SqlNeed = (typeof sqlStatementKinds)[number] | 'set' | 'two_phase';

export type RelationAccess = 'read' | 'insert' | 'update' | 'delete';

/** A table, view or other relation, named as written after PostgreSQL's identifier folding. */
export interface SqlRelation {
  schema: string | null;
  name: string;
  access: RelationAccess;
}

/** A function call, named as written after folding; `schema` is null when unqualified. */
export interface SqlFunction {
  schema: string | null;
  name: string;
  /** Its arguments, as far as policy may need them: which object a catalog function is asked about. */
  args?: readonly SqlArg[];
}

/**
 * One argument of a call: a constant (its text, and the type it is cast to, `'v'::regclass`), a qualified column of a
 * relation in the same SELECT (with the constants the WHERE clause pins that relation's columns to, through top-level
 * `AND`ed equalities), or anything else.
 */
export type SqlArg =
  | { kind: 'const'; value: string; cast?: string }
  | { kind: 'column'; relation: { schema: string | null; name: string } | null; column: string; pins: readonly SqlPin[] }
  | { kind: 'other' };

/** `alias.column = constant` in a WHERE clause's top-level conjunction. */
export interface SqlPin {
  column: string;
  value: string;
}

/** One column reference, kept so policy can tell a plain projection from a use in an expression. */
export interface SqlColumnRef {
  /** The qualifier as written (`c`, `customers`, `public.customers`), or null when unqualified. */
  qualifier: string | null;
  /** The column name, or null for `*` / `c.*`. A lone name may also be a whole-row reference (`SELECT c FROM t c`). */
  column: string | null;
  /** True only for a bare column or star in the select list of a top-level plain SELECT. */
  output: boolean;
}

/** A relation as it appears in FROM (or as a DML target), with a name columns may be qualified by. */
export interface SqlRelationSource {
  schema: string | null;
  name: string;
  /** A table alias, or the alias of a join containing the relation (its columns are the relation's). */
  alias: string | null;
  /** Names the alias gives the columns (`customers AS c(a, b)`): any of them may be a masked column. */
  columns: readonly string[];
}

export interface SqlColumnRefs {
  refs: readonly SqlColumnRef[];
  sources: readonly SqlRelationSource[];
}

/** A SET / RESET / SHOW target. `name` is lower-case; RESET ALL and SHOW ALL use `all`. */
export interface SqlSetting {
  name: string;
  local: boolean;
  values: readonly string[];
}

export interface SqlStatement {
  kind: SqlKind;
  /** Human words for messages: `CREATE TABLE`, `SELECT`, `SET search_path`. */
  label: string;
  /** This statement's slice of the input. */
  text: string;
  effect: Effect;
  /** Every relation touched anywhere in the tree, including the inner statement of EXPLAIN/PREPARE/DECLARE/COPY. */
  relations: readonly SqlRelation[];
  /** Every function called anywhere in the tree, including the inner statement's. */
  functions: readonly SqlFunction[];
  /** Statement kinds a grant must list for this statement (not counting its inner statement's). */
  needs: readonly SqlNeed[];
  columnRefs: SqlColumnRefs;
  /** Why the statement could not be classified; set exactly when kind is `unknown`. */
  reason?: string;
  /** The statement EXPLAIN, PREPARE, DECLARE CURSOR, COPY (query), CREATE TABLE AS or CREATE VIEW wraps. */
  inner?: SqlStatement;
  /** Prepared statement name (PREPARE, EXECUTE, DEALLOCATE) or cursor name (DECLARE, FETCH, CLOSE). */
  name?: string;
  setting?: SqlSetting;
  /** True when a transaction statement or setting asks for READ WRITE (or may turn read-only off). */
  readWrite?: boolean;
  /** DECLARE ... WITH HOLD: the cursor outlives its transaction. */
  holdable?: boolean;
}

export interface SqlAnalysis {
  text: string;
  /** One entry per statement; never empty (an empty or unparseable input yields one `unknown`). */
  statements: readonly SqlStatement[];
}
