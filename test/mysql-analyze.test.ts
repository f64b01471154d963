// The MySQL analyser's parts: the lexer (tokens, canonical text, its round trip, never a crash), the shape cache (sound
// whatever the constants), and the reply tracker's refusal of a server that asks the client for a file.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { lex, type LexMode, type ServerFlavor } from '../src/adapters/mysql/sql/lexer.ts';
import { analyzeMysql, analyzeUncached, loadParser, type SqlSession } from '../src/adapters/mysql/sql/analyze.ts';
import { ReplyTracker } from '../src/adapters/mysql/response.ts';
import { Capability } from '../src/adapters/mysql/codec/constants.ts';
import { ColumnType } from '../src/adapters/mysql/codec/constants.ts';
import { encodeColumnDefinition, encodeEof, encodeOk, encodeTextRow } from '../src/adapters/mysql/codec/results.ts';
import { ResultShaper } from '../src/adapters/mysql/shaper.ts';

await loadParser();

const plain: LexMode = { ansiQuotes: false, noBackslashEscapes: false };
const maria: ServerFlavor = { mariadb: true, version: 101119 };
const session: SqlSession = { database: 'shop', mode: plain, server: maria, caseSensitive: true, multiStatements: true };

const canonical = (sql: string, mode = plain, server = maria) => {
  const r = lex(sql, mode, server);
  return r.ok ? r.statements.map((s) => s.canonical) : r.reason;
};

describe('lexer', () => {
  test('canonical text: no comments, executable comments expanded, one quoting style, statements split', () => {
    assert.deepEqual(canonical("SELECT a -- x\n, 'it''s', \"q\\\"\", `b``c` /* c */ FROM t # y\n; SELECT 2"), ["SELECT a , 'it''s' , 'q\"' , `b``c` FROM t", 'SELECT 2']);
    assert.deepEqual(canonical('SELECT 1 /*!50000 + 2 */ /*!99999 + 3 */ /*M!100000 + 4 */'), ['SELECT 1 + 2 + 4']);
    assert.deepEqual(canonical('SELECT 1 /*M!100000 + 4 */', plain, { mariadb: false, version: 80036 }), ['SELECT 1']);
    assert.deepEqual(canonical('SELECT 1--1'), ['SELECT 1 - - 1']);
    assert.deepEqual(canonical('SELECT 1 --\n'), ['SELECT 1']);
    assert.deepEqual(canonical("SELECT _utf8mb4'x', _latin1 'y', N'z', X'41', 0x41, b'1', 1e3, .5, \\N"), ["SELECT _utf8mb4'x' , _latin1'y' , N'z' , X'41' , 0x41 , B'1' , 1e3 , .5 , NULL"]);
    assert.deepEqual(canonical('SELECT "a" FROM "t"', { ...plain, ansiQuotes: true }), ['SELECT `a` FROM `t`']);
    assert.deepEqual(canonical("SELECT 'a\\'b'", { ...plain, noBackslashEscapes: true }), 'unterminated literal', "'a\\' ends the string, then b' opens a bit literal");
    assert.deepEqual(canonical('SELECT @a, @`b`, @@session.sql_mode, db.t.c, 1abc, café'), ['SELECT @a , @b , @@session.sql_mode , db.t.c , `1abc` , `café`']);
    assert.deepEqual(canonical('SELECT a<=>b, c->>\'$.x\', d:=1'), ["SELECT a <=> b , c ->> '$.x' , d := 1"]);
  });

  test('what the lexer refuses, it says why', () => {
    assert.equal(canonical('SELECT 1 /* open'), 'unterminated comment');
    assert.equal(canonical("SELECT 'open"), 'unterminated string');
    assert.equal(canonical('SELECT `open'), 'unterminated quoted identifier');
    assert.equal(canonical('SELECT 1\0'), 'the query contains a NUL character');
    assert.match(String(canonical('SELECT /*!50000 1; */')), /inside an executable comment/);
    assert.match(String(canonical('SELECT /*+ SET_VAR(sql_mode=\'\') */ 1')), /SET_VAR/);
  });

  const sqlish = fc.array(fc.constantFrom(
    'SELECT', ' ', 'a', 'FROM', 't', "'", '"', '`', '\\', '-', '--', '#', '/*', '*/', '/*!', '/*!50000', '/*M!', '/*+', ';', '\n', '\r', '@',
    '@@', '.', '1', '0x', 'e', '(', ')', ',', '=', '<', '>', '!', '|', 'é', '\u00a0', 'N', 'X', 'b', '_utf8mb4', '?', ':',
  ), { maxLength: 30 }).map((parts) => parts.join(''));

  test('never throws, whatever the text', () => {
    fc.assert(fc.property(sqlish, fc.boolean(), fc.boolean(), (sql, ansiQuotes, noBackslashEscapes) => {
      const r = lex(sql, { ansiQuotes, noBackslashEscapes }, maria);
      assert.ok(r.ok || typeof r.reason === 'string');
    }), { numRuns: 3000 });
  });

  test('canonical text lexes back to itself: no other reading of it is left', () => {
    fc.assert(fc.property(sqlish, fc.boolean(), fc.boolean(), (sql, ansiQuotes, noBackslashEscapes) => {
      const r = lex(sql, { ansiQuotes, noBackslashEscapes }, maria);
      if (!r.ok) return;
      for (const statement of r.statements) {
        // Canonical strings escape backslashes, so they are read back with escapes on.
        const again = lex(statement.canonical, plain, maria);
        assert.ok(again.ok, `${JSON.stringify(statement.canonical)}: ${again.ok ? '' : again.reason}`);
        assert.equal(again.statements.length, 1);
        assert.equal(again.statements[0].canonical, statement.canonical);
      }
    }), { numRuns: 3000 });
  });
});

describe('shape cache', () => {
  const statements = [
    'SELECT c FROM sbtest1 WHERE id=5012',
    'SELECT c FROM sbtest1 WHERE id BETWEEN 100 AND 199 ORDER BY c',
    'SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN 1 AND 100 ORDER BY c',
    'SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN 1 AND 100',
    "SELECT email, name FROM customers WHERE name = 'x' ORDER BY 1",
    "SELECT email, name FROM customers WHERE name = 'x' ORDER BY 2 DESC, 1",
    'SELECT id, email FROM customers GROUP BY 2 LIMIT 5',
    "INSERT INTO orders (note) VALUES ('a'), ('b')",
    "UPDATE orders SET note = 'z' WHERE id = 3 ORDER BY id LIMIT 1",
    'DELETE FROM orders WHERE id IN (1, 2, 3)',
    "SELECT * FROM t WHERE a = X'41' AND b = 0x42 AND c = 1.5 AND d = 2e3",
  ];
  const vary = (sql: string) => sql.replace(/\b\d+(\.\d+)?\b/g, (n) => String(Number(n) + 7)).replace(/'[^']*'/g, "'other'");

  test('a statement served by its shape is the statement a fresh analysis finds', () => {
    for (const sql of statements) {
      analyzeMysql(sql, session); // fills the shape cache
      const variant = vary(sql);
      const served = analyzeUncached(variant, session);
      const fresh = analyzeUncached(variant, session, false);
      assert.deepEqual(served, fresh, variant);
    }
  });
});

describe('reply tracker', () => {
  test('a server that asks the client for a file (LOCAL INFILE) is answered "no file" and the client never sees it', () => {
    const tracker = new ReplyTracker('result', Capability.DEPRECATE_EOF);
    const step = tracker.next(Buffer.concat([Buffer.of(0xfb), Buffer.from('/etc/passwd')]));
    assert.equal(step.client, null);
    assert.deepEqual(step.upstream, Buffer.alloc(0));
    assert.equal(tracker.done, false);
    tracker.next(encodeOk({ affectedRows: 0 }));
    assert.equal(tracker.done, true);
    assert.equal(tracker.refusedLocalInfile, true);
  });

  test('max_rows drops the rows past the cap and says so with a warning on the result\'s end', () => {
    const shaper = new ResultShaper({ maxRows: 1, mask: { 'shop.customers.email': 'redact' } }, { caseSensitive: true }, Buffer.alloc(32), false);
    const tracker = new ReplyTracker('result', 0, shaper);
    tracker.next(Buffer.of(2));
    const column = (name: string) => encodeColumnDefinition({ schema: 'shop', table: 'c', orgTable: 'customers', name, orgName: name, charset: 45, length: 100, type: ColumnType.VAR_STRING, flags: 0, decimals: 0 });
    tracker.next(column('name'));
    tracker.next(column('email'));
    tracker.next(encodeEof());
    const first = tracker.next(encodeTextRow(['Ada', 'ada@example.com'])).client!;
    assert.ok(!first.toString().includes('ada@example.com'), 'masked by the column definition');
    assert.equal(tracker.next(encodeTextRow(['Grace', 'grace@example.com'])).client, null);
    const end = tracker.next(encodeEof(0x0002, 0)).client!;
    assert.equal(end.readUInt16LE(1), 1, 'one warning');
    assert.equal(tracker.done, true);
    const outcome = tracker.results[0] as { rows: number; dropped: number; sample: string[][] };
    assert.deepEqual([outcome.rows, outcome.dropped], [1, 1]);
    assert.ok(!JSON.stringify(outcome.sample).includes('ada@example.com'), 'the audit keeps the masked value');
  });
});
