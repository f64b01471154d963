// Unit tests of the SQL analyser: kinds, and relations / functions / column references found wherever they are nested.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { analyzeSql, sqlFacts, type SqlStatement } from '../src/adapters/postgres/sql/analyze.ts';

const one = (sql: string): SqlStatement => {
  const { statements } = analyzeSql(sql);
  assert.equal(statements.length, 1, `expected one statement in ${sql}`);
  return statements[0];
};
const relations = (sql: string) => one(sql).relations.map((r) => `${r.schema ? `${r.schema}.` : ''}${r.name}:${r.access}`).sort();
const functions = (sql: string) => one(sql).functions.map((f) => (f.schema ? `${f.schema}.${f.name}` : f.name)).sort();

describe('statement splitting', () => {
  test('one statement per statement, each with its own text', () => {
    const { statements } = analyzeSql("SELECT 'é€' AS x;  DROP TABLE t ;\nSELECT 2");
    assert.deepEqual(statements.map((s) => [s.kind, s.text]), [
      ['select', "SELECT 'é€' AS x"], ['ddl', 'DROP TABLE t'], ['select', 'SELECT 2'],
    ]);
  });

  test('empty, comment-only, unparseable, NUL-containing and absurdly nested input is one unknown statement', () => {
    const deep = `SELECT ${'('.repeat(20_000)}1${')'.repeat(20_000)}`;
    for (const sql of ['', '   ', '-- nothing', 'SELEC * FRM t', 'SELECT 1\0; DROP TABLE t', deep]) {
      const { statements } = analyzeSql(sql);
      assert.equal(statements.length, 1, sql.slice(0, 40));
      assert.equal(statements[0].kind, 'unknown', sql.slice(0, 40));
      assert.equal(statements[0].effect, 'unknown');
      assert.ok(statements[0].reason, 'an unknown statement says why');
    }
  });

  test('analyses are cached by exact text, frozen, and a cached lookup costs microseconds', () => {
    const sql = 'SELECT d.id FROM documents d JOIN chunks c ON c.document_id = d.id WHERE d.id = $1';
    const first = analyzeSql(sql);
    assert.equal(analyzeSql(sql), first);
    assert.ok(Object.isFrozen(first.statements[0].relations));
    const started = performance.now();
    for (let i = 0; i < 10_000; i++) analyzeSql(sql);
    const perCall = ((performance.now() - started) * 1000) / 10_000;
    assert.ok(perCall < 20, `cached analysis took ${perCall.toFixed(2)}µs per call`);
  });
});

describe('relations', () => {
  test('names are folded as PostgreSQL folds them; quoted names are kept', () => {
    assert.deepEqual(relations('SELECT * FROM Documents, "Chunks", Public."Mixed", "public".x'),
      ['Chunks:read', 'documents:read', 'public.Mixed:read', 'public.x:read']);
  });

  test('subqueries in every clause, joins, LATERAL, set operations, VALUES and function arguments', () => {
    const sql = `(SELECT (SELECT 1 FROM s1), f((SELECT 1 FROM s2)) FROM a JOIN b ON b.id IN (SELECT id FROM s3)
      LEFT JOIN LATERAL (SELECT * FROM s4) l ON true, b2 TABLESAMPLE SYSTEM (5)
      WHERE EXISTS (SELECT 1 FROM s5) AND x = ANY (ARRAY(SELECT 1 FROM s6))
      GROUP BY 1 HAVING count(*) > (SELECT 1 FROM s7) ORDER BY (SELECT 1 FROM s8))
      UNION SELECT * FROM (VALUES ((SELECT 1 FROM s9))) v INTERSECT TABLE s10`;
    assert.equal(one(sql).kind, 'select');
    assert.deepEqual(relations(sql), ['a', 'b', 'b2', 's1', 's2', 's3', 's4', 's5', 's6', 's7', 's8', 's9', 's10'].map((n) => `${n}:read`).sort());
  });

  test('CTEs are not relations, but what they read is; a non-recursive CTE naming itself means the table', () => {
    assert.deepEqual(relations('WITH x AS (SELECT * FROM secrets) SELECT * FROM x'), ['secrets:read']);
    assert.deepEqual(relations('WITH secrets AS (SELECT * FROM secrets) SELECT * FROM secrets'), ['secrets:read']);
    assert.deepEqual(relations('WITH a AS (SELECT 1), b AS (SELECT * FROM a) SELECT * FROM b, public.a'), ['public.a:read']);
    assert.deepEqual(relations('WITH b AS (SELECT * FROM a), a AS (SELECT 1) SELECT * FROM b'), ['a:read']);
    assert.deepEqual(relations('WITH RECURSIVE r AS (SELECT 1 UNION SELECT * FROM r) SELECT * FROM r'), []);
    assert.deepEqual(relations('SELECT * FROM (WITH x AS (SELECT 1) SELECT * FROM x) s, x'), ['x:read']);
  });

  test('writable CTEs in any position, and nested', () => {
    assert.deepEqual(relations('WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d'), ['t:delete', 't:read']);
    assert.deepEqual(relations('WITH a AS (SELECT 1), u AS (UPDATE t SET x = 1) SELECT * FROM a'), ['t:update']);
    assert.deepEqual(relations('WITH a AS (WITH i AS (INSERT INTO t VALUES (1) RETURNING 1) SELECT * FROM i) SELECT * FROM a'), ['t:insert', 't:read']);
    assert.equal(one('WITH d AS (DELETE FROM t) SELECT 1').effect, 'write');
  });

  test('DML targets, RETURNING, ON CONFLICT, UPDATE ... FROM, DELETE ... USING, INSERT ... SELECT', () => {
    assert.deepEqual(relations('INSERT INTO t VALUES (1)'), ['t:insert']);
    assert.deepEqual(relations('INSERT INTO t SELECT * FROM s'), ['s:read', 't:insert']);
    assert.deepEqual(relations('INSERT INTO t VALUES (1) RETURNING id'), ['t:insert', 't:read']);
    assert.deepEqual(relations('INSERT INTO t VALUES (1) ON CONFLICT (id) DO UPDATE SET x = EXCLUDED.x'), ['t:insert', 't:read', 't:update']);
    assert.deepEqual(relations('INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING'), ['t:insert']);
    assert.deepEqual(relations('UPDATE t SET x = 1'), ['t:update']);
    assert.deepEqual(relations('UPDATE t SET x = s.x FROM s WHERE s.id = t.id'), ['s:read', 't:read', 't:update']);
    assert.deepEqual(relations('DELETE FROM t USING s WHERE s.id = t.id'), ['s:read', 't:delete', 't:read']);
    assert.deepEqual(relations('DELETE FROM t'), ['t:delete']);
    assert.deepEqual(relations('WITH t AS (SELECT 1) DELETE FROM t'), ['t:delete'], 'a DML target is never a CTE');
  });

  test('MERGE: the target per WHEN clause, read by the join; the source is read', () => {
    const sql = `MERGE INTO t USING s ON t.id = s.id
      WHEN MATCHED AND s.gone THEN DELETE WHEN MATCHED THEN UPDATE SET x = s.x
      WHEN NOT MATCHED THEN INSERT (id) VALUES (s.id)`;
    assert.deepEqual(relations(sql), ['s:read', 't:delete', 't:insert', 't:read', 't:update']);
    assert.deepEqual(relations('MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DO NOTHING'), ['s:read', 't:read']);
  });

  test('SELECT ... FOR UPDATE / FOR SHARE needs update access; lockedRels are aliases, not relations', () => {
    assert.deepEqual(relations('SELECT * FROM t FOR UPDATE'), ['t:read', 't:update']);
    assert.deepEqual(relations('SELECT * FROM t a JOIN s ON true FOR SHARE OF a'), ['s:read', 's:update', 't:read', 't:update']);
  });

  test('utility statements name their relations with the access they need', () => {
    assert.deepEqual(relations('TRUNCATE a, b'), ['a:delete', 'b:delete']);
    assert.deepEqual(relations('LOCK t IN ACCESS SHARE MODE'), ['t:read']);
    assert.deepEqual(relations('LOCK t'), ['t:update']);
    assert.deepEqual(relations('COPY t TO STDOUT'), ['t:read']);
    assert.deepEqual(relations('COPY t FROM STDIN'), ['t:insert']);
    assert.deepEqual(relations('VACUUM ANALYZE a, b'), ['a:read', 'b:read']);
    assert.deepEqual(relations('CREATE TABLE x (id int REFERENCES y)'), [], 'DDL defines objects, it does not read them');
  });
});

describe('functions', () => {
  test('every call, wherever it is', () => {
    const sql = `SELECT f1(), count(*) FILTER (WHERE f2()), row_number() OVER (ORDER BY f3()), sum(x ORDER BY f4())
      FROM g1() AS g, ROWS FROM (g2()) r WHERE x = f5() GROUP BY f6() HAVING f7() ORDER BY pg_catalog.f8()`;
    assert.deepEqual(functions(sql), ['count', 'f1', 'f2', 'f3', 'f4', 'f5', 'f6', 'f7', 'g1', 'g2', 'pg_catalog.f8', 'row_number', 'sum'].sort());
    assert.deepEqual(functions("INSERT INTO t VALUES (nextval('s')) ON CONFLICT DO UPDATE SET y = f()"), ['f', 'nextval']);
    assert.deepEqual(functions('CALL public.p(f())'), ['f', 'public.p']);
    assert.deepEqual(functions("EXECUTE p(pg_sleep(1))"), ['pg_sleep']);
    assert.deepEqual(functions("CREATE TABLE t (id uuid DEFAULT gen_random_uuid())"), ['gen_random_uuid']);
    assert.deepEqual(functions("SELECT EXTRACT(year FROM now())"), ['now', 'pg_catalog.extract']);
  });
});

describe('kinds and needs', () => {
  const cases: [string, string, string[]][] = [
    ['SELECT 1', 'select', []],
    ['VALUES (1)', 'select', []],
    ['SELECT 1 INTO t', 'select_into', ['select_into']],
    ['CREATE TABLE t AS SELECT 1', 'select_into', ['select_into']],
    ['CREATE MATERIALIZED VIEW v AS SELECT 1', 'ddl', ['ddl']],
    ['CREATE VIEW v AS SELECT 1', 'ddl', ['ddl']],
    ['CREATE TABLE t (a int)', 'ddl', ['ddl']],
    ['DROP TABLE t', 'ddl', ['ddl']],
    ['ALTER TABLE t ADD COLUMN b int', 'ddl', ['ddl']],
    ["LOAD 'x'", 'ddl', ['ddl']],
    ['GRANT SELECT ON t TO r', 'grant', ['grant']],
    ['CREATE ROLE r', 'grant', ['grant']],
    ['COPY t TO STDOUT', 'copy_to', []],
    ['COPY t FROM STDIN', 'copy_from', []],
    ["COPY t TO '/tmp/x'", 'copy_file', ['copy_file']],
    ["COPY t FROM PROGRAM 'id'", 'copy_file', ['copy_file']],
    ['DO $$ BEGIN END $$', 'do', ['do']],
    ['CALL p()', 'call', ['call']],
    ['TRUNCATE t', 'truncate', ['truncate']],
    ['LOCK t', 'lock', ['lock']],
    ['VACUUM', 'maintenance', ['maintenance']],
    ['ANALYZE t', 'maintenance', ['maintenance']],
    ['CLUSTER t', 'maintenance', ['maintenance']],
    ['REINDEX TABLE t', 'maintenance', ['maintenance']],
    ['CHECKPOINT', 'maintenance', ['maintenance']],
    ['REFRESH MATERIALIZED VIEW v', 'maintenance', ['maintenance']],
    ['ALTER SYSTEM SET work_mem = 1', 'alter_system', ['alter_system']],
    ['LISTEN c', 'listen', ['listen']],
    ['UNLISTEN *', 'unlisten', []],
    ["NOTIFY c, 'x'", 'notify', ['notify']],
    ['SET ROLE postgres', 'set_role', ['set_role']],
    ['SET SESSION AUTHORIZATION DEFAULT', 'set_role', ['set_role']],
    ['RESET ROLE', 'set_role', ['set_role']],
    ['DISCARD ALL', 'discard', ['set_role']],
    ['DISCARD PLANS', 'discard', []],
    ['SET search_path = x', 'set', ['set_search_path']],
    ["SET SCHEMA 'x'", 'set', ['set_search_path']],
    ['SET application_name = x', 'set', []],
    ["SET TIME ZONE 'UTC'", 'set', []],
    ["SET NAMES 'UTF8'", 'set', []],
    ['SET work_mem = 1', 'set', ['set']],
    ['SET app.tenant = 1', 'set', ['set']],
    ['RESET ALL', 'reset', []],
    ['RESET search_path', 'reset', ['set_search_path']],
    ['SHOW ALL', 'show', ['settings']],
    ['SHOW data_directory', 'show', ['settings']],
    ['SHOW TimeZone', 'show', []],
    ['BEGIN', 'transaction', []],
    ['SAVEPOINT a', 'transaction', []],
    ["PREPARE TRANSACTION 'x'", 'two_phase', ['two_phase']],
    ["COMMIT PREPARED 'x'", 'two_phase', ['two_phase']],
    ['SET CONSTRAINTS ALL DEFERRED', 'set_constraints', []],
    ['DECLARE c CURSOR FOR SELECT 1', 'declare_cursor', []],
    ['FETCH 10 FROM c', 'fetch', []],
    ['MOVE NEXT IN c', 'fetch', []],
    ['CLOSE c', 'close', []],
    ['DEALLOCATE p', 'deallocate', []],
    ['EXPLAIN SELECT 1', 'explain', []],
    ['PREPARE p AS SELECT 1', 'prepare', []],
    ['EXECUTE p', 'execute', []],
    ['SET standard_conforming_strings = off', 'unknown', []],
    ["SET client_encoding = 'SJIS'", 'unknown', []],
  ];
  for (const [sql, kind, needs] of cases) {
    test(sql, () => {
      const stmt = one(sql);
      assert.equal(stmt.kind, kind);
      assert.deepEqual(stmt.needs, needs);
    });
  }

  test('DDL is labelled in PostgreSQL words for messages', () => {
    assert.equal(one('CREATE TABLE t (a int)').label, 'CREATE TABLE');
    assert.equal(one('DROP TABLE t').label, 'DROP TABLE');
    assert.equal(one('CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$select 1$$').label, 'CREATE FUNCTION');
    assert.equal(one('CREATE TRIGGER g AFTER INSERT ON t EXECUTE FUNCTION f()').label, 'CREATE TRIGGER');
  });
});

describe('wrapped statements', () => {
  test('EXPLAIN [ANALYZE] carries what it explains, and its relations', () => {
    const stmt = one('EXPLAIN ANALYZE DELETE FROM t');
    assert.equal(stmt.inner?.kind, 'delete');
    assert.deepEqual(stmt.relations, stmt.inner?.relations);
    assert.equal(stmt.effect, 'write');
  });

  test('PREPARE carries its name and statement; EXECUTE its name', () => {
    const prepare = one('PREPARE del(int) AS DELETE FROM t WHERE id = $1');
    assert.equal(prepare.name, 'del');
    assert.equal(prepare.inner?.kind, 'delete');
    assert.equal(one('EXECUTE del(1)').name, 'del');
  });

  test('DECLARE CURSOR and COPY (query) carry their query', () => {
    assert.deepEqual(one('DECLARE c CURSOR FOR SELECT * FROM secrets').inner?.relations, [{ schema: null, name: 'secrets', access: 'read' }]);
    assert.equal(one('COPY (SELECT * FROM secrets) TO STDOUT').inner?.kind, 'select');
  });

  test('CREATE TABLE AS carries its query, whose columns are not output to the client', () => {
    const stmt = one('CREATE TABLE t AS SELECT ssn FROM customers');
    assert.deepEqual(stmt.inner?.columnRefs.refs, [{ qualifier: null, column: 'ssn', output: false }]);
  });
});

describe('session statements', () => {
  test('SET / RESET name the setting and whether it is LOCAL', () => {
    assert.deepEqual(one("SET LOCAL statement_timeout = '5s'").setting, { name: 'statement_timeout', local: true, values: ['5s'] });
    assert.deepEqual(one('RESET ALL').setting, { name: 'all', local: false, values: [] });
  });

  test('READ WRITE is recognised wherever it can be asked for', () => {
    for (const sql of [
      'BEGIN READ WRITE', 'START TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ WRITE', 'SET TRANSACTION READ WRITE',
      'SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE', 'SET default_transaction_read_only = off',
      'SET transaction_read_only TO DEFAULT', 'RESET default_transaction_read_only', 'SET default_transaction_read_only = 0',
    ]) assert.equal(one(sql).readWrite, true, sql);
    for (const sql of ['BEGIN', 'BEGIN READ ONLY', 'START TRANSACTION ISOLATION LEVEL REPEATABLE READ', 'SET transaction_read_only = on', 'COMMIT']) {
      assert.ok(!one(sql).readWrite, sql);
    }
  });
});

describe('column references (for masking)', () => {
  const refs = (sql: string) => one(sql).columnRefs.refs.map((r) => `${r.qualifier ? `${r.qualifier}.` : ''}${r.column ?? '*'}${r.output ? '' : '!'}`).sort();

  test('bare columns of a top-level plain SELECT are output; everything else is a use', () => {
    assert.deepEqual(refs('SELECT c.ssn AS s, email, t.* FROM customers c JOIN t ON t.id = c.id WHERE c.x = 1 ORDER BY c.y'),
      ['c.id!', 'c.ssn', 'c.x!', 'c.y!', 'email', 't.*', 't.id!'].sort());
    assert.deepEqual(refs('SELECT length(ssn), ssn || email FROM customers'), ['email!', 'ssn!']);
    assert.deepEqual(refs('SELECT ssn FROM customers UNION SELECT x FROM t'), ['ssn!', 'x!']);
    assert.deepEqual(refs('SELECT DISTINCT ssn FROM customers'), ['ssn!']);
    assert.deepEqual(refs('SELECT * FROM (SELECT * FROM customers) s'), ['*', '*!']);
    assert.deepEqual(refs('SELECT 1 FROM t WHERE EXISTS (SELECT * FROM customers)'), [], 'an EXISTS select list is never output');
  });

  test('ORDER BY / GROUP BY an output position or alias is a use of that column', () => {
    assert.deepEqual(refs('SELECT id, ssn FROM customers ORDER BY 2'), ['id', 'ssn', 'ssn!']);
    assert.deepEqual(refs('SELECT ssn AS s FROM customers GROUP BY s'), ['s!', 'ssn', 'ssn!']);
    assert.deepEqual(refs('SELECT * FROM customers ORDER BY 3'), ['*', '*!']);
  });

  test('JOIN USING and NATURAL JOIN compare columns', () => {
    assert.deepEqual(refs('SELECT a.id FROM a JOIN b USING (ssn)'), ['a.id', 'ssn!']);
    assert.deepEqual(refs('SELECT a.id FROM a NATURAL JOIN b'), ['*!', 'a.id']);
  });

  test('sources give the aliases columns are qualified by', () => {
    assert.deepEqual(one('SELECT 1 FROM public.customers c(a, b), t').columnRefs.sources, [
      { schema: 'public', name: 'customers', alias: 'c', columns: ['a', 'b'] }, { schema: null, name: 't', alias: null, columns: [] },
    ]);
    assert.deepEqual(one('SELECT 1 FROM (a JOIN b USING (id)) AS j').columnRefs.sources.map((s) => `${s.name}:${s.alias}`),
      ['a:null', 'b:null', 'a:j', 'b:j']);
  });
});

describe('facts for the audit log', () => {
  test('one Facts for the whole query: most consequential effect, every target', () => {
    const facts = sqlFacts(analyzeSql('SELECT lower(x) FROM public.documents; EXPLAIN ANALYZE DELETE FROM t'), 'crm');
    assert.equal(facts.protocol, 'postgres');
    assert.equal(facts.connection, 'crm');
    assert.equal(facts.effect, 'write');
    assert.equal(facts.unknown, undefined);
    assert.deepEqual(facts.targets.filter((t) => t.kind !== 'statement').map((t) => `${t.kind}:${t.name}:${t.access}`).sort(), [
      'function:lower:execute', 'relation:public.documents:read', 'relation:t:delete',
    ]);
    assert.deepEqual(facts.targets.filter((t) => t.kind === 'statement').map((t) => t.name).sort(), ['delete', 'explain', 'select']);
  });

  test('an unknown statement makes the Facts unknown, with the reason', () => {
    const facts = sqlFacts(analyzeSql('SELECT 1; SELEC 2'), 'crm');
    assert.equal(facts.effect, 'unknown');
    assert.match(facts.unknown ?? '', /does not parse/);
  });
});
