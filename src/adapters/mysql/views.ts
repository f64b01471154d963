// Views over masked columns: MySQL reports a view's own name as a column's source, so a view that reads a masked column
// would return it unmasked. Their definitions are read from the upstream and analysed like any statement.
import type { SqlGrant } from '../../config/schema.ts';
import type { SqlAnalysis, SqlStatement } from '../../services/policy/sql/facts.ts';
import { analyzeMysql } from './sql/analyze.ts';
import type { ServerFlavor } from './sql/lexer.ts';

interface ViewReads {
  /** `db.table` relations the definition reads. */
  relations: string[];
  /** Column names it references (lower-case); `*` when it selects a star. */
  columns: Set<string>;
  /** The definition could not be read or analysed: it may read anything. */
  opaque: boolean;
}

export class ViewCatalog {
  private views = new Map<string, ViewReads>();
  private readonly exposed = new WeakMap<SqlGrant, { generation: number; views: Map<string, string> }>();
  private generation = 0;

  constructor(private readonly defaultDatabase: string, private readonly caseSensitive: boolean, private readonly server: ServerFlavor) {}

  private fold(name: string): string {
    return this.caseSensitive ? name : name.toLowerCase();
  }

  /** Rows of `SELECT TABLE_SCHEMA, TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS`. */
  load(rows: readonly (string | null)[][]) {
    const views = new Map<string, ViewReads>();
    for (const [schema, name, definition] of rows) {
      if (!schema || !name) continue;
      const analysis = definition ? analyzeMysql(definition, {
        database: schema, mode: { ansiQuotes: false, noBackslashEscapes: false }, server: this.server, caseSensitive: this.caseSensitive, multiStatements: false,
      }) : undefined;
      const statement = analysis?.statements.length === 1 ? analysis.statements[0] : undefined;
      const opaque = !statement || statement.kind !== 'select';
      views.set(`${this.fold(schema)}.${this.fold(name)}`, {
        opaque,
        relations: (statement?.relations ?? []).map((r) => `${r.schema}.${r.name}`),
        columns: new Set((statement?.columnRefs.refs ?? []).map((r) => r.column ?? '*')),
      });
    }
    this.views = views;
    this.generation++;
  }

  /** `db.view` → the masked column it would expose to this grant (directly or through other views); none when the grant masks the view itself. */
  maskedViews(grant: SqlGrant): ReadonlyMap<string, string> {
    const cached = this.exposed.get(grant);
    if (cached?.generation === this.generation) return cached.views;
    const masked = new Map<string, Set<string>>();
    for (const key of Object.keys(grant.mask)) {
      const parts = key.split('.');
      const [db, table, column] = parts.length === 3 ? parts : [this.defaultDatabase, ...parts];
      const relation = `${this.fold(db)}.${this.fold(table)}`;
      masked.set(relation, (masked.get(relation) ?? new Set()).add(column.toLowerCase()));
    }
    const exposed = new Map<string, string>();
    if (masked.size) {
      for (let changed = true; changed; ) {
        changed = false;
        for (const [view, reads] of this.views) {
          if (exposed.has(view) || masked.has(view)) continue;
          const hit = reads.opaque ? 'a column its definition hides' : reads.relations.map((r) => {
            if (exposed.has(r)) return exposed.get(r);
            const columns = masked.get(r);
            const column = columns && [...columns].find((c) => reads.columns.has(c) || reads.columns.has('*'));
            return column && `${r}.${column}`;
          }).find(Boolean);
          if (hit) { exposed.set(view, hit); changed = true; }
        }
      }
    }
    this.exposed.set(grant, { generation: this.generation, views: exposed });
    return exposed;
  }
}

/** The first read of a view that exposes a masked column to this grant, as `[view, column]`. */
export function maskedViewRead(analysis: SqlAnalysis, exposed: ReadonlyMap<string, string>, prepared: ReadonlyMap<string, SqlStatement>): [string, string] | undefined {
  if (!exposed.size) return undefined;
  const statements = analysis.statements.flatMap((s) => (s.kind === 'execute' && s.name && prepared.get(s.name) ? [s, prepared.get(s.name)!] : [s]));
  for (const statement of statements) {
    for (const r of statement.relations) {
      const view = `${r.schema}.${r.name}`;
      const column = exposed.get(view);
      if (column && r.access === 'read') return [view, column];
    }
  }
  return undefined;
}
