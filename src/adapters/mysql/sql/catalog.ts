// What the SQL policy must know about a MySQL/MariaDB upstream: the current database, and which built-in functions are harmless.
import type { CatalogFunction, SqlCatalog, Volatility } from '../../../services/policy/sql/catalog.ts';

/**
 * Built-ins any role may call: functions of their arguments (strings, numbers, dates, JSON, aggregates, windows) and
 * session facts that expose nothing (DATABASE(), LAST_INSERT_ID()). MySQL resolves an unqualified name to a built-in
 * before any stored function, so these names cannot be shadowed.
 */
const pure = `abs acos adddate addtime aes_decrypt aes_encrypt any_value ascii asin atan atan2 avg bin bin_to_uuid bit_and bit_count
bit_length bit_or bit_xor cast ceil ceiling char char_length character_length charset coalesce coercibility collation compress
concat concat_ws conv convert convert_tz cos cot count crc32 cume_dist curdate current_date current_time current_timestamp curtime
database date date_add date_format date_sub datediff day dayname dayofmonth dayofweek dayofyear decode default degrees dense_rank
elt encode exp export_set extract extractvalue field find_in_set first_value floor format format_bytes format_pico_time found_rows
from_base64 from_days from_unixtime get_format greatest group_concat hex hour if ifnull inet6_aton inet6_ntoa inet_aton inet_ntoa
insert instr interval is_ipv4 is_ipv4_compat is_ipv4_mapped is_ipv6 is_uuid isnull json_array json_array_append json_array_insert
json_arrayagg json_compact json_contains json_contains_path json_depth json_detailed json_equals json_exists json_extract json_insert
json_keys json_length json_loose json_merge json_merge_patch json_merge_preserve json_normalize json_object json_objectagg
json_overlaps json_pretty json_query json_quote json_remove json_replace json_schema_valid json_search json_set json_storage_free
json_storage_size json_table json_type json_unquote json_valid json_value lag last_day last_insert_id last_value lcase lead least
left length ln localtime localtimestamp locate log log10 log2 lower lpad ltrim make_set makedate maketime max md5 median microsecond
mid min minute mod month monthname now nth_value ntile nullif oct octet_length ord percent_rank percentile_cont percentile_disc
period_add period_diff pi position pow power quarter quote radians rank regexp_instr regexp_like regexp_replace regexp_substr
repeat replace reverse right round row_count row_number rpad rtrim sec_to_time second sha sha1 sha2 sign sin soundex space sqrt
std stddev stddev_pop stddev_samp str_to_date strcmp subdate substr substring substring_index subtime sum sysdate tan time
time_format time_to_sec timediff timestamp timestampadd timestampdiff to_base64 to_days to_seconds trim truncate ucase
uncompress uncompressed_length unhex unix_timestamp updatexml upper utc_date utc_time utc_timestamp uuid_to_bin values var_pop
var_samp variance version week weekday weekofyear weight_string year yearweek connection_id`;

/** Built-ins that are volatile but harmless (they only return something new each call): judged as pure ones. */
const harmlessVolatile = 'rand uuid uuid_short random_bytes sys_guid';

/**
 * Everything else a call may name is refused unless the grant's `functions` names it: built-ins with effects or that
 * read around grants (SLEEP, BENCHMARK, GET_LOCK, LOAD_FILE, MASTER_POS_WAIT, NEXTVAL, user(), ...), stored functions
 * and UDFs (which run their own code), and names Gatehouse does not know.
 */
const volatility = new Map<string, Volatility>([
  ...pure.split(/\s+/).map((n): [string, Volatility] => [n, 's']),
  ...harmlessVolatile.split(/\s+/).map((n): [string, Volatility] => [n, 's']),
]);
/** Built-ins that are known and refused (volatile with effects, or reading outside grants). */
const refusedBuiltins = `sleep benchmark get_lock release_lock release_all_locks is_free_lock is_used_lock load_file master_pos_wait
source_pos_wait master_gtid_wait wait_for_executed_gtid_set wait_until_sql_thread_after_gtids nextval lastval setval user
current_user session_user system_user current_role password old_password encrypt des_encrypt des_decrypt gtid_subset
gtid_subtract name_const benchmark column_create column_get column_json column_add column_delete column_exists column_list
column_check`.split(/\s+/);

/** Shown for built-in functions, which live in no database: `builtin.sleep`. */
const BUILTIN_SCHEMA = 'builtin';

export function mysqlCatalog(defaultDatabase: string): SqlCatalog {
  return {
    defaultSchema: defaultDatabase,
    // The analyser already resolved unqualified names to the session's current database.
    resolveRelation: (schema, name) => ({ schema: schema ?? defaultDatabase, name }),
    resolveFunction(schema, name): CatalogFunction | undefined {
      if (schema === null) {
        const known = volatility.get(name);
        if (known) return { schema: BUILTIN_SCHEMA, name, builtin: true, volatility: known };
        if (refusedBuiltins.includes(name)) return { schema: BUILTIN_SCHEMA, name, builtin: true, volatility: 'v' };
      }
      // A stored function or UDF (qualified, or unqualified in the current database): code Gatehouse cannot judge.
      return { schema: schema ?? defaultDatabase, name, builtin: false, volatility: 'v' };
    },
  };
}
