// Says what one parsed statement is: its kind, the grants it needs, what it touches. Unclassified node types are `unknown`.
import type {
  CallStmt, ClosePortalStmt, ClusterStmt, CopyStmt, CreateTableAsStmt, DeallocateStmt, DeclareCursorStmt, DiscardStmt, DropStmt,
  ExecuteStmt, ExplainStmt, FetchStmt, GrantStmt, LockStmt, Node, PrepareStmt, RangeVar, RefreshMatViewStmt,
  SelectStmt, TransactionStmt, VacuumRelation, VacuumStmt, VariableSetStmt, VariableShowStmt, ViewStmt,
} from 'libpg-query';
import type { Effect } from '../../../services/policy/facts.ts';
import { readableSetting } from '../../../services/policy/sql/settings.ts';
import { classifySet, classifyTransaction } from './settings.ts';
import { Collector, definitionScope, nodeOf, statementScope, type Collected, type Scope } from './walk.ts';
import type { SqlKind, SqlNeed, SqlStatement } from '../../../services/policy/sql/facts.ts';

type Body = Record<string, unknown>;

/** Schema changes: refused unless the grant lists `ddl`. Their RangeVars name objects being defined, so only functions are collected. */
const ddlStatements: ReadonlySet<string> = new Set([
  'AlterCollationStmt', 'AlterDatabaseRefreshCollStmt', 'AlterDatabaseSetStmt', 'AlterDatabaseStmt', 'AlterDomainStmt',
  'AlterEnumStmt', 'AlterEventTrigStmt', 'AlterExtensionContentsStmt', 'AlterExtensionStmt', 'AlterFdwStmt',
  'AlterForeignServerStmt', 'AlterFunctionStmt', 'AlterObjectDependsStmt', 'AlterObjectSchemaStmt', 'AlterOpFamilyStmt',
  'AlterOperatorStmt', 'AlterOwnerStmt', 'AlterPolicyStmt', 'AlterPublicationStmt', 'AlterSeqStmt', 'AlterStatsStmt',
  'AlterSubscriptionStmt', 'AlterTSConfigurationStmt', 'AlterTSDictionaryStmt', 'AlterTableMoveAllStmt',
  'AlterTableSpaceOptionsStmt', 'AlterTableStmt', 'AlterTypeStmt', 'AlterUserMappingStmt', 'CommentStmt',
  'CompositeTypeStmt', 'CreateAmStmt', 'CreateCastStmt', 'CreateConversionStmt', 'CreateDomainStmt', 'CreateEnumStmt',
  'CreateEventTrigStmt', 'CreateExtensionStmt', 'CreateFdwStmt', 'CreateForeignServerStmt', 'CreateForeignTableStmt',
  'CreateFunctionStmt', 'CreateOpClassStmt', 'CreateOpFamilyStmt', 'CreatePLangStmt', 'CreatePolicyStmt',
  'CreatePublicationStmt', 'CreateRangeStmt', 'CreateSchemaStmt', 'CreateSeqStmt', 'CreateStatsStmt', 'CreateStmt',
  'CreateSubscriptionStmt', 'CreateTableSpaceStmt', 'CreateTransformStmt', 'CreateTrigStmt', 'CreateUserMappingStmt',
  'CreatedbStmt', 'DefineStmt', 'DropStmt', 'DropSubscriptionStmt', 'DropTableSpaceStmt', 'DropUserMappingStmt',
  'DropdbStmt', 'ImportForeignSchemaStmt', 'IndexStmt', 'LoadStmt', 'RenameStmt', 'RuleStmt', 'SecLabelStmt',
]);

/** Who may do what: refused unless the grant lists `grant`. */
const privilegeStatements: ReadonlySet<string> = new Set([
  'GrantStmt', 'GrantRoleStmt', 'AlterDefaultPrivilegesStmt', 'CreateRoleStmt', 'AlterRoleStmt', 'AlterRoleSetStmt',
  'DropRoleStmt', 'DropOwnedStmt', 'ReassignOwnedStmt',
]);

/** Kinds whose effect follows from the relations they touch (a SELECT with a writable CTE writes). */
const dataKinds: ReadonlySet<SqlKind> = new Set(['select', 'insert', 'update', 'delete', 'merge', 'copy_to', 'copy_from', 'explain', 'prepare', 'declare_cursor']);

const fixedEffects: Partial<Record<SqlKind, Effect>> = {
  // An EXECUTE runs whatever was prepared; a preparable statement writes at most.
  execute: 'write', copy_file: 'write', truncate: 'write', lock: 'write', notify: 'write', two_phase: 'write',
  ddl: 'ddl', grant: 'ddl', alter_system: 'ddl', select_into: 'ddl', maintenance: 'ddl',
  do: 'call', call: 'call', unknown: 'unknown',
};

interface Parts {
  kind: SqlKind;
  label: string;
  needs?: SqlNeed[];
  collected?: Collected;
  inner?: SqlStatement;
  name?: string;
  setting?: SqlStatement['setting'];
  readWrite?: boolean;
  holdable?: boolean;
  reason?: string;
}

/** DeclareCursorStmt.options bit for WITH HOLD (PostgreSQL's CURSOR_OPT_HOLD). */
const CURSOR_OPT_HOLD = 0x20;

const nothing = (): Collected => new Collector().result();

function build(text: string, parts: Parts): SqlStatement {
  const collected = parts.collected ?? parts.inner ?? nothing();
  const writes = collected.relations.some((r) => r.access !== 'read');
  const effect = dataKinds.has(parts.kind) ? (writes ? 'write' : 'read') : fixedEffects[parts.kind] ?? 'session';
  const statement: SqlStatement = {
    kind: parts.kind, label: parts.label, text, effect,
    relations: collected.relations, functions: collected.functions, needs: parts.needs ?? [], columnRefs: collected.columnRefs,
  };
  for (const key of ['reason', 'inner', 'name', 'setting', 'readWrite', 'holdable'] as const) {
    if (parts[key] !== undefined) Object.assign(statement, { [key]: parts[key] });
  }
  return statement;
}

export function unknownStatement(text: string, reason: string): SqlStatement {
  return build(text, { kind: 'unknown', label: 'unknown', reason });
}

/** Walk a tree in a scope and return what it touches. */
function collect(node: unknown, scope: Scope = statementScope): Collected {
  const collector = new Collector();
  collector.visit(node, scope);
  return collector.result();
}

/** Classify one statement node; `top` is false where its results are not returned to the client (CREATE TABLE AS, CREATE VIEW). */
export function classify(node: Node, text: string, top = true): SqlStatement {
  const [type, body] = nodeOf(node) ?? ['', {}];
  const scope: Scope = top ? statementScope : { ...statementScope, top: false };
  const inner = (query: unknown, innerTop = true): SqlStatement | undefined => (query ? classify(query as Node, text, innerTop) : undefined);

  if (ddlStatements.has(type)) return build(text, { kind: 'ddl', label: ddlLabel(type, body), needs: ['ddl'], collected: collect(node, definitionScope) });
  if (privilegeStatements.has(type)) return build(text, { kind: 'grant', label: ddlLabel(type, body), needs: ['grant'], collected: collect(node, definitionScope) });

  switch (type) {
    case 'SelectStmt':
      return (body as SelectStmt).intoClause
        ? build(text, { kind: 'select_into', label: 'SELECT INTO', needs: ['select_into'], collected: collect(node, scope) })
        : build(text, { kind: 'select', label: 'SELECT', collected: collect(node, scope) });
    case 'InsertStmt': return build(text, { kind: 'insert', label: 'INSERT', collected: collect(node, scope) });
    case 'UpdateStmt': return build(text, { kind: 'update', label: 'UPDATE', collected: collect(node, scope) });
    case 'DeleteStmt': return build(text, { kind: 'delete', label: 'DELETE', collected: collect(node, scope) });
    case 'MergeStmt': return build(text, { kind: 'merge', label: 'MERGE', collected: collect(node, scope) });
    case 'ExplainStmt': return build(text, { kind: 'explain', label: 'EXPLAIN', inner: inner((body as ExplainStmt).query) });
    case 'PrepareStmt': {
      const stmt = body as PrepareStmt;
      return build(text, { kind: 'prepare', label: 'PREPARE', name: stmt.name, inner: inner(stmt.query) });
    }
    case 'ExecuteStmt': {
      const stmt = body as ExecuteStmt;
      return build(text, { kind: 'execute', label: 'EXECUTE', name: stmt.name, collected: collect(stmt.params) });
    }
    case 'DeallocateStmt': return build(text, { kind: 'deallocate', label: 'DEALLOCATE', name: (body as DeallocateStmt).name });
    case 'DeclareCursorStmt': {
      // A cursor is judged by the query it runs, like EXPLAIN and PREPARE; FETCH, MOVE and CLOSE then only read it.
      const stmt = body as DeclareCursorStmt;
      const holdable = ((stmt.options ?? 0) & CURSOR_OPT_HOLD) !== 0;
      return build(text, { kind: 'declare_cursor', label: 'DECLARE CURSOR', name: stmt.portalname, inner: inner(stmt.query), ...(holdable && { holdable }) });
    }
    case 'FetchStmt': {
      const stmt = body as FetchStmt;
      return build(text, { kind: 'fetch', label: stmt.ismove ? 'MOVE' : 'FETCH', name: stmt.portalname });
    }
    case 'ClosePortalStmt': return build(text, { kind: 'close', label: 'CLOSE', name: (body as ClosePortalStmt).portalname });
    case 'CopyStmt': return copy(body as CopyStmt, text);
    case 'TransactionStmt': return build(text, classifyTransaction(body as TransactionStmt));
    case 'VariableSetStmt': return build(text, classifySet(body as VariableSetStmt));
    case 'VariableShowStmt': {
      // A setting that describes the server (data_directory, config_file...) or SHOW ALL needs `settings`.
      const name = ((body as VariableShowStmt).name ?? '').toLowerCase();
      return build(text, { kind: 'show', label: `SHOW ${name}`, needs: readableSetting(name) ? [] : ['settings'], setting: { name, local: false, values: [] } });
    }
    case 'DiscardStmt': {
      const all = (body as DiscardStmt).target === 'DISCARD_ALL';
      // DISCARD ALL runs SET SESSION AUTHORIZATION DEFAULT, which undoes any role the gateway set: as SET ROLE.
      return build(text, { kind: 'discard', label: all ? 'DISCARD ALL' : 'DISCARD', needs: all ? ['set_role'] : [] });
    }
    case 'ConstraintsSetStmt': return build(text, { kind: 'set_constraints', label: 'SET CONSTRAINTS' });
    case 'ListenStmt': return build(text, { kind: 'listen', label: 'LISTEN', needs: ['listen'] });
    case 'UnlistenStmt': return build(text, { kind: 'unlisten', label: 'UNLISTEN' });
    case 'NotifyStmt': return build(text, { kind: 'notify', label: 'NOTIFY', needs: ['notify'] });
    case 'DoStmt': return build(text, { kind: 'do', label: 'DO', needs: ['do'] });
    case 'CallStmt': return build(text, { kind: 'call', label: 'CALL', needs: ['call'], collected: collect({ FuncCall: (body as CallStmt).funccall }) });
    case 'TruncateStmt': return build(text, { kind: 'truncate', label: 'TRUNCATE', needs: ['truncate'], collected: targets(body.relations, 'delete') });
    case 'LockStmt': {
      // ACCESS SHARE (mode 1) only blocks schema changes; every stronger mode blocks writers, as an update would.
      const stmt = body as LockStmt;
      return build(text, { kind: 'lock', label: 'LOCK', needs: ['lock'], collected: targets(stmt.relations, stmt.mode === 1 ? 'read' : 'update') });
    }
    case 'VacuumStmt': {
      const stmt = body as VacuumStmt;
      const rels = (stmt.rels ?? []).map((rel) => ({ RangeVar: (nodeOf(rel)?.[1] as VacuumRelation | undefined)?.relation }));
      return build(text, { kind: 'maintenance', label: stmt.is_vacuumcmd ? 'VACUUM' : 'ANALYZE', needs: ['maintenance'], collected: targets(rels, 'read') });
    }
    case 'ClusterStmt': return build(text, { kind: 'maintenance', label: 'CLUSTER', needs: ['maintenance'], collected: targets([{ RangeVar: (body as ClusterStmt).relation }], 'read') });
    case 'RefreshMatViewStmt': return build(text, { kind: 'maintenance', label: 'REFRESH MATERIALIZED VIEW', needs: ['maintenance'], collected: targets([{ RangeVar: (body as RefreshMatViewStmt).relation }], 'read') });
    case 'ReindexStmt': return build(text, { kind: 'maintenance', label: 'REINDEX', needs: ['maintenance'] });
    case 'CheckPointStmt': return build(text, { kind: 'maintenance', label: 'CHECKPOINT', needs: ['maintenance'] });
    case 'AlterSystemStmt': return build(text, { kind: 'alter_system', label: 'ALTER SYSTEM', needs: ['alter_system'] });
    case 'CreateTableAsStmt': {
      // The query's rows go into a new relation, not to the client: they are not a plain projection (masks).
      const stmt = body as CreateTableAsStmt;
      const query = inner(stmt.query, false);
      if (stmt.objtype === 'OBJECT_MATVIEW') return build(text, { kind: 'ddl', label: 'CREATE MATERIALIZED VIEW', needs: ['ddl'], inner: query });
      return build(text, { kind: 'select_into', label: stmt.is_select_into ? 'SELECT INTO' : 'CREATE TABLE AS', needs: ['select_into'], inner: query });
    }
    case 'ViewStmt': return build(text, { kind: 'ddl', label: 'CREATE VIEW', needs: ['ddl'], inner: inner((body as ViewStmt).query, false) });
    default:
      return unknownStatement(text, `statement type ${type || '(none)'} is not classified by Gatehouse`);
  }
}

/** COPY: to the client (STDOUT) it reads, from the client (STDIN) it inserts; a server file or PROGRAM needs `copy_file`. */
function copy(stmt: CopyStmt, text: string): SqlStatement {
  const onServer = stmt.is_program || stmt.filename !== undefined;
  const kind: SqlKind = onServer ? 'copy_file' : stmt.is_from ? 'copy_from' : 'copy_to';
  const label = `COPY ${stmt.is_from ? 'FROM' : 'TO'} ${stmt.is_program ? 'PROGRAM' : onServer ? 'FILE' : stmt.is_from ? 'STDIN' : 'STDOUT'}`;
  const needs: SqlNeed[] = onServer ? ['copy_file'] : [];
  if (stmt.query) return build(text, { kind, label, needs, inner: classify(stmt.query, text) });
  const collector = new Collector();
  if (stmt.relation) collector.relation(stmt.relation, stmt.is_from ? 'insert' : 'read', statementScope);
  collector.visit(stmt.whereClause, statementScope);
  return build(text, { kind, label, needs, collected: collector.result() });
}

/** Relations a utility statement names directly (TRUNCATE, LOCK, VACUUM ...), each with one access. */
function targets(relations: unknown, access: 'read' | 'update' | 'delete'): Collected {
  const collector = new Collector();
  for (const rel of Array.isArray(relations) ? relations : []) {
    const rv = nodeOf(rel)?.[1] as RangeVar | undefined;
    if (rv) collector.relation(rv, access, statementScope);
  }
  return collector.result();
}

/** `CreateFunctionStmt` → `CREATE FUNCTION`; a few node names need PostgreSQL's own words. */
function ddlLabel(type: string, body: Body): string {
  switch (type) {
    case 'CreateStmt': return 'CREATE TABLE';
    case 'CreatedbStmt': return 'CREATE DATABASE';
    case 'DropdbStmt': return 'DROP DATABASE';
    case 'IndexStmt': return 'CREATE INDEX';
    case 'DropStmt': return `DROP ${String((body as DropStmt).removeType ?? '').replace(/^OBJECT_/, '').replace(/_/g, ' ')}`;
    case 'GrantStmt': case 'GrantRoleStmt': return (body as GrantStmt).is_grant ? 'GRANT' : 'REVOKE';
    case 'RuleStmt': return 'CREATE RULE';
    case 'CreatePLangStmt': return 'CREATE LANGUAGE';
    case 'LoadStmt': return 'LOAD';
    case 'SecLabelStmt': return 'SECURITY LABEL';
    case 'CommentStmt': return 'COMMENT';
    default:
      return (type.replace(/Stmt$/, '').match(/[A-Z]+(?![a-z])|[A-Z][a-z]*/g) ?? [type])
        .map((word) => ddlWords[word] ?? word.toUpperCase()).join(' ');
  }
}

const ddlWords: Record<string, string> = {
  Trig: 'TRIGGER', Seq: 'SEQUENCE', Stats: 'STATISTICS', Fdw: 'FOREIGN DATA WRAPPER', PLang: 'LANGUAGE', Am: 'ACCESS METHOD',
  TS: 'TEXT SEARCH', Op: 'OPERATOR', Enum: 'TYPE', Composite: 'CREATE', Define: 'CREATE',
};
