// Which functions a statement may call without naming them in the grant's `functions`, and why the others are refused.
//
// Volatility is not side-effect freedom, and stability is not discretion: a STABLE function can assign a transaction id
// or hand out the source of a view. So besides "volatile built-ins are refused" there is one reviewed table of the
// built-ins refused by default whatever their volatility — reviewed against PostgreSQL 15–17's pg_proc (its ~500
// STABLE functions one by one, and the ~250 VOLATILE ones for the few harmless enough to allow). Every entry has a call
// that the bypass suite checks is refused; the catalog test checks every entry exists upstream.
import type { CatalogFunction, SqlCatalog } from './catalog.ts';
import type { SqlArg, SqlFunction } from './facts.ts';
import { parseName } from './names.ts';

/** Why a built-in is refused by default. */
export type BuiltinRisk =
  /** Writes or changes state although it is not VOLATILE (`txid_current` assigns a transaction id). */
  | 'side-effect'
  /** Runs SQL text or reads relations by name, around relation grants. */
  | 'bypass'
  /** Exposes other sessions: their queries, clients, locks, prepared transactions. */
  | 'sessions'
  /** Exposes the server: its files and paths, network addresses, configuration files, build. */
  | 'server'
  /** Reads server settings (settings.ts lists those any role may read). */
  | 'settings'
  /** Returns the source of a view, rule or function: allowed for objects the grant names. */
  | 'definition'
  /** Returns sizes or activity counts: allowed for relations the grant names. */
  | 'statistics';

export interface RefusedBuiltin {
  /** The function, or with `family` every function whose name starts so. */
  name: string;
  family?: true;
  risk: BuiltinRisk;
  /** What the first argument names; a call about a granted object of that kind is allowed. */
  about?: 'relation' | 'rule' | 'function';
  /** A call policy must refuse: the bypass suite runs every one. */
  example: string;
}

export const REFUSED_BUILTINS: readonly RefusedBuiltin[] = [
  // STABLE, yet they write: a transaction id is assigned (and consumed for good) by asking for it.
  { name: 'txid_current', risk: 'side-effect', example: 'SELECT txid_current()' },
  { name: 'pg_current_xact_id', risk: 'side-effect', example: 'SELECT pg_current_xact_id()' },
  // Validators load and check code: fmgr_c_validator loads a shared library.
  { name: 'fmgr_c_validator', risk: 'side-effect', example: 'SELECT fmgr_c_validator(1)' },
  { name: 'fmgr_internal_validator', risk: 'side-effect', example: 'SELECT fmgr_internal_validator(1)' },
  { name: 'fmgr_sql_validator', risk: 'side-effect', example: 'SELECT fmgr_sql_validator(1)' },
  // Run the SQL text they are given, or read a table by name (table_to_xml('secrets', ...)).
  { name: 'query_to_xml', family: true, risk: 'bypass', example: "SELECT query_to_xml('select * from secrets', true, false, '')" },
  { name: 'table_to_xml', family: true, risk: 'bypass', example: "SELECT table_to_xml('secrets', true, false, '')" },
  { name: 'cursor_to_xml', family: true, risk: 'bypass', example: "SELECT cursor_to_xml('c', 10, true, false, '')" },
  { name: 'schema_to_xml', family: true, risk: 'bypass', example: "SELECT schema_to_xml('public', true, false, '')" },
  { name: 'database_to_xml', family: true, risk: 'bypass', example: "SELECT database_to_xml(true, false, '')" },
  { name: 'ts_stat', risk: 'bypass', example: "SELECT * FROM ts_stat('select body from secrets')" },
  { name: 'ts_rewrite', risk: 'bypass', example: "SELECT ts_rewrite('a'::tsquery, 'select q, s from secrets')" },
  // Other sessions, as the catalog views catalog-relations.ts refuses.
  { name: 'pg_stat_get_activity', risk: 'sessions', example: 'SELECT * FROM pg_stat_get_activity(NULL)' },
  { name: 'pg_stat_get_backend_', family: true, risk: 'sessions', example: 'SELECT pg_stat_get_backend_activity(1)' },
  { name: 'pg_stat_get_progress_info', risk: 'sessions', example: "SELECT * FROM pg_stat_get_progress_info('VACUUM')" },
  { name: 'pg_stat_get_wal_receiver', risk: 'sessions', example: 'SELECT * FROM pg_stat_get_wal_receiver()' },
  { name: 'pg_stat_get_subscription', risk: 'sessions', example: 'SELECT * FROM pg_stat_get_subscription(1)' },
  { name: 'pg_get_replication_slots', risk: 'sessions', example: 'SELECT * FROM pg_get_replication_slots()' },
  { name: 'pg_lock_status', risk: 'sessions', example: 'SELECT * FROM pg_lock_status()' },
  { name: 'pg_prepared_xact', risk: 'sessions', example: 'SELECT * FROM pg_prepared_xact()' },
  // The server: configuration files, paths on disk, network addresses, build configuration.
  { name: 'pg_show_all_file_settings', risk: 'server', example: 'SELECT * FROM pg_show_all_file_settings()' },
  { name: 'pg_hba_file_rules', risk: 'server', example: 'SELECT * FROM pg_hba_file_rules()' },
  { name: 'pg_ident_file_mappings', risk: 'server', example: 'SELECT * FROM pg_ident_file_mappings()' },
  { name: 'pg_config', risk: 'server', example: 'SELECT * FROM pg_config()' },
  { name: 'pg_tablespace_location', risk: 'server', example: 'SELECT pg_tablespace_location(1663)' },
  { name: 'pg_relation_filepath', risk: 'server', example: "SELECT pg_relation_filepath('documents')" },
  { name: 'pg_relation_filenode', risk: 'server', example: "SELECT pg_relation_filenode('documents')" },
  { name: 'pg_filenode_relation', risk: 'server', example: 'SELECT pg_filenode_relation(0, 16384)' },
  { name: 'inet_server_addr', risk: 'server', example: 'SELECT inet_server_addr()' },
  { name: 'inet_server_port', risk: 'server', example: 'SELECT inet_server_port()' },
  { name: 'inet_client_addr', risk: 'server', example: 'SELECT inet_client_addr()' },
  { name: 'inet_client_port', risk: 'server', example: 'SELECT inet_client_port()' },
  // Settings: every one at once, or one by a name the safe list lacks (data_directory, ...).
  { name: 'pg_show_all_settings', risk: 'settings', example: 'SELECT * FROM pg_show_all_settings()' },
  { name: 'current_setting', risk: 'settings', example: "SELECT current_setting('data_directory')" },
  // Definitions: the full source of views, rules and functions the grant may not name.
  { name: 'pg_get_viewdef', risk: 'definition', about: 'relation', example: "SELECT pg_get_viewdef('customer_contacts'::regclass)" },
  { name: 'pg_get_ruledef', risk: 'definition', about: 'rule', example: 'SELECT pg_get_ruledef(r.oid) FROM pg_rewrite r' },
  { name: 'pg_get_functiondef', risk: 'definition', about: 'function', example: "SELECT pg_get_functiondef('read_secrets'::regproc)" },
  { name: 'pg_get_function_sqlbody', risk: 'definition', about: 'function', example: 'SELECT pg_get_function_sqlbody(p.oid) FROM pg_proc p' },
  // Statistics: sizes and activity counts (row counts, scans, tuples) of relations the grant may not name.
  { name: 'pg_relation_size', risk: 'statistics', about: 'relation', example: "SELECT pg_relation_size('secrets')" },
  { name: 'pg_table_size', risk: 'statistics', about: 'relation', example: 'SELECT pg_table_size(c.oid) FROM pg_class c' },
  { name: 'pg_total_relation_size', risk: 'statistics', about: 'relation', example: "SELECT pg_total_relation_size('secrets'::regclass)" },
  { name: 'pg_indexes_size', risk: 'statistics', about: 'relation', example: "SELECT pg_indexes_size('secrets')" },
  { name: 'pg_stat_get_', family: true, risk: 'statistics', about: 'relation', example: "SELECT pg_stat_get_live_tuples('secrets'::regclass)" },
  { name: 'pg_database_size', risk: 'statistics', example: 'SELECT pg_database_size(current_database())' },
  { name: 'pg_tablespace_size', risk: 'statistics', example: "SELECT pg_tablespace_size('pg_default')" },
];

/**
 * Volatile only because each call may return something new: no side effect, nothing read beyond their arguments and
 * the catalog. Refusing them would break `ORDER BY random()`, `DEFAULT gen_random_uuid()`-style inserts and psql's \d
 * (which reads the partition hierarchy with the last two).
 */
export const HARMLESS_VOLATILE_BUILTINS: ReadonlySet<string> = new Set([
  'random', 'random_normal', 'gen_random_uuid', 'uuidv4', 'uuidv7', 'clock_timestamp', 'timeofday',
  'pg_partition_ancestors', 'pg_partition_tree',
]);

const exact = new Map(REFUSED_BUILTINS.filter((e) => !e.family).map((e) => [e.name, e]));
const families = REFUSED_BUILTINS.filter((e) => e.family);

/** The table's entry for a built-in, exact names before families. */
export function refusedBuiltin(name: string): RefusedBuiltin | undefined {
  return exact.get(name) ?? families.find((e) => name.startsWith(e.name));
}

export type FunctionProblem = 'unknown' | 'user' | 'volatile' | BuiltinRisk;

/** What a call may name as its object, and which objects the grant names. */
export interface FunctionObjects {
  catalog: SqlCatalog;
  /** A relation the grant lets this role read. */
  readable(schema: string, name: string): boolean;
  /** A function the grant names. */
  callable(schema: string, name: string): boolean;
  /** A setting any role may read (settings.ts), or every setting when the grant allows `settings`. */
  readableSetting(name: string): boolean;
}

/** Why calling this function needs a grant by name, or undefined when any role may call it (this way). */
export function functionProblem(fn: CatalogFunction | undefined, call: SqlFunction, objects: FunctionObjects): FunctionProblem | undefined {
  if (!fn) return 'unknown';
  // A user-defined function runs with its own code and its owner's choices: a STABLE one can read any table.
  if (!fn.builtin) return 'user';
  const entry = refusedBuiltin(fn.name);
  if (entry) {
    if (entry.name === 'current_setting') return settingArg(call.args?.[0], objects) ? undefined : 'settings';
    return entry.about && aboutGrantedObject(call.args?.[0], entry.about, objects) ? undefined : entry.risk;
  }
  if (fn.volatility === 'v' && !HARMLESS_VOLATILE_BUILTINS.has(fn.name)) return 'volatile';
  return undefined;
}

/** `current_setting('TimeZone')`: a constant name the role may read. */
function settingArg(arg: SqlArg | undefined, objects: FunctionObjects): boolean {
  return arg?.kind === 'const' && objects.readableSetting(arg.value.toLowerCase());
}

/**
 * Whether a call's object argument certainly names a granted object: a constant (an OID, or a name cast to regclass or
 * regproc), or the OID column of the catalog row the WHERE clause pins to a granted object with a top-level equality —
 * psql's `pg_get_ruledef(r.oid) ... WHERE r.ev_class = '16384'` for a granted view. Anything else might name any object.
 */
function aboutGrantedObject(arg: SqlArg | undefined, about: 'relation' | 'rule' | 'function', objects: FunctionObjects): boolean {
  if (!arg || arg.kind === 'other') return false;
  if (arg.kind === 'const') {
    if (about === 'relation') return grantedRelation(arg.value, objects);
    if (about === 'function') return grantedFunction(arg.value, objects);
    return false; // a rule by OID: which relation it belongs to is not in the catalog the gateway keeps
  }
  const { relation, column, pins } = arg;
  const catalogRelation = (name: string) => relation?.name === name && (relation.schema ?? 'pg_catalog') === 'pg_catalog' && column === 'oid';
  const pinned = (pinColumn: string, granted: (value: string) => boolean) => pins.some((p) => p.column === pinColumn && granted(p.value));
  switch (about) {
    case 'relation': return catalogRelation('pg_class') && pinned('oid', (v) => grantedRelation(v, objects));
    case 'rule': return catalogRelation('pg_rewrite') && pinned('ev_class', (v) => grantedRelation(v, objects));
    case 'function': return catalogRelation('pg_proc') && pinned('oid', (v) => grantedFunction(v, objects));
  }
}

/** A relation named by OID or by (possibly qualified) name that the role may read; the catalog's own are public. */
function grantedRelation(value: string, objects: FunctionObjects): boolean {
  const { catalog } = objects;
  const byOid = /^\d+$/.test(value) ? catalog.relationByOid?.(Number(value)) : undefined;
  const parts = byOid ? [byOid.schema, byOid.name] : parseName(value);
  if (!parts || parts.length > 2) return false;
  const { schema, name } = catalog.resolveRelation(parts.length === 2 ? parts[0] : null, parts.at(-1)!);
  return schema === 'pg_catalog' || schema === 'information_schema' || objects.readable(schema, name);
}

/** A function named by OID or name (`'f'::regproc`, `'f(int)'::regprocedure`) that is built in or granted by name. */
function grantedFunction(value: string, objects: FunctionObjects): boolean {
  const { catalog } = objects;
  const fn = /^\d+$/.test(value) ? catalog.functionByOid?.(Number(value)) : resolveByName(value.replace(/\(.*\)$/s, ''), catalog);
  return fn !== undefined && (fn.builtin || objects.callable(fn.schema, fn.name));
}

function resolveByName(text: string, catalog: SqlCatalog): CatalogFunction | undefined {
  const parts = parseName(text);
  if (!parts || parts.length > 2) return undefined;
  return catalog.resolveFunction(parts.length === 2 ? parts[0] : null, parts.at(-1)!);
}
