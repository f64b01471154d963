// What the SQL policy must know about the upstream database, supplied by each dialect's adapter: where unqualified
// names resolve, and which functions are built-in and how volatile.

/** Immutable, stable, volatile (PostgreSQL's pg_proc.provolatile letters). */
export type Volatility = 'i' | 's' | 'v';

export interface CatalogFunction {
  schema: string;
  name: string;
  /** Shipped with the database server (PostgreSQL: defined in pg_catalog or information_schema). */
  builtin: boolean;
  /** The most volatile of the name's overloads: a call could reach any of them. */
  volatility: Volatility;
}

export interface SqlCatalog {
  /** Where an unqualified table name lives (PostgreSQL: the first existing schema of the search_path, normally `public`). */
  readonly defaultSchema: string;
  /** As the server resolves it: qualified names as written; an unqualified one where the server would look it up. */
  resolveRelation(schema: string | null, name: string): { schema: string; name: string };
  /** The function a call names, or undefined when the upstream has none by that name. */
  resolveFunction(schema: string | null, name: string): CatalogFunction | undefined;
  /** For dialects whose catalog functions take OIDs (PostgreSQL): the relation with this OID (`'16384'::oid`), if any. */
  relationByOid?(oid: number): { schema: string; name: string } | undefined;
  /** The function with this OID, if there is one. */
  functionByOid?(oid: number): CatalogFunction | undefined;
}
