// Finds where a statement uses guarded columns of a relation: by name, through `*`, through a whole-row reference, or
// by COPY. Masked columns (mask.ts) may still leave as bare output columns; hidden catalog columns may not at all.
import type { SqlCatalog } from './catalog.ts';
import type { SqlStatement } from './facts.ts';
import { nameKey } from './grant.ts';

export interface GuardedRelation {
  schema: string;
  name: string;
  /** The guarded columns, plus every name an alias gives the relation's columns (any of which may be a guarded one). */
  columns: Set<string>;
  /** Whether the statement reads it (rather than only writing to it). */
  read: boolean;
  /** Every way the statement may refer to it: name, schema.name, aliases. Matching is by name, conservatively. */
  names: Set<string>;
}

export type ColumnUse =
  | { kind: 'copy'; relation: GuardedRelation }
  | { kind: 'whole_row'; relation: GuardedRelation; written: string }
  | { kind: 'star'; relation: GuardedRelation }
  | { kind: 'reference'; relation: GuardedRelation; column: string };

/**
 * The first use of a guarded column in `stmt`. `guarded` maps a relation's `nameKey` to its guarded columns. With
 * `outputAllowed`, bare columns and `*` in the select list of a top-level SELECT are not uses (masks apply to them).
 */
export function guardedColumnUse(stmt: SqlStatement, catalog: SqlCatalog, guarded: (key: string) => ReadonlySet<string> | undefined, outputAllowed: boolean): ColumnUse | undefined {
  const relations = new Map<string, GuardedRelation>();
  for (const relation of stmt.relations) {
    const { schema, name } = catalog.resolveRelation(relation.schema, relation.name);
    const key = nameKey(schema, name);
    const columns = guarded(key);
    if (!columns) continue;
    const entry = relations.get(key) ?? { schema, name, columns: new Set(columns), read: false, names: new Set([name, `${schema}.${name}`]) };
    entry.read ||= relation.access === 'read';
    relations.set(key, entry);
  }
  if (!relations.size) return undefined;
  for (const source of stmt.columnRefs.sources) {
    const { schema, name } = catalog.resolveRelation(source.schema, source.name);
    const relation = relations.get(nameKey(schema, name));
    if (source.alias) relation?.names.add(source.alias);
    for (const column of source.columns) relation?.columns.add(column);
  }
  // COPY sends rows without a RowDescription: nothing to mask them by, and every column goes.
  if (stmt.kind === 'copy_to' || stmt.kind === 'copy_file') {
    const copied = [...relations.values()].find((r) => r.read);
    if (copied) return { kind: 'copy', relation: copied };
  }
  for (const ref of stmt.columnRefs.refs) {
    const written = ref.column === null ? undefined : ref.qualifier ? `${ref.qualifier}.${ref.column}` : ref.column;
    for (const relation of relations.values()) {
      if (written !== undefined && relation.names.has(written)) return { kind: 'whole_row', relation, written };
      if ((outputAllowed && ref.output) || (ref.qualifier !== null && !relation.names.has(ref.qualifier))) continue;
      if (ref.column === null) return { kind: 'star', relation };
      if (relation.columns.has(ref.column)) return { kind: 'reference', relation, column: ref.column };
    }
  }
  return undefined;
}
