// Walks a libpg-query tree and collects every relation, function call and column reference in it, however deeply nested.
import type {
  A_Const, A_Expr, Alias, BoolExpr, ColumnRef, CommonTableExpr, DeleteStmt, FuncCall, InsertStmt, JoinExpr, MergeStmt, RangeVar, ResTarget,
  ReturningClause, SelectStmt, SortBy, SubLink, TypeCast, UpdateStmt, WithClause,
} from 'libpg-query';
import type { RelationAccess, SqlArg, SqlColumnRef, SqlColumnRefs, SqlFunction, SqlPin, SqlRelation, SqlRelationSource } from '../../../services/policy/sql/facts.ts';

type Body = Record<string, unknown>;

/** Where in the tree the walker stands: it decides what a RangeVar or ColumnRef found there means. */
export interface Scope {
  /** CTE names visible here: an unqualified RangeVar with one of these names is the CTE, not a table. */
  readonly ctes: ReadonlySet<string>;
  /** The next SelectStmt is the statement's top-level query, whose bare columns are plain projections. */
  readonly top: boolean;
  /** Relations found here are locked by SELECT ... FOR UPDATE/SHARE, which needs update access. */
  readonly locking: boolean;
  /** The next SelectStmt's select list is never output (EXISTS), so a `*` there exposes nothing. */
  readonly projectionUnused: boolean;
  /** False inside DDL, whose RangeVars name objects being defined, not data being accessed. */
  readonly relations: boolean;
  /** The innermost plain SELECT's FROM aliases and what its WHERE pins their columns to (see SqlArg). */
  readonly level?: Level;
}

interface Level {
  relations: ReadonlyMap<string, { schema: string | null; name: string }>;
  pins: ReadonlyMap<string, readonly SqlPin[]>;
}

export const statementScope: Scope = { ctes: new Set(), top: true, locking: false, projectionUnused: false, relations: true };
export const definitionScope: Scope = { ...statementScope, top: false, relations: false };

export interface Collected {
  readonly relations: readonly SqlRelation[];
  readonly functions: readonly SqlFunction[];
  readonly columnRefs: SqlColumnRefs;
}

/** libpg-query wraps every Node as `{ TypeName: body }`; plain struct fields (e.g. InsertStmt.relation) are not wrapped. */
export function nodeOf(value: unknown): [string, Body] | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  let type: string | undefined;
  for (const key in value) { // cheaper than Object.keys on the hot path: no array per object
    if (type !== undefined) return undefined;
    type = key;
  }
  if (type === undefined || type[0] < 'A' || type[0] > 'Z') return undefined;
  const body = (value as Body)[type];
  return body !== null && typeof body === 'object' ? [type, body as Body] : undefined;
}

/** The `sval` of a `{ String: ... }` node, else undefined. */
export function stringOf(value: unknown): string | undefined {
  const node = nodeOf(value);
  return node?.[0] === 'String' ? String(node[1].sval ?? '') : undefined;
}

/** Output column of a top-level select list, kept to resolve `ORDER BY 2` / `ORDER BY alias` back to the column. */
interface Output {
  name: string | undefined;
  ref: SqlColumnRef | undefined;
  star: boolean;
}

export class Collector {
  private readonly relations = new Map<string, SqlRelation>();
  private readonly functions = new Map<string, SqlFunction>();
  private readonly refs = new Map<string, SqlColumnRef>();
  private readonly sources = new Map<string, SqlRelationSource>();

  result(): Collected {
    return {
      relations: [...this.relations.values()],
      functions: [...this.functions.values()],
      columnRefs: { refs: [...this.refs.values()], sources: [...this.sources.values()] },
    };
  }

  /** Generic descent: known node types get their handler, everything else has each field walked. */
  visit(value: unknown, scope: Scope): void {
    if (Array.isArray(value)) {
      for (const item of value) this.visit(item, scope);
      return;
    }
    if (value === null || typeof value !== 'object') return;
    const node = nodeOf(value);
    if (!node) return this.fields(value as Body, scope);
    const [type, body] = node;
    switch (type) {
      case 'RangeVar': return this.rangeVar(body as RangeVar, scope);
      case 'FuncCall': return this.funcCall(body as FuncCall, scope);
      case 'ColumnRef': return void this.columnRef(body as ColumnRef, false);
      case 'SelectStmt': return this.select(body as SelectStmt, scope);
      case 'InsertStmt': return this.insert(body as InsertStmt, scope);
      case 'UpdateStmt': return this.update(body as UpdateStmt, scope);
      case 'DeleteStmt': return this.delete(body as DeleteStmt, scope);
      case 'MergeStmt': return this.merge(body as MergeStmt, scope);
      case 'JoinExpr': return this.join(body as JoinExpr, scope);
      case 'SubLink': return this.subLink(body as SubLink, scope);
      case 'LockingClause': return; // its lockedRels are aliases of FROM items, not relations
      default: return this.fields(body, scope);
    }
  }

  /** A relation the statement itself targets (COPY, TRUNCATE, LOCK, a DML target): never a CTE reference. */
  relation(rv: RangeVar, access: RelationAccess, scope: Scope, aliases: readonly string[] = []): void {
    if (!scope.relations || !rv.relname) return;
    const schema = rv.schemaname ?? null;
    this.addRelation({ schema, name: rv.relname, access });
    if (scope.locking && access === 'read') this.addRelation({ schema, name: rv.relname, access: 'update' });
    this.addSource({ schema, name: rv.relname, alias: rv.alias?.aliasname ?? null, columns: aliasColumns(rv.alias) });
    for (const alias of aliases) this.addSource({ schema, name: rv.relname, alias, columns: [] });
  }

  private addSource(source: SqlRelationSource): void {
    this.sources.set(JSON.stringify(source), source);
  }

  private addRelation(relation: SqlRelation): void {
    this.relations.set(`${relation.schema}.${relation.name}:${relation.access}`, relation);
  }

  private fields(body: Body, scope: Scope, skip: ReadonlySet<string> = noFields): void {
    for (const key in body) if (!skip.has(key)) this.visit(body[key], scope);
  }

  private rangeVar(rv: RangeVar, scope: Scope): void {
    if (!rv.schemaname && rv.relname && scope.ctes.has(rv.relname)) return; // a CTE, walked where it is defined
    this.relation(rv, 'read', scope);
  }

  private funcCall(call: FuncCall, scope: Scope): void {
    const parts = (call.funcname ?? []).map(stringOf);
    const name = parts.at(-1);
    if (name) {
      const args = (call.args ?? []).map((arg) => argOf(arg, scope.level));
      const fn: SqlFunction = { schema: parts.length > 1 ? parts.at(-2) ?? null : null, name, ...(args.some((a) => a.kind !== 'other') && { args }) };
      this.functions.set(`${parts.join('.')}(${JSON.stringify(fn.args ?? [])})`, fn);
    }
    this.fields(call as Body, scope, funcNameField);
  }

  private columnRef(ref: ColumnRef, output: boolean): SqlColumnRef {
    const fields = ref.fields ?? [];
    const last = fields.at(-1);
    // A catalog-qualified `db.schema.table.col` is matched as `schema.table`, as PostgreSQL resolves it in the current database.
    const qualifier = fields.slice(-3, -1).map(stringOf).join('.') || null;
    const found: SqlColumnRef = { qualifier, column: nodeOf(last)?.[0] === 'A_Star' ? null : stringOf(last) ?? null, output };
    this.addRef(found);
    return found;
  }

  private addRef(ref: SqlColumnRef): void {
    this.refs.set(`${ref.qualifier}|${ref.column}|${ref.output}`, ref);
  }

  /** Makes the WITH list's CTEs visible as PostgreSQL does, walks their bodies, and returns the scope for the main query. */
  private with(clause: WithClause | undefined, scope: Scope): Scope {
    if (!clause?.ctes?.length) return scope;
    const ctes = clause.ctes.map((node) => (nodeOf(node)?.[1] ?? {}) as CommonTableExpr);
    const all = new Set([...scope.ctes, ...ctes.flatMap((cte) => (cte.ctename ? [cte.ctename] : []))]);
    const visible = new Set(scope.ctes);
    for (const cte of ctes) {
      // Without RECURSIVE a CTE sees only the ones before it; naming itself means the real table.
      const body: Scope = { ...scope, top: false, projectionUnused: false, ctes: clause.recursive ? all : new Set(visible), level: undefined };
      this.fields(cte as Body, body, cteNameField);
      if (cte.ctename) visible.add(cte.ctename);
    }
    return { ...scope, ctes: all };
  }

  private select(stmt: SelectStmt, outer: Scope): void {
    const scope = { ...this.with(stmt.withClause, outer), level: levelOf(stmt) };
    const child: Scope = { ...scope, top: false, projectionUnused: false, locking: scope.locking || !!stmt.lockingClause?.length };
    if (stmt.op && stmt.op !== 'SETOP_NONE') {
      if (stmt.larg) this.select(stmt.larg, child);
      if (stmt.rarg) this.select(stmt.rarg, child);
      return this.fields(stmt as Body, child, selectHandledFields);
    }
    const plain = scope.top && !stmt.distinctClause && !stmt.intoClause && !stmt.valuesLists;
    const outputs = this.projection(stmt.targetList ?? [], plain, scope.projectionUnused, child);
    if (plain) {
      for (const sort of stmt.sortClause ?? []) this.outputReference((nodeOf(sort)?.[1] as SortBy | undefined)?.node, outputs);
      for (const group of stmt.groupClause ?? []) this.outputReference(group, outputs);
    }
    this.fields(stmt as Body, child, selectHandledFields);
  }

  /** The select list: bare columns of a top-level plain SELECT are plain projections; everything else is an expression. */
  private projection(targets: readonly unknown[], plain: boolean, unused: boolean, scope: Scope): Output[] {
    return targets.map((target) => {
      const rt = (nodeOf(target)?.[1] ?? {}) as ResTarget;
      const val = nodeOf(rt.val);
      if (val?.[0] !== 'ColumnRef') {
        this.visit(rt.val, scope);
        this.fields(rt as Body, scope, valueField);
        return { name: rt.name, ref: undefined, star: false };
      }
      const fields = (val[1] as ColumnRef).fields ?? [];
      const star = nodeOf(fields.at(-1))?.[0] === 'A_Star';
      if (unused && star) return { name: rt.name, ref: undefined, star };
      const ref = this.columnRef(val[1] as ColumnRef, plain);
      return { name: rt.name ?? ref.column ?? undefined, ref, star };
    });
  }

  /** `ORDER BY 2` or `ORDER BY alias` sorts by an output column: record that column as used in an expression. */
  private outputReference(item: unknown, outputs: readonly Output[]): void {
    const node = nodeOf(item);
    if (node?.[0] === 'A_Const') {
      const ival = (node[1] as A_Const).ival;
      if (!ival) return;
      const position = ival.ival ?? 0; // protobuf JSON omits a zero
      const upTo = outputs.slice(0, Math.max(position, 0));
      // A `*` before the position hides which column it is: count it as a use of every column.
      if (upTo.some((o) => o.star)) return this.addRef({ qualifier: null, column: null, output: false });
      const ref = outputs[position - 1]?.ref;
      if (ref) this.addRef({ ...ref, output: false });
      return;
    }
    if (node?.[0] !== 'ColumnRef') return;
    const fields = (node[1] as ColumnRef).fields ?? [];
    const name = fields.length === 1 ? stringOf(fields[0]) : undefined;
    for (const output of outputs) if (name !== undefined && output.name === name && output.ref) this.addRef({ ...output.ref, output: false });
  }

  private insert(stmt: InsertStmt, outer: Scope): void {
    const scope = { ...this.with(stmt.withClause, outer), top: false, level: undefined };
    if (stmt.relation) {
      const aliases = returningAliases(stmt.returningClause);
      this.relation(stmt.relation, 'insert', scope, aliases);
      if (stmt.onConflictClause?.action === 'ONCONFLICT_UPDATE') {
        this.relation(stmt.relation, 'update', scope, aliases);
        this.relation(stmt.relation, 'read', scope, aliases); // DO UPDATE sees the existing row
      }
      if (stmt.returningClause) this.relation(stmt.relation, 'read', scope, aliases);
    }
    this.fields(stmt as Body, scope, dmlHandledFields);
  }

  private update(stmt: UpdateStmt, outer: Scope): void {
    const scope = { ...this.with(stmt.withClause, outer), top: false, level: undefined };
    // Like PostgreSQL's own privilege check: filtering, computing from or returning the rows reads them.
    const reads = !!(stmt.whereClause || stmt.returningClause || stmt.fromClause?.length || contains(stmt.targetList, 'ColumnRef'));
    this.target(stmt.relation, 'update', reads, stmt.returningClause, scope);
    this.fields(stmt as Body, scope, dmlHandledFields);
  }

  private delete(stmt: DeleteStmt, outer: Scope): void {
    const scope = { ...this.with(stmt.withClause, outer), top: false, level: undefined };
    const reads = !!(stmt.whereClause || stmt.returningClause || stmt.usingClause?.length);
    this.target(stmt.relation, 'delete', reads, stmt.returningClause, scope);
    this.fields(stmt as Body, scope, dmlHandledFields);
  }

  private merge(stmt: MergeStmt, outer: Scope): void {
    const scope = { ...this.with(stmt.withClause, outer), top: false, level: undefined };
    for (const clause of stmt.mergeWhenClauses ?? []) {
      const action = mergeAccess[String(nodeOf(clause)?.[1].commandType)];
      if (action) this.target(stmt.relation, action, false, stmt.returningClause, scope);
    }
    this.target(stmt.relation, 'read', false, stmt.returningClause, scope); // the join condition reads the target
    this.fields(stmt as Body, scope, dmlHandledFields);
  }

  private target(rv: RangeVar | undefined, access: RelationAccess, reads: boolean, returning: ReturningClause | undefined, scope: Scope): void {
    if (!rv) return;
    const aliases = returningAliases(returning);
    this.relation(rv, access, scope, aliases);
    if (reads) this.relation(rv, 'read', scope, aliases);
  }

  private join(join: JoinExpr, scope: Scope): void {
    // USING (col) and NATURAL compare columns: they are uses in an expression, invisible as ColumnRefs.
    for (const column of join.usingClause ?? []) this.addRef({ qualifier: null, column: stringOf(column) ?? null, output: false });
    if (join.isNatural) this.addRef({ qualifier: null, column: null, output: false });
    const before = new Set(this.sources.keys());
    this.fields(join as Body, scope);
    // `(a JOIN b ...) AS j` exposes a's and b's columns as j.col: j is a name of every relation joined.
    for (const alias of [join.alias, join.join_using_alias]) {
      if (!alias?.aliasname) continue;
      for (const [key, source] of [...this.sources]) {
        if (!before.has(key)) this.addSource({ ...source, alias: alias.aliasname, columns: aliasColumns(alias) });
      }
    }
  }

  private subLink(link: SubLink, scope: Scope): void {
    const unused = link.subLinkType === 'EXISTS_SUBLINK';
    this.visit(link.subselect, { ...scope, top: false, projectionUnused: unused });
    this.fields(link as Body, scope, subselectField);
  }
}

/** A plain SELECT's FROM aliases (joins included) and the constants its WHERE pins their columns to. */
function levelOf(stmt: SelectStmt): Level | undefined {
  if (stmt.op && stmt.op !== 'SETOP_NONE') return undefined;
  const relations = new Map<string, { schema: string | null; name: string }>();
  const addFrom = (item: unknown) => {
    const node = nodeOf(item);
    if (node?.[0] === 'RangeVar') {
      const rv = node[1] as RangeVar;
      if (rv.relname) relations.set(rv.alias?.aliasname ?? rv.relname, { schema: rv.schemaname ?? null, name: rv.relname });
    } else if (node?.[0] === 'JoinExpr') {
      addFrom((node[1] as JoinExpr).larg);
      addFrom((node[1] as JoinExpr).rarg);
    }
  };
  for (const item of stmt.fromClause ?? []) addFrom(item);
  const pins = new Map<string, SqlPin[]>();
  for (const conjunct of conjuncts(stmt.whereClause)) {
    const expr = nodeOf(conjunct);
    if (expr?.[0] !== 'A_Expr') continue;
    const { kind, name, lexpr, rexpr } = expr[1] as A_Expr;
    if (kind !== 'AEXPR_OP' || name?.length !== 1 || stringOf(name[0]) !== '=') continue;
    for (const [column, constant] of [[lexpr, rexpr], [rexpr, lexpr]]) {
      const ref = qualifiedColumn(column);
      const value = constantOf(constant);
      if (ref && value !== undefined && relations.has(ref.qualifier)) {
        pins.set(ref.qualifier, [...(pins.get(ref.qualifier) ?? []), { column: ref.column, value: value.value }]);
      }
    }
  }
  return { relations, pins };
}

/** The operands of a top-level chain of ANDs (a single condition is its own chain). */
function conjuncts(where: unknown): unknown[] {
  const node = nodeOf(where);
  if (node?.[0] === 'BoolExpr' && (node[1] as BoolExpr).boolop === 'AND_EXPR') return ((node[1] as BoolExpr).args ?? []).flatMap(conjuncts);
  return where === undefined ? [] : [where];
}

/** `alias.column`, exactly two names. */
function qualifiedColumn(value: unknown): { qualifier: string; column: string } | undefined {
  const node = nodeOf(value);
  if (node?.[0] !== 'ColumnRef') return undefined;
  const [qualifier, column, extra] = ((node[1] as ColumnRef).fields ?? []).map(stringOf);
  return qualifier !== undefined && column !== undefined && extra === undefined ? { qualifier, column } : undefined;
}

/** A constant, possibly cast (`'17361'::pg_catalog.oid`, `'v'::regclass`), as text. */
function constantOf(value: unknown): { value: string; cast?: string } | undefined {
  const node = nodeOf(value);
  if (node?.[0] === 'TypeCast') {
    const cast = node[1] as TypeCast;
    const inner = constantOf(cast.arg);
    const type = stringOf((cast.typeName?.names ?? []).at(-1));
    return inner && { value: inner.value, ...(type !== undefined && { cast: type }) };
  }
  if (node?.[0] !== 'A_Const') return undefined;
  const { sval, ival } = node[1] as A_Const;
  if (sval) return { value: sval.sval ?? '' };
  if (ival) return { value: String(ival.ival ?? 0) };
  return undefined;
}

/** What policy may need to know about one argument of a call. */
function argOf(arg: unknown, level: Level | undefined): SqlArg {
  const constant = constantOf(arg);
  if (constant) return { kind: 'const', ...constant };
  const ref = qualifiedColumn(arg);
  if (!ref) return { kind: 'other' };
  return { kind: 'column', relation: level?.relations.get(ref.qualifier) ?? null, column: ref.column, pins: level?.pins.get(ref.qualifier) ?? [] };
}

const noFields: ReadonlySet<string> = new Set();
const funcNameField: ReadonlySet<string> = new Set(['funcname']);
const cteNameField: ReadonlySet<string> = new Set(['ctename']);
const valueField: ReadonlySet<string> = new Set(['val']);
const subselectField: ReadonlySet<string> = new Set(['subselect']);
const selectHandledFields: ReadonlySet<string> = new Set(['withClause', 'larg', 'rarg', 'targetList', 'intoClause', 'lockingClause']);
const dmlHandledFields: ReadonlySet<string> = new Set(['withClause', 'relation']);

const mergeAccess: Record<string, RelationAccess> = { CMD_INSERT: 'insert', CMD_UPDATE: 'update', CMD_DELETE: 'delete' };

/** Names RETURNING may use for the target's rows: PostgreSQL 18's `old` / `new` and their `WITH (OLD AS o)` renames. */
function returningAliases(clause: ReturningClause | undefined): string[] {
  if (!clause) return [];
  const renamed = (clause.options ?? []).flatMap((option) => {
    const value = nodeOf(option)?.[1].value;
    return typeof value === 'string' ? [value] : [];
  });
  return ['old', 'new', ...renamed];
}

function aliasColumns(alias: Alias | undefined): string[] {
  return (alias?.colnames ?? []).flatMap((name) => stringOf(name) ?? []);
}

/** Whether a node of `type` occurs anywhere under `value`. */
function contains(value: unknown, type: string): boolean {
  if (Array.isArray(value)) return value.some((item) => contains(item, type));
  if (value === null || typeof value !== 'object') return false;
  if (nodeOf(value)?.[0] === type) return true;
  return Object.values(value).some((child) => contains(child, type));
}
