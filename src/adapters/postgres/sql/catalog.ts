// PostgreSQL's catalog as the SQL policy sees it: name resolution as PostgreSQL does it, read from the upstream.
import { z } from 'zod';
import type { CatalogFunction, SqlCatalog, Volatility } from '../../../services/policy/sql/catalog.ts';

export interface CatalogData {
  /** `current_schemas(false)`: the search_path schemas that exist, in order. */
  searchPath: readonly string[];
  /** One row per (schema, name), volatility already the most volatile overload's. */
  functions: readonly { schema: string; name: string; volatility: Volatility }[];
  /** Names of the relations in pg_catalog, which PostgreSQL searches before the search_path. */
  catalogRelations: readonly string[];
  /** Every relation by OID, and every function overload by OID: catalog functions take OIDs. */
  relationOids?: readonly { oid: number; schema: string; name: string }[];
  functionOids?: readonly { oid: number; schema: string; name: string }[];
}

const builtinSchemas: ReadonlySet<string> = new Set(['pg_catalog', 'information_schema']);

export function createCatalog(data: CatalogData): SqlCatalog {
  const functions = new Map(data.functions.map((f) => [`${f.schema}.${f.name}`, f.volatility]));
  const catalogRelations = new Set(data.catalogRelations);
  const defaultSchema = data.searchPath[0] ?? 'public';
  const found = (schema: string, name: string): CatalogFunction | undefined => {
    const volatility = functions.get(`${schema}.${name}`);
    return volatility && { schema, name, builtin: builtinSchemas.has(schema), volatility };
  };
  const relationOids = new Map((data.relationOids ?? []).map((r) => [r.oid, { schema: r.schema, name: r.name }]));
  const functionOids = new Map((data.functionOids ?? []).map((f) => [f.oid, f]));
  return {
    defaultSchema,
    relationByOid: (oid) => relationOids.get(oid),
    functionByOid(oid) {
      const fn = functionOids.get(oid);
      return fn && found(fn.schema, fn.name);
    },
    resolveRelation: (schema, name) => ({ schema: schema ?? (catalogRelations.has(name) ? 'pg_catalog' : defaultSchema), name }),
    resolveFunction(schema, name) {
      if (schema) return found(schema, name);
      // PostgreSQL picks the best overload across pg_catalog and the whole search_path, so a same-named
      // function in a search_path schema may win over the built-in: treat the name as that user function.
      for (const candidate of data.searchPath) {
        const fn = builtinSchemas.has(candidate) ? undefined : found(candidate, name);
        if (fn) return fn;
      }
      return found('pg_catalog', name) ?? (data.searchPath.includes('information_schema') ? found('information_schema', name) : undefined);
    },
  };
}

/** A catalog that knows nothing upstream: every function is unknown (refused), every unqualified relation is in `public`. */
export function offlineCatalog(): SqlCatalog {
  return createCatalog({ searchPath: ['public'], functions: [], catalogRelations: [] });
}

const searchPathRows = z.array(z.object({ schema: z.string() }));
const functionRows = z.array(z.object({ schema: z.string(), name: z.string(), volatility: z.enum(['i', 's', 'v']) }));
const relationRows = z.array(z.object({ name: z.string() }));
const oidRows = z.array(z.object({ oid: z.coerce.number(), schema: z.string(), name: z.string() }));

/** Reads the catalog through `query` (the gateway's own upstream connection). Throws if the upstream does not answer as PostgreSQL. */
export async function loadCatalog(query: (sql: string) => Promise<Record<string, unknown>[]>): Promise<SqlCatalog> {
  // One query at a time: `query` may wrap a single connection.
  const searchPath = await query(`SELECT s AS schema FROM unnest(pg_catalog.current_schemas(false)) WITH ORDINALITY AS t(s, i) ORDER BY i`);
  const functions = await query(`SELECT n.nspname AS schema, p.proname AS name,
      CASE WHEN bool_or(p.provolatile = 'v') THEN 'v' WHEN bool_or(p.provolatile = 's') THEN 's' ELSE 'i' END AS volatility
    FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
    GROUP BY n.nspname, p.proname`);
  const relations = await query(`SELECT relname AS name FROM pg_catalog.pg_class WHERE relnamespace = 'pg_catalog'::pg_catalog.regnamespace`);
  const relationOids = await query(`SELECT c.oid, n.nspname AS schema, c.relname AS name FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace`);
  const functionOids = await query(`SELECT p.oid, n.nspname AS schema, p.proname AS name FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace`);
  return createCatalog({
    searchPath: searchPathRows.parse(searchPath).map((r) => r.schema),
    functions: functionRows.parse(functions),
    catalogRelations: relationRows.parse(relations).map((r) => r.name),
    relationOids: oidRows.parse(relationOids),
    functionOids: oidRows.parse(functionOids),
  });
}
