// decideSql: judges one analysed SQL statement against a role's grant on a connection (PRODUCT.md, "What a SQL grant means"). Pure.
import { parseDurationMs } from '../../../config/duration.ts';
import type { SqlGrant } from '../../../config/schema.ts';
import { allow, deny, hold, type Obligations, type Verdict } from '../verdict.ts';
import type { SqlCatalog } from './catalog.ts';
import type { RelationAccess, SqlAnalysis, SqlNeed, SqlStatement } from './facts.ts';
import { catalogRelationAccess, hiddenCatalogColumns } from './catalog-relations.ts';
import { guardedColumnUse } from './columns.ts';
import { functionProblem, type FunctionObjects } from './functions.ts';
import { readableSetting } from './settings.ts';
import { compileGrant, nameKey, type CompiledGrant } from './grant.ts';
import { maskProblem } from './mask.ts';
import { formatIdentifier, formatQualified, grantName } from './names.ts';

export interface SqlDecisionContext {
  role: string;
  connection: string;
  grant: SqlGrant | undefined;
  catalog: SqlCatalog;
  /** Statements prepared in this session, by name (SQL PREPARE and protocol Parse share PostgreSQL's namespace). */
  prepared: PreparedLookup;
}

/** What EXECUTE of a name runs, or undefined when nothing was prepared under it. */
export interface PreparedLookup {
  get(name: string): SqlStatement | undefined;
}

/** Statement kinds schema.ts cannot list yet: a grant cannot name them, so their statements are always refused. */
const ungrantableNeeds: ReadonlySet<SqlNeed> = new Set(['set', 'two_phase']);

const verbs: Record<Exclude<RelationAccess, 'read'>, string> = { insert: 'insert into', update: 'update', delete: 'delete from' };

/** EXPLAIN EXECUTE p is as deep as legitimate nesting goes; anything deeper is refused rather than followed. */
const maxDepth = 4;

export function decideSql(stmt: SqlStatement, ctx: SqlDecisionContext): Verdict {
  if (!ctx.grant) return deny('sql.grant.none', `Gatehouse: role "${ctx.role}" has no grant on connection "${ctx.connection}"`);
  const judge = new Judge(ctx, compileGrant(ctx.grant, ctx.catalog));
  const chain = judge.chain(stmt);
  if (!Array.isArray(chain)) return chain;
  for (const statement of chain) {
    const refusal = judge.refusal(statement);
    if (refusal) return refusal;
  }
  const obligations = judge.obligations();
  const approval = chain.map((statement) => judge.approval(statement)).find((reason) => reason !== undefined);
  return approval ? hold(judge.grantLabel, approval, obligations) : allow(judge.grantLabel, obligations);
}

/** A multi-statement query is allowed only if every statement is: the first refusal wins, then the first hold. */
export function decideSqlAll(analysis: SqlAnalysis, ctx: SqlDecisionContext): Verdict {
  // A later EXECUTE in the same query runs what an earlier PREPARE in it defined: those names are looked up here first.
  const local = new Map<string, SqlStatement | null>();
  let cleared = false;
  const prepared: PreparedLookup = { get: (name) => (local.has(name) ? local.get(name) ?? undefined : cleared ? undefined : ctx.prepared.get(name)) };
  let obligations: Obligations = {};
  let grant = '';
  let held: string | undefined;
  for (const stmt of analysis.statements) {
    const verdict = decideSql(stmt, { ...ctx, prepared });
    if (verdict.kind === 'deny') return verdict;
    obligations = mergeObligations(obligations, verdict.obligations);
    grant = verdict.grant;
    if (verdict.kind === 'hold') held ??= verdict.reason;
    if (stmt.kind === 'prepare' && stmt.name && stmt.inner) local.set(stmt.name, stmt.inner);
    else if (stmt.kind === 'deallocate' && stmt.name) local.set(stmt.name, null);
    else if (stmt.kind === 'deallocate') { local.clear(); cleared = true; }
  }
  return held ? hold(grant, held, obligations) : allow(grant, obligations);
}

/** What every result of a session on this grant is subject to (row cap, column masks): the same for every statement. */
export function sqlObligations(grant: SqlGrant, catalog: SqlCatalog): Obligations {
  const compiled = compileGrant(grant, catalog);
  const obligations: Obligations = {};
  if (compiled.maxRows !== undefined) obligations.maxRows = compiled.maxRows;
  if (Object.keys(compiled.maskObligations).length) obligations.mask = { ...compiled.maskObligations };
  return obligations;
}

/** A statement_timeout value as PostgreSQL reads it: a bare number is milliseconds. Undefined when unreadable. */
function timeoutMs(value: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?\s*$/.exec(value);
  if (!m) return undefined;
  const unit = { us: 0.001, ms: 1, s: 1000, min: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? 'ms'] ?? 1;
  return Number(m[1]) * unit;
}

function mergeObligations(a: Obligations, b: Obligations): Obligations {
  const merged = { ...a, ...b };
  if (a.mask && b.mask) merged.mask = { ...a.mask, ...b.mask };
  return merged;
}

/** hiddenCatalogColumns by nameKey. */
const hiddenColumns = new Map([...hiddenCatalogColumns].map(([qualified, columns]) => {
  const at = qualified.indexOf('.');
  return [nameKey(qualified.slice(0, at), qualified.slice(at + 1)), columns];
}));

/** Why each kind of function is refused, for the message. */
const functionWhy: Record<Exclude<ReturnType<typeof functionProblem>, undefined>, string> = {
  unknown: 'no such function in the upstream catalog',
  user: 'it runs code of its own, which the gateway cannot judge',
  volatile: 'it may have side effects',
  'side-effect': 'it changes state although it is not volatile',
  bypass: 'it runs SQL or reads relations by name, around relation grants',
  sessions: 'it exposes other sessions',
  server: 'it exposes the server\'s files, addresses or configuration',
  settings: 'it reads server settings beyond those every role may read; "settings" in statements allows them all',
  definition: 'it returns the definition of an object the grant does not name',
  statistics: 'it returns sizes or activity counts of relations the grant does not name',
};

class Judge {
  readonly grantLabel: string;
  private readonly who: string;
  /** What calls of catalog functions may be about: the objects this grant names. */
  readonly objects: FunctionObjects;

  constructor(private readonly ctx: SqlDecisionContext, private readonly grant: CompiledGrant) {
    this.grantLabel = `roles.${ctx.role}.${ctx.connection}`;
    this.who = `role "${ctx.role}"`;
    this.objects = {
      catalog: ctx.catalog,
      readable: (schema, name) => grant.read.has(nameKey(schema, name)),
      callable: (schema, name) => grant.functions.has(nameKey(schema, name)),
      readableSetting: (name) => grant.statements.has('settings') || readableSetting(name),
    };
  }

  /** The statement and what it runs: EXPLAIN's, PREPARE's, DECLARE's or COPY's query, or the statement an EXECUTE names. */
  chain(stmt: SqlStatement): SqlStatement[] | Verdict {
    const chain = [stmt];
    for (let current = stmt; ; ) {
      const next = current.inner ?? (current.kind === 'execute' ? this.ctx.prepared.get(current.name ?? '') ?? null : undefined);
      if (next === undefined) return chain;
      if (next === null) {
        return deny('sql.execute.unknown', `Gatehouse: ${this.who} may not EXECUTE ${formatIdentifier(current.name ?? '')} on connection "${this.ctx.connection}": no statement of that name was prepared through Gatehouse`);
      }
      if (chain.length > maxDepth) return deny('sql.unknown', 'Gatehouse: statements nested this deeply are not analysed; refused');
      chain.push(next);
      current = next;
    }
  }

  refusal(stmt: SqlStatement): Verdict | undefined {
    if (stmt.kind === 'unknown') return deny('sql.unknown', `Gatehouse could not classify this statement (${stmt.reason}); refused`);
    return this.statementRefusal(stmt) ?? this.relationRefusal(stmt) ?? this.catalogColumnRefusal(stmt) ?? this.functionRefusal(stmt) ?? this.maskRefusal(stmt);
  }

  private statementRefusal(stmt: SqlStatement): Verdict | undefined {
    const { connection } = this.ctx;
    // Checked first: for a read-only role this is the reason, whatever else the statement needs.
    if (stmt.readWrite && !this.grant.writes) {
      return deny('sql.session.read_write', `Gatehouse: ${this.who} has read-only access on connection "${connection}"; ${stmt.label} may not ask for READ WRITE or turn read-only off`);
    }
    const timeout = this.timeoutRefusal(stmt);
    if (timeout) return timeout;
    for (const need of stmt.needs) {
      if (this.grant.statements.has(need)) continue;
      const why = need === 'set' ? ` (${stmt.setting?.name} is not a setting every role may change)` : '';
      const fix = ungrantableNeeds.has(need) ? `"${need}" cannot be granted yet` : `add "${need}" to ${connection}.statements to allow`;
      return deny(`sql.statement.${need}`, `Gatehouse: statement kind "${need}" (${stmt.label}) is not granted to ${this.who} on connection "${connection}"${why}; ${fix}`);
    }
    return undefined;
  }

  /** With a grant `timeout`, statement_timeout may be lowered, never raised or cleared (0) — RESET and DEFAULT return to it. */
  private timeoutRefusal(stmt: SqlStatement): Verdict | undefined {
    const limit = this.ctx.grant?.timeout;
    if (limit === undefined || stmt.kind !== 'set' || stmt.setting?.name !== 'statement_timeout' || stmt.setting.values.length === 0) return undefined;
    const ms = stmt.setting.values.length === 1 ? timeoutMs(stmt.setting.values[0]) : undefined;
    // At least 1 ms: PostgreSQL rounds a smaller value (`0.4`, `400us`) to 0, which turns the timeout off.
    if (ms !== undefined && ms >= 1 && ms <= parseDurationMs(limit)) return undefined;
    const { connection, role } = this.ctx;
    return deny('sql.session.timeout', `Gatehouse: ${this.who} may not raise or clear statement_timeout on connection "${connection}": its grant sets ${limit} (roles.${role}.${connection}.timeout); a lower value is allowed`);
  }

  private relationRefusal(stmt: SqlStatement): Verdict | undefined {
    const { catalog, connection } = this.ctx;
    for (const relation of stmt.relations) {
      const { schema, name } = catalog.resolveRelation(relation.schema, relation.name);
      const key = nameKey(schema, name);
      const shown = formatQualified(schema, name);
      const granted = grantName(schema, name, catalog.defaultSchema);
      if (relation.access === 'read') {
        if (this.grant.read.has(key)) continue;
        const introspection = catalogRelationAccess(schema, name);
        if (introspection === 'open') continue;
        if (introspection === 'sensitive') {
          return deny('sql.relation.catalog', `Gatehouse: ${this.who} may not read ${shown} on connection "${connection}" (it exposes table contents, secrets or other sessions; add ${granted} to ${connection}.read to allow)`);
        }
        return deny('sql.relation.read', `Gatehouse: ${this.who} may not read ${shown} on connection "${connection}" (no read grant for ${granted})`);
      }
      if (!this.grant[relation.access].has(key)) {
        return deny('sql.relation.write', `Gatehouse: ${this.who} may not ${verbs[relation.access]} ${shown} on connection "${connection}" (no write/${relation.access} grant for ${granted})`);
      }
    }
    return undefined;
  }

  private functionRefusal(stmt: SqlStatement): Verdict | undefined {
    const { catalog, connection } = this.ctx;
    for (const fn of stmt.functions) {
      const resolved = catalog.resolveFunction(fn.schema, fn.name);
      const schema = resolved?.schema ?? fn.schema ?? catalog.defaultSchema;
      if (this.grant.functions.has(nameKey(schema, fn.name))) continue;
      const problem = functionProblem(resolved, fn, this.objects);
      if (problem === undefined) continue;
      const call = problem === 'user' ? `user-defined function ${formatQualified(schema, fn.name)}` : problem === 'volatile' ? `volatile function ${formatQualified(schema, fn.name)}` : formatQualified(schema, fn.name);
      return deny(`sql.function.${problem}`, `Gatehouse: ${this.who} may not call ${call} on connection "${connection}" (${functionWhy[problem]}; add it to ${connection}.functions to allow)`);
    }
    return undefined;
  }

  /** Definitions and statistics held in columns of open catalog relations (pg_proc.prosrc, pg_views.definition...). */
  private catalogColumnRefusal(stmt: SqlStatement): Verdict | undefined {
    const use = guardedColumnUse(stmt, this.ctx.catalog, (key) => (this.grant.read.has(key) ? undefined : hiddenColumns.get(key)), false);
    if (!use) return undefined;
    const relation = formatQualified(use.relation.schema, use.relation.name);
    const what = use.kind === 'reference' ? `column ${relation}.${formatIdentifier(use.column)}` : `${relation} as a whole (${use.kind === 'star' ? '*' : use.kind === 'copy' ? 'COPY' : use.written})`;
    return deny('sql.relation.catalog_column', `Gatehouse: ${this.who} may not read ${what} on connection "${this.ctx.connection}": it holds definitions or statistics of objects the grant may not name; select the other columns, or add ${relation} to ${this.ctx.connection}.read to allow`);
  }

  private maskRefusal(stmt: SqlStatement): Verdict | undefined {
    const problem = maskProblem(stmt, this.grant, this.ctx.catalog, this.ctx.role);
    return problem && deny(problem.rule, problem.message);
  }

  obligations(): Obligations {
    return sqlObligations(this.ctx.grant!, this.ctx.catalog);
  }

  /** Why the statement waits for a human (`approve`), or undefined. */
  approval(stmt: SqlStatement): string | undefined {
    const { catalog, connection } = this.ctx;
    const approve = this.grant.approve;
    const held = (what: string, entry: string) => `Gatehouse: ${this.who} wants to ${what} on connection "${connection}"; held for approval (${connection}.approve: ${entry})`;
    for (const relation of stmt.relations) {
      if (relation.access === 'read') continue;
      const entry = approve.has(relation.access) ? relation.access : approve.has('write') ? 'write' : undefined;
      const { schema, name } = catalog.resolveRelation(relation.schema, relation.name);
      if (entry) return held(`${verbs[relation.access]} ${formatQualified(schema, name)}`, entry);
    }
    if (stmt.effect === 'ddl' && approve.has('ddl')) return held(`run ${stmt.label}`, 'ddl');
    if (!approve.has('call')) return undefined;
    if (stmt.kind === 'do' || stmt.kind === 'call') return held(`run ${stmt.label}`, 'call');
    // A function allowed only because the grant names it runs code the gateway cannot judge.
    const called = stmt.functions.find((fn) => functionProblem(catalog.resolveFunction(fn.schema, fn.name), fn, this.objects) !== undefined);
    return called && held(`call ${called.schema ? `${called.schema}.` : ''}${called.name}`, 'call');
  }
}
