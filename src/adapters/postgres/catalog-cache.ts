// What the gateway must know about the upstream's catalog, loaded with its own credentials and refreshed periodically.
import pg from 'pg';
import type { SqlGrant } from '../../config/schema.ts';
import type { MaskStrategy } from '../../pipeline/verdict.ts';
import type { Services } from '../../services/services.ts';
import { loadCatalog, type SqlCatalog } from './sql/catalog.ts';
import type { MaskIndex } from './results.ts';
import { UpstreamError, type UpstreamTarget } from './upstream.ts';

const REFRESH_MS = 60_000;

interface Loaded {
  sql: SqlCatalog;
  /** `schema.table.column` → `oid.attnum` for every column of every relation. */
  columns: Map<string, string>;
  at: number;
}

export class CatalogCache {
  private cache?: Loaded;
  private loading?: Promise<Loaded>;
  private readonly indexes = new WeakMap<SqlGrant, { at: number; masks: MaskIndex }>();

  constructor(private readonly target: UpstreamTarget, private readonly services: Services, private readonly name: string) {}

  /** The catalog for policy and the mask index for this grant; loads on first use, refreshes after a minute. */
  async get(grant: SqlGrant): Promise<{ sql: SqlCatalog; masks: MaskIndex }> {
    const loaded = await this.current();
    const cached = this.indexes.get(grant);
    if (cached && cached.at === loaded.at) return { sql: loaded.sql, masks: cached.masks };
    const masks = new Map<string, MaskStrategy>();
    for (const [column, strategy] of Object.entries(grant.mask)) {
      const qualified = column.split('.').length === 2 ? `${loaded.sql.defaultSchema}.${column}` : column;
      const key = loaded.columns.get(qualified.toLowerCase());
      // A masked column the upstream does not have is a config error `policy check` reports; nothing to mask here.
      if (key) masks.set(key, strategy);
    }
    this.indexes.set(grant, { at: loaded.at, masks });
    return { sql: loaded.sql, masks };
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
      return { sql, columns, at: Date.now() };
    } catch (err) {
      this.services.log(`postgres ${this.name}: cannot load the upstream catalog: ${(err as Error).message}`);
      throw new UpstreamError(`upstream catalog unavailable (${(err as Error).message})`);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}
