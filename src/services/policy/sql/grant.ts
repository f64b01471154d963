// A SQL grant compiled against the upstream catalog: every name resolved once, so each decision is a few set lookups.
import type { SqlGrant } from '../../../config/schema.ts';
import type { MaskStrategy } from '../../guards/types.ts';
import type { SqlCatalog } from './catalog.ts';
import { parseName } from './names.ts';

/** A resolved (schema, name) as a map key; NUL cannot occur in a PostgreSQL identifier. */
export const nameKey = (schema: string, name: string) => `${schema}\0${name}`;

export interface CompiledGrant {
  read: ReadonlySet<string>;
  insert: ReadonlySet<string>;
  update: ReadonlySet<string>;
  delete: ReadonlySet<string>;
  functions: ReadonlySet<string>;
  statements: ReadonlySet<string>;
  approve: ReadonlySet<string>;
  /** Whether the grant allows any write at all; if not, the role runs read-only upstream and must stay so. */
  writes: boolean;
  /** Relation key → column → strategy. */
  masks: ReadonlyMap<string, ReadonlyMap<string, MaskStrategy>>;
  /** `schema.table.column` → strategy: what the enforcer masks. */
  maskObligations: Readonly<Record<string, MaskStrategy>>;
  maxRows?: number;
}

// Grants are immutable config and catalogs are replaced, not mutated, on refresh: compile once per pair.
const compiled = new WeakMap<SqlGrant, { catalog: SqlCatalog; grant: CompiledGrant }>();

export function compileGrant(grant: SqlGrant, catalog: SqlCatalog): CompiledGrant {
  const hit = compiled.get(grant);
  if (hit?.catalog === catalog) return hit.grant;
  const result = compile(grant, catalog);
  compiled.set(grant, { catalog, grant: result });
  return result;
}

function compile(grant: SqlGrant, catalog: SqlCatalog): CompiledGrant {
  // An unqualified table in a grant means the default schema (normally public), never pg_catalog.
  const relations = (names: readonly string[]) => new Set(names.flatMap((text) => {
    const parts = parseName(text);
    if (parts?.length === 1) return [nameKey(catalog.defaultSchema, parts[0])];
    if (parts?.length === 2) return [nameKey(parts[0], parts[1])];
    return [];
  }));
  // An unqualified function resolves as it would in SQL, so `nextval` means pg_catalog.nextval.
  const functions = new Set(grant.functions.flatMap((text) => {
    const parts = parseName(text);
    if (parts?.length === 1) return [nameKey(catalog.resolveFunction(null, parts[0])?.schema ?? catalog.defaultSchema, parts[0])];
    if (parts?.length === 2) return [nameKey(parts[0], parts[1])];
    return [];
  }));
  const masks = new Map<string, Map<string, MaskStrategy>>();
  const maskObligations: Record<string, MaskStrategy> = {};
  for (const [text, strategy] of Object.entries(grant.mask)) {
    const parts = parseName(text);
    if (!parts || parts.length < 2 || parts.length > 3) continue;
    const [schema, table, column] = parts.length === 3 ? parts : [catalog.defaultSchema, ...parts];
    const key = nameKey(schema, table);
    masks.set(key, (masks.get(key) ?? new Map()).set(column, strategy));
    maskObligations[`${schema}.${table}.${column}`] = strategy;
  }
  const write = relations(grant.write);
  const union = (finer: readonly string[]) => new Set([...write, ...relations(finer)]);
  const result: CompiledGrant = {
    read: relations(grant.read),
    insert: union(grant.insert),
    update: union(grant.update),
    delete: union(grant.delete),
    functions,
    statements: new Set(grant.statements),
    approve: new Set(grant.approve),
    writes: [grant.write, grant.insert, grant.update, grant.delete].some((list) => list.length > 0),
    masks,
    maskObligations,
  };
  if (grant.max_rows !== undefined) result.maxRows = grant.max_rows;
  return result;
}
