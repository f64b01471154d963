// Which catalog relations (and columns) any role with a grant may read for introspection, and which expose data, secrets,
// other sessions, settings, definitions or statistics.

/** Relations here describe the database (what psql \d, ORMs and drivers read), not its contents. */
const introspectionSchemas: ReadonlySet<string> = new Set(['pg_catalog', 'information_schema']);

/**
 * Catalog relations that are not mere description. Each is refused unless a grant names it in `read`.
 * (pg_stat_statements, which holds other sessions' queries, lives in its extension's schema and so is
 * refused like any ungranted table.) pg_statistic_ext stays readable: it holds only the definitions of
 * extended statistics, which psql's \d shows.
 */
const sensitiveRelations: ReadonlySet<string> = new Set([
  // Sampled column values: most common values and histograms of every column of every table.
  'pg_catalog.pg_statistic', 'pg_catalog.pg_statistic_ext_data', 'pg_catalog.pg_stats', 'pg_catalog.pg_stats_ext',
  'pg_catalog.pg_stats_ext_exprs',
  // Password hashes and the credentials of foreign-server user mappings.
  'pg_catalog.pg_authid', 'pg_catalog.pg_shadow', 'pg_catalog.pg_user_mapping', 'pg_catalog.pg_user_mappings',
  'information_schema.user_mappings', 'information_schema.user_mapping_options', 'information_schema._pg_user_mappings',
  // Other sessions: their query text, client addresses and certificates, what they lock, their prepared transactions.
  'pg_catalog.pg_stat_activity', 'pg_catalog.pg_stat_ssl', 'pg_catalog.pg_stat_gssapi', 'pg_catalog.pg_locks',
  'pg_catalog.pg_prepared_xacts',
  // Replication peers and subscriptions, whose connection strings can carry passwords.
  'pg_catalog.pg_subscription', 'pg_catalog.pg_stat_wal_receiver',
  // Server configuration files and per-role settings (ALTER ROLE ... SET can hold secrets); every setting (data_directory,
  // config_file, ...: SHOW and current_setting allow the ones settings.ts lists); the server's build configuration.
  'pg_catalog.pg_file_settings', 'pg_catalog.pg_hba_file_rules', 'pg_catalog.pg_ident_file_mappings',
  'pg_catalog.pg_db_role_setting', 'pg_catalog.pg_settings', 'pg_catalog.pg_config',
  // Who may do what: role memberships. (Role names stay readable in pg_roles: psql's \d reads them for every table, for
  // its policies section; their per-role settings do not, see hiddenCatalogColumns.)
  'pg_catalog.pg_auth_members', 'information_schema.applicable_roles', 'information_schema.enabled_roles',
  'information_schema.administrable_role_authorizations',
  // Server memory internals.
  'pg_catalog.pg_backend_memory_contexts', 'pg_catalog.pg_shmem_allocations',
  // MySQL/MariaDB: other sessions' statements and transactions, cached query texts, per-user statistics, and the
  // upstream account's own privileges (performance_schema, mysql.* and sys.* are not introspection: granted by name only).
  'information_schema.processlist', 'information_schema.innodb_trx', 'information_schema.innodb_locks',
  'information_schema.innodb_lock_waits', 'information_schema.query_cache_info', 'information_schema.user_statistics',
  'information_schema.client_statistics', 'information_schema.user_privileges', 'information_schema.applicable_roles',
  'information_schema.enabled_roles',
]);

/**
 * Families whose every member is sensitive for the reasons above, including ones newer PostgreSQL versions add. The
 * statistics views (pg_stat_user_tables, pg_statio_*, ...) give row counts, sizes and activity of every relation.
 */
const sensitivePrefixes = [
  'pg_catalog.pg_largeobject', 'pg_catalog.pg_replication_', 'pg_catalog.pg_stat_', 'pg_catalog.pg_statio_',
];

/** `open`: readable by any role with a grant; `sensitive`: only if granted by name; undefined: not a catalog relation. */
export function catalogRelationAccess(schema: string, name: string): 'open' | 'sensitive' | undefined {
  if (!introspectionSchemas.has(schema)) return undefined;
  const key = `${schema}.${name}`;
  return sensitiveRelations.has(key) || sensitivePrefixes.some((prefix) => key.startsWith(prefix)) ? 'sensitive' : 'open';
}

/**
 * Columns of open catalog relations that hold definitions or statistics rather than description: the source of views,
 * rules and functions, and row-count and size estimates. No role reads them unless a grant names the relation in
 * `read` (psql's \d and ORMs do not; psql's \d+ reads a granted view's source with pg_get_viewdef, which
 * functions.ts allows for granted views).
 */
export const hiddenCatalogColumns: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  ['pg_catalog.pg_proc', new Set(['prosrc', 'probin', 'prosqlbody'])],
  ['pg_catalog.pg_rewrite', new Set(['ev_action', 'ev_qual'])],
  ['pg_catalog.pg_views', new Set(['definition'])],
  ['pg_catalog.pg_matviews', new Set(['definition'])],
  ['pg_catalog.pg_class', new Set(['reltuples', 'relpages', 'relallvisible', 'relallfrozen'])],
  ['pg_catalog.pg_sequences', new Set(['last_value'])],
  // Per-role settings (ALTER ROLE ... SET) can hold secrets.
  ['pg_catalog.pg_roles', new Set(['rolconfig'])],
  ['pg_catalog.pg_user', new Set(['useconfig'])],
  ['information_schema.views', new Set(['view_definition'])],
  ['information_schema.routines', new Set(['routine_definition'])],
]);
