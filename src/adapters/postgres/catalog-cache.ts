// What the gateway must know about the upstream's catalog, loaded with its own credentials and refreshed periodically.
import pg from 'pg';
import type { SqlGrant } from '../../config/schema.ts';
import type { MaskStrategy } from '../../services/guards/types.ts';
import type { AdapterServices } from '../../pipeline/adapter.ts';
import type { SqlCatalog } from '../../services/policy/sql/catalog.ts';
import { loadCatalog } from './sql/catalog.ts';
import type { MaskIndex } from './results.ts';
import { UpstreamError, type UpstreamTarget } from './upstream.ts';

const REFRESH_MS = 60_000;

interface Loaded {
  sql: SqlCatalog;
  /** `schema.table.column` → `oid.attnum` for every column of every relation. */
  columns: Map<string, string>;
  /** View → the `schema.relation.column`s its definition reads (one level; nesting is followed when a grant asks). */
  viewReads: Map<string, string[]>;
  at: number;
}

/** What one grant needs on its connection: the policy catalog, its mask index, and views that would unmask. */
export interface GrantCatalog {
  sql: SqlCatalog;
  masks: MaskIndex;
  /** `schema.view` → the masked column it exposes: masks work by source column, and a view's columns name the view. */
  maskedViews: ReadonlyMap<string, string>;
}

export class CatalogCache {
  private cache?: Loaded;
  private loading?: Promise<Loaded>;
  private readonly indexes = new WeakMap<SqlGrant, { at: number } & GrantCatalog>();

  constructor(private readonly target: UpstreamTarget, private readonly services: AdapterServices, private readonly name: string) {}

  /** The catalog for policy and the mask index for this grant; loads on first use, refreshes after a minute. */
  async get(grant: SqlGrant): Promise<GrantCatalog> {
    const loaded = await this.current();
    const cached = this.indexes.get(grant);
    if (cached && cached.at === loaded.at) return cached;
    const masks = new Map<string, MaskStrategy>();
    const maskedColumns = new Set<string>();
    const maskedRelations = new Set<string>();
    for (const [column, strategy] of Object.entries(grant.mask)) {
      const qualified = (column.split('.').length === 2 ? `${loaded.sql.defaultSchema}.${column}` : column).toLowerCase();
      maskedColumns.add(qualified);
      maskedRelations.add(qualified.slice(0, qualified.lastIndexOf('.')));
      const key = loaded.columns.get(qualified);
      // A masked column the upstream does not have is a config error `policy check` reports; nothing to mask here.
      if (key) masks.set(key, strategy);
    }
    const entry = { at: loaded.at, sql: loaded.sql, masks, maskedViews: maskedViews(loaded.viewReads, maskedColumns, maskedRelations) };
    this.indexes.set(grant, entry);
    return entry;
  }

  private async current(): Promise<Loaded> {
    if (this.cache && Date.now() - this.cache.at < REFRESH_MS) return this.cache;
    this.loading ??= this.load().finally(() => { this.loading = undefined; });
    try {
      this.cache = await this.loading;
    } catch (err) {
      if (!this.cache) throw err; // otherwise keep serving the last catalog that loaded
    }
    return this.cache;
  }

  private async load(): Promise<Loaded> {
    const client = new pg.Client({
      host: this.target.host, port: this.target.port, user: this.target.user, password: this.target.password,
      database: this.target.database, application_name: 'gatehouse:catalog', ssl: this.target.tls === 'require' ? { rejectUnauthorized: false } : false,
      connectionTimeoutMillis: 10_000,
    });
    try {
      await client.connect();
      const query = async (sql: string) => (await client.query(sql)).rows as Record<string, unknown>[];
      const sql = await loadCatalog(query);
      const rows = await query(`SELECT n.nspname, c.relname, a.attname, c.oid, a.attnum
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
          AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')`);
      const columns = new Map<string, string>();
      for (const r of rows) columns.set(`${r.nspname}.${r.relname}.${r.attname}`.toLowerCase(), `${r.oid}.${r.attnum}`);
      const deps = await query(`SELECT DISTINCT vn.nspname AS view_schema, v.relname AS view, n.nspname, c.relname, a.attname
        FROM pg_depend d
        JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class JOIN pg_namespace vn ON vn.oid = v.relnamespace
        JOIN pg_class c ON c.oid = d.refobjid JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
        WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0 AND v.oid <> c.oid`);
      const viewReads = new Map<string, string[]>();
      for (const r of deps) {
        const view = `${r.view_schema}.${r.view}`.toLowerCase();
        viewReads.set(view, [...(viewReads.get(view) ?? []), `${r.nspname}.${r.relname}.${r.attname}`.toLowerCase()]);
      }
      return { sql, columns, viewReads, at: Date.now() };
    } catch (err) {
      this.services.log.warn({ err, connection: this.name }, 'cannot load the upstream catalog');
      throw new UpstreamError(`upstream catalog unavailable (${(err as Error).message})`);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}

/**
 * Views that read a masked column, directly or through other such views, unless the grant masks the view itself:
 * reading them would return the base values under the view's own name, where column masks cannot see them.
 */
function maskedViews(viewReads: Map<string, string[]>, maskedColumns: Set<string>, maskedRelations: Set<string>): Map<string, string> {
  const exposed = new Map<string, string>();
  for (let changed = true; changed; ) {
    changed = false;
    for (const [view, reads] of viewReads) {
      if (exposed.has(view) || maskedRelations.has(view)) continue;
      const hit = reads.find((col) => maskedColumns.has(col) || exposed.has(col.slice(0, col.lastIndexOf('.'))));
      if (hit) { exposed.set(view, hit); changed = true; }
    }
  }
  return exposed;
}
