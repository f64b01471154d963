// Masked columns may leave only as bare output columns, which the enforcer masks by RowDescription; any other use would leak their values.
import type { SqlCatalog } from './catalog.ts';
import type { SqlStatement } from './facts.ts';
import { guardedColumnUse } from './columns.ts';
import type { CompiledGrant } from './grant.ts';
import { formatIdentifier, formatQualified } from './names.ts';

export interface MaskProblem {
  rule: string;
  message: string;
}

export function maskProblem(stmt: SqlStatement, grant: CompiledGrant, catalog: SqlCatalog, role: string): MaskProblem | undefined {
  const use = guardedColumnUse(stmt, catalog, (key) => grant.masks.get(key) && new Set(grant.masks.get(key)!.keys()), true);
  if (!use) return undefined;
  const relationText = `${formatQualified(use.relation.schema, use.relation.name)} has masked columns for role "${role}"`;
  switch (use.kind) {
    case 'copy': return { rule: 'sql.mask.copy', message: `Gatehouse: ${relationText}; COPY cannot be masked, select the rows instead` };
    case 'whole_row': return { rule: 'sql.mask.whole_row', message: `Gatehouse: ${relationText}; its whole row (${use.written}) cannot be referenced, select its columns instead` };
    case 'star': return { rule: 'sql.mask.star', message: `Gatehouse: ${relationText}; * may expand over it only in the select list of a top-level SELECT` };
    case 'reference':
      return {
        rule: 'sql.mask.reference',
        message: `Gatehouse: column ${formatQualified(use.relation.schema, use.relation.name)}.${formatIdentifier(use.column)} is masked for role "${role}"; it may only be selected directly, not used in expressions, filters or sorts`,
      };
  }
}
