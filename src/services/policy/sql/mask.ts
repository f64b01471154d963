// Masked columns may leave only as bare output columns, which the enforcer masks by RowDescription; any other use would leak their values.
import type { SqlCatalog } from './catalog.ts';
import type { SqlStatement } from './facts.ts';
import { nameKey, type CompiledGrant } from './grant.ts';
import { formatIdentifier, formatQualified } from './names.ts';

interface MaskedRelation {
  schema: string;
  name: string;
  /** Masked column names, plus every name an alias gives its columns (any of which may be a masked one). */
  columns: Set<string>;
  /** Whether the statement reads it (rather than only writing to it). */
  read: boolean;
  /** Every way the statement may refer to it: name, schema.name, aliases. Matching is by name, conservatively. */
  names: Set<string>;
}

export interface MaskProblem {
  rule: string;
  message: string;
}

export function maskProblem(stmt: SqlStatement, grant: CompiledGrant, catalog: SqlCatalog, role: string): MaskProblem | undefined {
  const masked = new Map<string, MaskedRelation>();
  for (const relation of stmt.relations) {
    const { schema, name } = catalog.resolveRelation(relation.schema, relation.name);
    const key = nameKey(schema, name);
    const columns = grant.masks.get(key);
    if (!columns) continue;
    const entry = masked.get(key) ?? { schema, name, columns: new Set(columns.keys()), read: false, names: new Set([name, `${schema}.${name}`]) };
    entry.read ||= relation.access === 'read';
    masked.set(key, entry);
  }
  if (!masked.size) return undefined;
  for (const source of stmt.columnRefs.sources) {
    const { schema, name } = catalog.resolveRelation(source.schema, source.name);
    const relation = masked.get(nameKey(schema, name));
    if (source.alias) relation?.names.add(source.alias);
    for (const column of source.columns) relation?.columns.add(column);
  }

  const relationText = (r: MaskedRelation) => `${formatQualified(r.schema, r.name)} has masked columns for role "${role}"`;
  // COPY sends rows without a RowDescription, so there is nothing to mask them by.
  if (stmt.kind === 'copy_to' || stmt.kind === 'copy_file') {
    const copied = [...masked.values()].find((r) => r.read);
    if (copied) return { rule: 'sql.mask.copy', message: `Gatehouse: ${relationText(copied)}; COPY cannot be masked, select the rows instead` };
  }
  for (const ref of stmt.columnRefs.refs) {
    const written = ref.column === null ? undefined : ref.qualifier ? `${ref.qualifier}.${ref.column}` : ref.column;
    for (const relation of masked.values()) {
      if (written !== undefined && relation.names.has(written)) {
        return { rule: 'sql.mask.whole_row', message: `Gatehouse: ${relationText(relation)}; its whole row (${written}) cannot be referenced, select its columns instead` };
      }
      if (ref.output || (ref.qualifier !== null && !relation.names.has(ref.qualifier))) continue;
      if (ref.column === null) {
        return { rule: 'sql.mask.star', message: `Gatehouse: ${relationText(relation)}; * may expand over it only in the select list of a top-level SELECT` };
      }
      if (relation.columns.has(ref.column)) {
        return {
          rule: 'sql.mask.reference',
          message: `Gatehouse: column ${formatQualified(relation.schema, relation.name)}.${formatIdentifier(ref.column)} is masked for role "${role}"; it may only be selected directly, not used in expressions, filters or sorts`,
        };
      }
    }
  }
  return undefined;
}
