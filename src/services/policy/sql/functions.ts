// Which functions a statement may call without naming them in the grant's `functions`, and why the others are refused.
import type { CatalogFunction } from './catalog.ts';

/**
 * Built-ins that are stable or immutable, so volatility alone would allow them, yet they run SQL text or
 * read relations by name (bypassing relation grants), or expose other sessions like the catalog views
 * refused in sql-catalog-relations.ts. (xpath and friends are pure functions of their arguments: allowed.)
 */
const bypassingBuiltins = [
  /^(query|table|cursor|schema|database)_to_xml/, // query_to_xml('delete ...'), table_to_xml('customers', ...)
  /^ts_stat$/, /^ts_rewrite$/, // run the query text they are given
  /^pg_stat_get_activity$/, /^pg_stat_get_backend_/, /^pg_stat_get_progress_info$/, // other sessions' queries and clients
  /^pg_stat_get_wal_receiver$/, /^pg_stat_get_subscription$/, /^pg_get_replication_slots$/, /^pg_lock_status$/,
  /^pg_prepared_xact$/, /^pg_show_all_file_settings$/, /^pg_hba_file_rules$/, /^pg_ident_file_mappings$/,
];

/**
 * Volatile only because each call may return something new: no side effect, nothing read beyond their
 * arguments or relation sizes (which pg_class shows anyway). Refusing them would break `ORDER BY random()`,
 * `DEFAULT gen_random_uuid()`-style inserts and psql's `\dt+`.
 */
const harmlessVolatileBuiltins: ReadonlySet<string> = new Set([
  'random', 'random_normal', 'gen_random_uuid', 'uuidv4', 'uuidv7', 'clock_timestamp', 'timeofday',
  'pg_relation_size', 'pg_table_size', 'pg_indexes_size', 'pg_total_relation_size',
  // psql's \d reads the partition hierarchy with these; they only read the catalog.
  'pg_partition_ancestors', 'pg_partition_tree',
]);

export type FunctionProblem = 'unknown' | 'user' | 'bypass' | 'volatile';

/** Why calling this function needs a grant by name, or undefined when any role may call it. */
export function functionProblem(fn: CatalogFunction | undefined): FunctionProblem | undefined {
  if (!fn) return 'unknown';
  // A user-defined function runs with its own code and its owner's choices: a STABLE one can read any table.
  if (!fn.builtin) return 'user';
  if (bypassingBuiltins.some((pattern) => pattern.test(fn.name))) return 'bypass';
  if (fn.volatility === 'v' && !harmlessVolatileBuiltins.has(fn.name)) return 'volatile';
  return undefined;
}
