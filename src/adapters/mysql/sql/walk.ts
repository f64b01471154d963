// Walks a sqlparser-rs tree and collects every relation, function call and column reference in it, however deeply nested.
import type { RelationAccess, SqlColumnRef, SqlColumnRefs, SqlFunction, SqlRelation, SqlRelationSource } from '../../../services/policy/sql/facts.ts';
import type { Ast } from './parser.ts';

type Body = Record<string, unknown>;

/** How names fold: database and table names per the upstream's lower_case_table_names; columns never matter by case. */
export interface Names {
  /** The current database: where unqualified table names resolve (null: none selected). */
  database: string | null;
  /** lower_case_table_names = 0: table and database names are case-sensitive. */
  caseSensitive: boolean;
}

/** Where in the tree the walker stands: it decides what a table or column found there means. */
export interface Scope {
  /** CTE names visible here: an unqualified table of one of these names is the CTE. */
  readonly ctes: ReadonlySet<string>;
  /** The next SELECT is the statement's top-level query, whose bare columns are plain projections. */
  readonly top: boolean;
  /** Relations found here are locked by SELECT ... FOR UPDATE/SHARE, which needs update access. */
  readonly locking: boolean;
  /** The next SELECT's list is never output (EXISTS), so a `*` there exposes nothing. */
  readonly projectionUnused: boolean;
}

export const statementScope: Scope = { ctes: new Set(), top: true, locking: false, projectionUnused: false };

export interface Collected {
  readonly relations: readonly SqlRelation[];
  readonly functions: readonly SqlFunction[];
  readonly columnRefs: SqlColumnRefs;
}

/** sqlparser-rs encodes an enum value as `{ Variant: body }`: the variant name and body, or undefined for a plain struct. */
export function variantOf(value: unknown): [string, unknown] | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  let key: string | undefined;
  for (const k in value) {
    if (key !== undefined) return undefined;
    key = k;
  }
  if (key === undefined || key[0] < 'A' || key[0] > 'Z') return undefined;
  return [key, (value as Body)[key]];
}

/** The identifier strings of an object name (`[{ Identifier: { value } }]`, or plain `{ value }` idents). */
export function nameParts(value: unknown): string[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const parts: string[] = [];
  for (const part of value) {
    const v = variantOf(part);
    const ident = (v?.[0] === 'Identifier' ? v[1] : part) as { value?: unknown } | undefined;
    if (typeof ident?.value !== 'string') return undefined;
    parts.push(ident.value);
  }
  return parts;
}

/** Fields holding names being defined or written, never read: not walked as column references. */
const nameFields: ReadonlySet<string> = new Set(['alias', 'name', 'columns', 'target', 'partitions', 'index_hints', 'with_hints', 'span', 'table_alias']);

interface Output { name: string | undefined; ref: SqlColumnRef | undefined; star: boolean }

export class Collector {
  private readonly relations = new Map<string, SqlRelation>();
  private readonly functions = new Map<string, SqlFunction>();
  private readonly refs = new Map<string, SqlColumnRef>();
  private readonly sources = new Map<string, SqlRelationSource>();

  constructor(private readonly names: Names) {}

  result(): Collected {
    return {
      relations: [...this.relations.values()],
      functions: [...this.functions.values()],
      columnRefs: { refs: [...this.refs.values()], sources: [...this.sources.values()] },
    };
  }

  /** Generic descent: known variants get their handler, everything else has each field walked. */
  visit(value: unknown, scope: Scope): void {
    if (Array.isArray(value)) {
      for (const item of value) this.visit(item, scope);
      return;
    }
    if (value === null || typeof value !== 'object') return;
    const variant = variantOf(value);
    if (!variant) return this.fields(value as Body, scope);
    const [type, body] = variant;
    switch (type) {
      case 'Query': return this.query(body as Body, scope);
      case 'Select': this.select(body as Body, scope); return;
      case 'SetOperation': return this.fields(body as Body, { ...scope, top: false, projectionUnused: false });
      case 'Table': return this.table(body as Body, scope);
      case 'Derived': return this.visit((body as Body).subquery, { ...scope, top: false, projectionUnused: false });
      case 'Function': return this.function(body as Body, scope);
      case 'Identifier': return this.identifier([(body as Body).value], false);
      case 'CompoundIdentifier': return this.identifier(((body as Body[]) ?? []).map((p) => p?.value), false);
      case 'Exists': return this.visit((body as Body).subquery, { ...scope, top: false, projectionUnused: true });
      case 'Subquery': return this.visit(body, { ...scope, top: false, projectionUnused: false });
      case 'Wildcard': return this.addRef({ qualifier: null, column: null, output: false });
      case 'QualifiedWildcard': return this.addRef({ qualifier: this.qualifierOf(body), column: null, output: false });
      default: return this.visit(body, scope);
    }
  }

  /** A relation the statement itself targets (a DML target, LOCK TABLES): never a CTE. */
  relation(parts: readonly string[], access: RelationAccess, alias: string | null = null, columns: readonly string[] = []): void {
    const { schema, name } = this.resolve(parts);
    this.relations.set(`${schema}\0${name}\0${access}`, { schema, name, access });
    this.addSource({ schema, name, alias, columns });
  }

  /** `[db, table]` or `[table]` as the server resolves it: the current database, names folded per the upstream. */
  resolve(parts: readonly string[]): { schema: string | null; name: string } {
    const fold = (s: string) => (this.names.caseSensitive ? s : s.toLowerCase());
    const name = parts.at(-1) ?? '';
    const db = parts.length > 1 ? parts.at(-2)! : this.names.database;
    if (db === null) return { schema: null, name: fold(name) };
    // information_schema and performance_schema are case-insensitive whatever lower_case_table_names says.
    const system = /^(information_schema|performance_schema)$/i.test(db);
    return { schema: system ? db.toLowerCase() : fold(db), name: system ? name.toLowerCase() : fold(name) };
  }

  addRef(ref: SqlColumnRef): void {
    this.refs.set(`${ref.qualifier}|${ref.column}|${ref.output}`, ref);
  }

  private addSource(source: SqlRelationSource): void {
    this.sources.set(JSON.stringify(source), source);
  }

  fields(body: Body, scope: Scope, skip: ReadonlySet<string> = nameFields): void {
    for (const key in body) if (!skip.has(key)) this.visit(body[key], scope);
  }

  private qualifierOf(body: unknown): string | null {
    const parts = nameParts((variantOf((body as unknown[])?.[0])?.[1] as unknown) ?? []);
    return parts?.length ? parts.map((p) => p.toLowerCase()).join('.') : null;
  }

  /** A column reference (`a`, `t.a`, `db.t.a`); user and system variables (`@x`, `@@sql_mode`) are not columns. */
  private identifier(values: unknown[], output: boolean): void {
    const parts = values.filter((v): v is string => typeof v === 'string');
    if (!parts.length || parts[0].startsWith('@')) return;
    const lower = parts.map((p) => p.toLowerCase());
    this.addRef({ qualifier: lower.slice(-3, -1).join('.') || null, column: lower.at(-1)!, output });
  }

  private query(query: Body, outer: Scope): void {
    let scope = outer;
    const withClause = query.with as Body | undefined;
    if (withClause) scope = this.with(withClause, outer);
    const locking = Array.isArray(query.locks) && query.locks.length > 0;
    const inner: Scope = { ...scope, locking: scope.locking || locking };
    const body = variantOf(query.body);
    const outputs = body?.[0] === 'Select' ? this.select(body[1] as Body, inner) : (this.visit(query.body, { ...inner, top: false }), undefined);
    const rest: Scope = { ...inner, top: false, projectionUnused: false };
    // ORDER BY 2 or ORDER BY alias sorts by an output column: that column is used in an expression.
    if (outputs && scope.top) this.outputReferences(query.order_by, outputs);
    this.fields(query, rest, queryHandled);
  }

  private with(clause: Body, scope: Scope): Scope {
    const ctes = (clause.cte_tables as Body[] | undefined) ?? [];
    const names = ctes.map((cte) => String(((cte.alias as Body | undefined)?.name as Body | undefined)?.value ?? ''));
    const all = new Set([...scope.ctes, ...names]);
    const visible = new Set(scope.ctes);
    ctes.forEach((cte, i) => {
      // Without RECURSIVE a CTE sees only the ones before it; naming itself means the real table.
      this.visit(cte.query, { ...scope, top: false, projectionUnused: false, ctes: clause.recursive ? all : new Set(visible) });
      visible.add(names[i]);
    });
    return { ...scope, ctes: all };
  }

  /** Returns the select list's outputs when this SELECT is the statement's top-level plain query. */
  private select(select: Body, scope: Scope): Output[] | undefined {
    const child: Scope = { ...scope, top: false, projectionUnused: false };
    const plain = scope.top && !select.distinct && !select.into;
    const outputs = ((select.projection as unknown[]) ?? []).map((item) => this.projection(item, plain, scope.projectionUnused, child));
    this.visit(select.from, child);
    if (plain) {
      this.outputReferences(select.group_by, outputs);
      this.outputReferences(select.having, outputs);
    }
    this.fields(select, child, selectHandled);
    return plain ? outputs : undefined;
  }

  private projection(item: unknown, plain: boolean, unused: boolean, scope: Scope): Output {
    const variant = variantOf(item);
    if (!variant) return { name: undefined, ref: undefined, star: false };
    const [type, body] = variant;
    if (type === 'Wildcard' || type === 'QualifiedWildcard') {
      if (unused) return { name: undefined, ref: undefined, star: true };
      const ref: SqlColumnRef = { qualifier: type === 'Wildcard' ? null : this.qualifierOf(body), column: null, output: plain };
      this.addRef(ref);
      return { name: undefined, ref, star: true };
    }
    const expr = type === 'ExprWithAlias' ? (body as Body).expr : body;
    const alias = type === 'ExprWithAlias' ? String(((body as Body).alias as Body | undefined)?.value ?? '').toLowerCase() : undefined;
    const e = variantOf(expr);
    if (e?.[0] === 'Identifier' || e?.[0] === 'CompoundIdentifier') {
      const values = e[0] === 'Identifier' ? [(e[1] as Body).value] : ((e[1] as Body[]) ?? []).map((p) => p?.value);
      const before = this.refs.size;
      this.identifier(values, plain);
      const ref = this.refs.size > before ? [...this.refs.values()].at(-1) : undefined;
      return { name: alias ?? ref?.column ?? undefined, ref, star: false };
    }
    this.visit(expr, scope);
    return { name: alias, ref: undefined, star: false };
  }

  /** Records output columns named by position or alias in ORDER BY / GROUP BY / HAVING as used in an expression. */
  private outputReferences(value: unknown, outputs: readonly Output[]): void {
    const visit = (node: unknown): void => {
      if (Array.isArray(node)) return node.forEach(visit);
      if (node === null || typeof node !== 'object') return;
      const v = variantOf(node);
      if (v?.[0] === 'Value') {
        const number = variantOf((v[1] as Body)?.value);
        if (number?.[0] !== 'Number') return;
        const position = Number((number[1] as unknown[])[0]);
        const upTo = outputs.slice(0, Math.max(position, 0));
        if (upTo.some((o) => o.star)) return this.addRef({ qualifier: null, column: null, output: false });
        const ref = outputs[position - 1]?.ref;
        if (ref) this.addRef({ ...ref, output: false });
        return;
      }
      if (v?.[0] === 'Identifier') {
        const name = String((v[1] as Body).value ?? '').toLowerCase();
        for (const o of outputs) if (o.name === name && o.ref) this.addRef({ ...o.ref, output: false });
        return;
      }
      for (const child of Object.values(v ? { v: v[1] } : node)) visit(child);
    };
    visit(value);
  }

  private table(table: Body, scope: Scope): void {
    const parts = nameParts(table.name);
    if (!parts?.length) return this.fields(table, scope);
    const alias = (table.alias as Body | undefined) ?? undefined;
    const aliasName = alias ? String((alias.name as Body | undefined)?.value ?? '') : null;
    const columns = alias ? ((alias.columns as Body[] | undefined) ?? []).map((c) => String((c.name as Body | undefined)?.value ?? c.value ?? '').toLowerCase()) : [];
    // A table-valued function call (`JSON_TABLE(...)` and friends) reads its arguments, not a table.
    if (Array.isArray(table.args) || (table.args && typeof table.args === 'object')) {
      this.addFunction(parts);
      return this.visit(table.args, scope);
    }
    if (parts.length === 1 && scope.ctes.has(parts[0])) return;
    this.relation(parts, 'read', aliasName?.toLowerCase() ?? null, columns);
    if (scope.locking) this.relation(parts, 'update', aliasName?.toLowerCase() ?? null, columns);
  }

  private function(fn: Body, scope: Scope): void {
    const parts = nameParts(fn.name);
    if (parts?.length) this.addFunction(parts);
    this.fields(fn, scope);
  }

  private addFunction(parts: readonly string[]): void {
    const name = parts.at(-1)!.toLowerCase();
    const schema = parts.length > 1 ? this.resolve(parts).schema : null;
    this.functions.set(`${schema}.${name}`, { schema, name });
  }
}

const queryHandled: ReadonlySet<string> = new Set([...nameFields, 'with', 'body', 'locks']);
const selectHandled: ReadonlySet<string> = new Set([...nameFields, 'projection', 'from', 'into']);

/** Walks a tree in a scope and returns what it touches. */
export function collect(ast: Ast | unknown, names: Names, scope: Scope = statementScope): Collected {
  const collector = new Collector(names);
  collector.visit(ast, scope);
  return collector.result();
}
