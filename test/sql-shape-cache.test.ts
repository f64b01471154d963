// The analysis cache keyed by shape (constants replaced by placeholders) must give exactly what a fresh analysis gives,
// for every text: statements whose analysis reads a constant (ORDER BY 2, SET x = 'off') are never served from a shape.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { analyzeSql, analyzeSqlUncached, sqlShape } from '../src/adapters/postgres/sql/analyze.ts';

const same = (a: string, b: string) => assert.equal(sqlShape(a), sqlShape(b), `${a} / ${b}`);

test('texts differing only in literal values share a shape; literal types and everything else do not', () => {
  same('SELECT abalance FROM pgbench_accounts WHERE aid = 1', 'SELECT abalance FROM pgbench_accounts WHERE aid = 99');
  same("SELECT * FROM t WHERE name = 'ada' AND n > 1.5", "SELECT * FROM t WHERE name = 'it''s' AND n > 2e-3");
  same("INSERT INTO t VALUES ('--', '/*', ';')", "INSERT INTO t VALUES ('a', 'b', 'c')");
  assert.notEqual(sqlShape('SELECT 1'), sqlShape('SELECT 1.0'), 'ICONST and FCONST');
  assert.notEqual(sqlShape('SELECT 1'), sqlShape("SELECT '1'"));
  assert.notEqual(sqlShape('SELECT * FROM a WHERE x = 1'), sqlShape('SELECT * FROM b WHERE x = 1'));
  assert.notEqual(sqlShape('SELECT x FROM t'), sqlShape('SELECT "x" FROM t'));
  // Quotes and comment markers inside comments, strings and quoted identifiers do not confuse the lexer.
  assert.equal(sqlShape("SELECT 1 -- it's\n, 'a' /* 'x' /* 2 */ */ FROM \"we'ird\""), "SELECT \u0001 -- it's\n, \u0002 /* 'x' /* 2 */ */ FROM \"we'ird\"");
  // Parameters and large integers stay as written.
  assert.equal(sqlShape('SELECT $1, 12345678901, 123456789'), 'SELECT $1, 12345678901, \u0001');
});

test('no shape for anything whose lexing depends on a literal or a setting', () => {
  for (const text of [
    "SELECT E'a\\nb'", "SELECT e'x'", "SELECT B'101'", "SELECT X'ff'", "SELECT N'x'", "SELECT U&'d\\0061t'",
    'SELECT U&"d!0061t" UESCAPE \'!\'', "SELECT 'a\\'", 'SELECT $$x$$', 'SELECT $tag$x$tag$', "SELECT 'open", 'SELECT "open',
    'SELECT /* open', 'SELECT 1abc', 'SELECT 0x1F', 'SELECT 1_000', 'SELECT 1.2.3', 'SELECT 1..2', 'SELECT 1e', 'SELECT 1e+',
    "SELECT date'2024-01-01'", 'SELECT \u0001', 'SELECT \u0000',
  ]) assert.equal(sqlShape(text), undefined, text);
});

test('a constant that the analysis reads is never served from another text of its shape', () => {
  // ORDER BY / GROUP BY positions name output columns: the masked column depends on the number.
  for (const [a, b] of [
    ['SELECT name, ssn FROM customers ORDER BY 1', 'SELECT name, ssn FROM customers ORDER BY 2'],
    ['SELECT name, ssn FROM customers GROUP BY 1, 2 ORDER BY 2', 'SELECT name, ssn FROM customers GROUP BY 2, 1 ORDER BY 1'],
    ["SET default_transaction_read_only = 'on'", "SET default_transaction_read_only = 'off'"],
    ["SET statement_timeout = '1s'", "SET search_path = 'evil'"],
    ['BEGIN; SET TRANSACTION READ ONLY', 'BEGIN; SET TRANSACTION READ WRITE'],
  ]) {
    analyzeSql(a);
    assert.deepEqual(analyzeSql(b), analyzeSqlUncached(b), b);
    analyzeSql(b);
    assert.deepEqual(analyzeSql(a), analyzeSqlUncached(a), a);
  }
});

test('a statement served from its shape carries its own text', () => {
  analyzeSql('SELECT abalance FROM pgbench_accounts WHERE aid = 1;');
  const hit = analyzeSql('  SELECT abalance FROM pgbench_accounts WHERE aid = 2;');
  assert.equal(hit.text, '  SELECT abalance FROM pgbench_accounts WHERE aid = 2;');
  assert.equal(hit.statements[0].text, 'SELECT abalance FROM pgbench_accounts WHERE aid = 2');
  assert.ok(Object.isFrozen(hit) && Object.isFrozen(hit.statements) && Object.isFrozen(hit.statements[0]));
});

/** Statements of the bypass suite (which only ever grows) and more: constants in every clause. */
function corpus(): string[] {
  const own = [
    'SELECT abalance FROM pgbench_accounts WHERE aid = 1', 'UPDATE pgbench_accounts SET abalance = abalance + -5 WHERE aid = 3;',
    'INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 2, 3, 4, CURRENT_TIMESTAMP);',
    "SELECT * FROM customers WHERE email LIKE '%@example.com' LIMIT 10 OFFSET 5", 'SELECT name, email FROM customers ORDER BY 2 DESC',
    'SELECT name, count(*) FROM customers GROUP BY 1', 'SELECT * FROM customers c ORDER BY c.id LIMIT 3',
    "SELECT id, row_number() OVER (PARTITION BY 1 ORDER BY 2) FROM tickets", "SELECT * FROM tickets WHERE status IN ('open', 'closed') AND id > 7",
    "SELECT (SELECT ssn FROM customers WHERE id = 1) AS x FROM documents WHERE id = 2", "SELECT '2024-01-01'::date + interval '1 day', 1.5 * 2, -3",
    "UPDATE tickets SET subject = 'x', status = 'done' WHERE id = 4 RETURNING id", "DELETE FROM tickets WHERE id = 9",
    "WITH t AS (SELECT * FROM customers WHERE id = 1) SELECT email FROM t WHERE name <> 'x'", "INSERT INTO tickets (customer_id, subject) SELECT 1, 'a' FROM customers LIMIT 1",
    "MERGE INTO tickets t USING customers c ON t.customer_id = c.id WHEN MATCHED AND c.id > 5 THEN UPDATE SET subject = 'm'",
    "SELECT ssn FROM customers WHERE id = ANY (ARRAY[1, 2, 3])", "SELECT jsonb_build_object('a', 1) -> 'a'", "SELECT * FROM customers WHERE id = $1 AND name = 'x'",
    "SELECT * FROM customers FETCH FIRST 5 ROWS ONLY", "SELECT 1", "SELECT 'secrets'::regclass", "SELECT * FROM documents TABLESAMPLE SYSTEM (10) REPEATABLE (7)",
    "SELECT name FROM customers ORDER BY name COLLATE \"C\" LIMIT 2", "SELECT string_agg(name, ',' ORDER BY 1) FROM customers",
  ];
  const bypass = readFileSync(new URL('./sql-bypass.test.ts', import.meta.url), 'utf8');
  const rows = [...bypass.matchAll(/^\s*\[\s*'\w+'\s*,\s*('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")/gm)].map((m) => m[1]);
  const decoded = rows.map(unescapeJs);
  assert.ok(decoded.length > 100, `the bypass suite should give over 100 statements, got ${decoded.length}`);
  return [...own, ...decoded];
}

/** The value of a JS string literal as written in the bypass suite ('...' or "..."). */
function unescapeJs(literal: string): string {
  const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '0': '\0', b: '\b', f: '\f', v: '\v' };
  return literal.slice(1, -1).replace(/\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|.)/g, (_, e: string) =>
    e.length > 1 ? String.fromCharCode(parseInt(e.slice(1), 16)) : simple[e] ?? e);
}

/** Fills a shape's placeholders with other values of the same token type. */
function fill(shape: string, round: number): string {
  const ints = ['0', '1', '2', '3', '7', '42', '999999999'];
  const strings = ["''", "'x'", "'secrets'", "'off'", "'on'", "'public.secrets'", "'DROP TABLE x; --'", "'it''s'", "'/*'"];
  const decimals = ['0.5', '2.5e3', '.1', '1.'];
  let k = round;
  return shape.replace(/[\u0001\u0002\u0003]/g, (p) => {
    k++;
    const list = p === '\u0001' ? ints : p === '\u0002' ? strings : decimals;
    return list[(k * 7 + round) % list.length];
  });
}

test('over the SQL corpus, every text served from a shape equals its fresh analysis', () => {
  let shaped = 0;
  let served = 0;
  for (const sql of corpus()) {
    const shape = sqlShape(sql);
    analyzeSql(sql); // seeds the shape, if its analysis may serve the shape
    if (shape === undefined) continue;
    shaped++;
    for (let round = 0; round < 6; round++) {
      const variant = fill(shape, round);
      assert.equal(sqlShape(variant), shape, `filled shape lexes back to itself: ${variant}`);
      const cached = analyzeSql(variant);
      assert.deepEqual(cached, analyzeSqlUncached(variant), variant);
      if (cached !== analyzeSql(variant)) served++; // a shape hit builds a new analysis each time; an exact hit does not
    }
  }
  assert.ok(shaped > 100, `expected most of the corpus to have a shape, got ${shaped}`);
  assert.ok(served > 100, `expected many variants to be served from a shape, got ${served}`);
});
