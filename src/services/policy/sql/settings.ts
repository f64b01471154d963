// Which PostgreSQL server settings any role may read (SHOW, current_setting): what clients and drivers ask for, and what
// the server reports to every client anyway. The rest — data_directory, config_file, ssl_key_file, listen_addresses, ... — describe
// the server and need `settings` in the grant's statements.

const readable: ReadonlySet<string> = new Set([
  // Reported to every client at connection time (GUC_REPORT), so never a secret.
  'server_version', 'server_encoding', 'client_encoding', 'application_name', 'datestyle', 'intervalstyle', 'timezone',
  'integer_datetimes', 'standard_conforming_strings', 'is_superuser', 'session_authorization', 'default_transaction_read_only',
  'in_hot_standby', 'scram_iterations',
  // What drivers, ORMs and psql ask for.
  'server_version_num', 'search_path', 'transaction_isolation', 'transaction_read_only', 'transaction_deferrable',
  'default_transaction_isolation', 'default_transaction_deferrable', 'statement_timeout', 'lock_timeout',
  'idle_in_transaction_session_timeout', 'idle_session_timeout', 'extra_float_digits', 'bytea_output', 'client_min_messages',
  'max_identifier_length', 'max_index_keys', 'max_function_args', 'block_size', 'lc_messages', 'lc_monetary', 'lc_numeric',
  'lc_time', 'lc_collate', 'lc_ctype', 'timezone_abbreviations', 'default_text_search_config', 'escape_string_warning',
  'backslash_quote', 'array_nulls', 'xmlbinary', 'xmloption', 'row_security',
]);

/** Whether any role may read this setting (`name` lower-cased, as PostgreSQL folds it). */
export const readableSetting = (name: string) => readable.has(name);
