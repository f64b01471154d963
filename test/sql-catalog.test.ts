// Loads the SQL catalog from the real PostgreSQL at 127.0.0.1:5432 and checks what policy relies on. Fails if it is unreachable.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { analyzeSql } from '../src/adapters/postgres/sql/analyze.ts';
import { loadCatalog } from '../src/adapters/postgres/sql/catalog.ts';
import type { SqlCatalog } from '../src/services/policy/sql/catalog.ts';
import { sqlGrant } from '../src/config/schema.ts';
import { decideSqlAll } from '../src/services/policy/sql/decide.ts';
import { HARMLESS_VOLATILE_BUILTINS, REFUSED_BUILTINS } from '../src/services/policy/sql/functions.ts';
import { formatIdentifier } from '../src/services/policy/sql/names.ts';

describe('the catalog of a real PostgreSQL', () => {
  const client = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 5000 });
  let catalog: SqlCatalog;

  before(async () => {
    await client.connect(); // no catch: an unreachable PostgreSQL must fail this suite, not skip it
    catalog = await loadCatalog(async (sql) => (await client.query(sql)).rows as Record<string, unknown>[]);
  });
  after(() => client.end());

  test('volatility comes from pg_proc', () => {
    assert.equal(catalog.resolveFunction(null, 'set_config')?.volatility, 'v');
    assert.equal(catalog.resolveFunction(null, 'lower')?.volatility, 'i');
    assert.equal(catalog.resolveFunction(null, 'now')?.volatility, 's');
    assert.equal(catalog.resolveFunction('pg_catalog', 'pg_read_file')?.volatility, 'v');
    assert.equal(catalog.resolveFunction(null, 'generate_series')?.volatility, 's', 'the most volatile overload counts');
    assert.equal(catalog.resolveFunction(null, 'no_such_function_anywhere'), undefined);
  });

  test('built-ins are the functions of pg_catalog and information_schema', () => {
    assert.deepEqual(catalog.resolveFunction(null, 'lower'), { schema: 'pg_catalog', name: 'lower', builtin: true, volatility: 'i' });
    assert.equal(catalog.resolveFunction('information_schema', '_pg_expandarray')?.builtin, true);
  });

  test('unqualified names resolve as PostgreSQL resolves them', () => {
    assert.equal(catalog.defaultSchema, 'public');
    assert.deepEqual(catalog.resolveRelation(null, 'pg_class'), { schema: 'pg_catalog', name: 'pg_class' });
    assert.deepEqual(catalog.resolveRelation(null, 'documents'), { schema: 'public', name: 'documents' });
    assert.deepEqual(catalog.resolveRelation('other', 'pg_class'), { schema: 'other', name: 'pg_class' });
  });

  test('with real volatilities, introspection is allowed and side effects are not', () => {
    const grant = sqlGrant.parse({ read: ['documents'] });
    const judge = (sql: string) => decideSqlAll(analyzeSql(sql), { role: 'retriever', connection: 'crm', grant, catalog, prepared: new Map() });
    for (const sql of [
      `SELECT c.oid, n.nspname, c.relname FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relname OPERATOR(pg_catalog.~) '^(documents)$' COLLATE pg_catalog.default AND pg_catalog.pg_table_is_visible(c.oid) ORDER BY 2, 3`,
      `SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid, true)
       FROM pg_catalog.pg_attrdef d WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.atthasdef) FROM pg_catalog.pg_attribute a`,
      `SELECT pg_catalog.pg_get_userbyid(c.relowner), pg_catalog.obj_description(c.oid, 'pg_class') FROM pg_catalog.pg_class c`,
      "SELECT * FROM information_schema.columns WHERE table_name = 'documents'",
      "SELECT lower(title), now(), count(*) FROM documents GROUP BY 1, 2",
    ]) assert.equal(judge(sql).kind, 'allow', sql);
    for (const sql of [
      "SELECT set_config('role', 'postgres', false)", "SELECT pg_read_file('/etc/passwd')", 'SELECT * FROM pg_stats', 'SELECT txid_current()',
      // psql's \dt+: sizes of every table, granted or not.
      'SELECT pg_catalog.pg_size_pretty(pg_catalog.pg_table_size(c.oid)) FROM pg_catalog.pg_class c',
    ]) {
      assert.equal(judge(sql).kind, 'deny', sql);
    }
  });

  test('every entry of the reviewed table of refused built-ins exists upstream, and its example is refused', () => {
    const judge = (sql: string) => decideSqlAll(analyzeSql(sql), { role: 'retriever', connection: 'crm', grant: sqlGrant.parse({ read: ['documents'] }), catalog, prepared: new Map() });
    for (const entry of REFUSED_BUILTINS) {
      const called = analyzeSql(entry.example).statements[0].functions.find((f) => f.name.startsWith(entry.name))!.name;
      assert.ok(catalog.resolveFunction('pg_catalog', called), `${called} is not a built-in of this PostgreSQL`);
      const verdict = judge(entry.example);
      assert.equal(verdict.kind === 'deny' && verdict.rule, `sql.function.${entry.risk}`, entry.example);
    }
  });

  test('every volatile built-in of this PostgreSQL is refused, but for the reviewed harmless ones', async () => {
    const { rows } = await client.query(`SELECT DISTINCT proname FROM pg_catalog.pg_proc WHERE pronamespace = 'pg_catalog'::regnamespace AND provolatile = 'v' ORDER BY 1`);
    assert.ok(rows.length > 150, `${rows.length} volatile built-ins`);
    const grant = sqlGrant.parse({ read: ['documents'] });
    for (const { proname } of rows as { proname: string }[]) {
      const verdict = decideSqlAll(analyzeSql(`SELECT pg_catalog.${formatIdentifier(proname)}()`), { role: 'r', connection: 'crm', grant, catalog, prepared: new Map() });
      if (HARMLESS_VOLATILE_BUILTINS.has(proname)) assert.equal(verdict.kind, 'allow', proname);
      else assert.match(verdict.kind === 'deny' ? verdict.rule : 'allowed', /^sql\.function\./, proname);
    }
  });
});
