// THE adversarial MySQL/MariaDB suite: every statement here tries to get past a narrow grant and must be refused by the
// named rule; every twin below must pass. This file only ever grows: add a row per escape found. The lexer's reading is
// also checked against the real server: whenever MariaDB reads a table, the analysis names it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import { analyzeMysql, loadParser, type SqlSession } from '../src/adapters/mysql/sql/analyze.ts';
import { mysqlCatalog } from '../src/adapters/mysql/sql/catalog.ts';
import type { SqlStatement } from '../src/services/policy/sql/facts.ts';
import { sqlGrant } from '../src/config/schema.ts';
import { decideSqlAll } from '../src/services/policy/sql/decide.ts';

await loadParser();

const mariadb: SqlSession = {
  database: 'shop', mode: { ansiQuotes: false, noBackslashEscapes: false }, server: { mariadb: true, version: 101119 },
  caseSensitive: true, multiStatements: true,
};
const ansi: SqlSession = { ...mariadb, mode: { ansiQuotes: true, noBackslashEscapes: false } };
const noBackslash: SqlSession = { ...mariadb, mode: { ansiQuotes: false, noBackslashEscapes: true } };
const mysql8: SqlSession = { ...mariadb, server: { mariadb: false, version: 80036 } };
const caseInsensitive: SqlSession = { ...mariadb, caseSensitive: false };
const single: SqlSession = { ...mariadb, multiStatements: false };
const sessions = { mariadb, ansi, noBackslash, mysql8, caseInsensitive, single };
type SessionName = keyof typeof sessions;

const grants = {
  readonly: sqlGrant.parse({ read: ['orders', 'products'] }),
  analyst: sqlGrant.parse({ read: ['orders', 'products', 'customers'], mask: { 'customers.email': 'partial' } }),
  writer: sqlGrant.parse({ read: ['orders', 'products'], write: ['orders'] }),
  insertOnly: sqlGrant.parse({ read: ['orders'], insert: ['orders'] }),
};
type GrantName = keyof typeof grants;

const catalog = mysqlCatalog('shop');
const decide = (grant: GrantName, sql: string, session: SessionName = 'mariadb', prepared: ReadonlyMap<string, SqlStatement> = new Map()) =>
  decideSqlAll(analyzeMysql(sql, sessions[session]), { role: grant, connection: 'shop', grant: grants[grant], catalog, prepared });

/** [grant, statement, the rule that must refuse it, why it is a bypass attempt, session]. */
const bypasses: [GrantName, string, string, string, SessionName?][] = [
  // Comments the server reads differently from a naive lexer
  ['readonly', 'SELECT * FROM products /*!50000 UNION SELECT * FROM customers */', 'sql.relation.read', 'executable comment runs on the server'],
  ['readonly', 'SELECT * FROM products /*!UNION SELECT * FROM customers */', 'sql.relation.read', 'executable comment without a version'],
  ['readonly', 'SELECT * FROM products /*M!100000 UNION SELECT * FROM customers */', 'sql.relation.read', "MariaDB's /*M! executable comment"],
  ['readonly', 'SELECT * FROM products /*!100000 UNION SELECT * FROM customers */', 'sql.relation.read', 'six-digit MariaDB version'],
  ['readonly', 'SELECT * FROM products /*!80000 UNION SELECT * FROM customers */', 'sql.relation.read', 'MySQL 8 runs a 5.7+ versioned comment', 'mysql8'],
  ['readonly', 'SELECT 1 --1 FROM customers', 'sql.relation.read', '`--1` is minus minus one, not a comment'],
  ['readonly', 'SELECT * FROM products --\tx\nUNION SELECT * FROM customers', 'sql.relation.read', 'a `-- ` comment ends at the newline'],
  ['readonly', 'SELECT * FROM products # x\nUNION SELECT * FROM customers', 'sql.relation.read', 'a # comment ends at the newline'],
  ['readonly', 'SELECT * FROM products /*!50000 ; DROP TABLE orders */', 'sql.unknown', 'a statement separator inside an executable comment'],
  ['readonly', 'SELECT * FROM products /*!50000 /*!50000 UNION SELECT * FROM customers */ */', 'sql.unknown', 'nested executable comments'],
  ['readonly', 'SELECT /*+ SET_VAR(sql_mode=\'ANSI_QUOTES\') */ * FROM products', 'sql.unknown', 'optimizer hint that changes sql_mode'],
  ['readonly', 'SELECT * FROM products /* unterminated', 'sql.unknown', 'unterminated comment'],
  // Strings, escapes and quoting modes
  ['readonly', "SELECT * FROM products WHERE name = 'a\\' UNION SELECT * FROM customers -- '", 'sql.relation.read', 'NO_BACKSLASH_ESCAPES ends the string at the backslash', 'noBackslash'],
  ['readonly', "SELECT * FROM products WHERE name = 'x\\'; DROP TABLE orders; -- '", 'sql.statement.ddl', 'a second statement once backslashes are literal', 'noBackslash'],
  ['readonly', 'SELECT * FROM "customers"', 'sql.relation.read', 'ANSI_QUOTES makes "x" an identifier', 'ansi'],
  ['readonly', "SELECT * FROM products WHERE name = 'unterminated", 'sql.unknown', 'unterminated string'],
  ['readonly', 'SELECT 1\0; DROP TABLE orders', 'sql.unknown', 'NUL inside the query'],
  ['readonly', 'SET sql_mode = \'ANSI_QUOTES\'; SELECT * FROM "customers"', 'sql.unknown', 'sql_mode changed mid-query'],
  ['readonly', "SET sql_mode = 'ORACLE'", 'sql.unknown', "MariaDB's Oracle mode changes the grammar"],
  ['readonly', "SET sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')", 'sql.unknown', 'sql_mode from an expression'],
  ['readonly', "SET SESSION sql_mode = 'MSSQL'", 'sql.unknown', 'MSSQL mode adds [bracket] quoting'],
  ['readonly', 'SET NAMES gbk', 'sql.unknown', 'a client character set whose multibyte characters can hide a quote'],
  ['readonly', 'SET character_set_client = sjis', 'sql.unknown', 'the same through the variable'],
  // Databases and qualification
  ['readonly', 'USE other_db; SELECT * FROM orders', 'sql.relation.read', 'USE makes unqualified names mean another database'],
  ['readonly', 'SELECT * FROM other_db.orders', 'sql.relation.read', 'db.table qualification'],
  ['readonly', 'SELECT * FROM `shop` . `customers`', 'sql.relation.read', 'quoted and spaced qualification'],
  ['readonly', 'SELECT * FROM ORDERS', 'sql.relation.read', 'another table when names are case-sensitive'],
  ['readonly', 'SELECT * FROM CUSTOMERS', 'sql.relation.read', 'case-folded when names are not', 'caseInsensitive'],
  // Files, sleeping, locks, code
  ['readonly', "SELECT * FROM orders INTO OUTFILE '/tmp/gh_mysql_out'", 'sql.unknown', 'SELECT ... INTO OUTFILE'],
  ['readonly', "SELECT * FROM orders INTO DUMPFILE '/tmp/gh_mysql_out'", 'sql.unknown', 'SELECT ... INTO DUMPFILE'],
  ['readonly', "SELECT LOAD_FILE('/etc/passwd')", 'sql.function.volatile', 'LOAD_FILE reads server files'],
  ['readonly', 'SELECT SLEEP(10)', 'sql.function.volatile', 'SLEEP holds a connection'],
  ['readonly', "SELECT BENCHMARK(1000000000, MD5('x'))", 'sql.function.volatile', 'BENCHMARK burns CPU'],
  ['readonly', "SELECT GET_LOCK('x', 10)", 'sql.function.volatile', 'GET_LOCK takes a server-wide lock'],
  ['readonly', 'DO SLEEP(5)', 'sql.function.volatile', 'DO evaluates functions too'],
  ['readonly', 'SELECT my_udf(id) FROM orders', 'sql.function.user', 'a user-defined or stored function'],
  ['readonly', 'SELECT shop.my_func(1)', 'sql.function.user', 'a qualified stored function'],
  ['readonly', 'CALL refund_all()', 'sql.statement.call', 'a stored procedure'],
  ['readonly', 'HANDLER customers OPEN', 'sql.unknown', 'HANDLER reads rows outside SELECT'],
  ['readonly', 'HANDLER orders READ FIRST', 'sql.unknown', 'HANDLER ... READ'],
  ["readonly", "LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE orders", 'sql.unknown', 'LOAD DATA LOCAL'],
  ['readonly', "LOAD DATA INFILE '/etc/passwd' INTO TABLE orders", 'sql.unknown', 'LOAD DATA from a server file'],
  // SQL text the gateway cannot see
  ['readonly', 'PREPARE s FROM @q', 'sql.unknown', 'PREPARE from a variable'],
  ['readonly', "SET @q = 'SELECT * FROM customers'; PREPARE s FROM @q; EXECUTE s", 'sql.unknown', 'the same, built in one query'],
  ['readonly', "PREPARE s FROM 'SELECT * FROM customers'", 'sql.relation.read', 'PREPARE is judged by what it prepares'],
  ['readonly', 'EXECUTE never_prepared', 'sql.execute.unknown', 'EXECUTE of a name never prepared through Gatehouse'],
  ['readonly', "EXECUTE IMMEDIATE 'DROP TABLE orders'", 'sql.unknown', "MariaDB's EXECUTE IMMEDIATE"],
  ['readonly', 'BEGIN NOT ATOMIC DELETE FROM orders; END', 'sql.unknown', "MariaDB's anonymous block"],
  ['readonly', 'IF 1 = 1 THEN DELETE FROM orders; END IF', 'sql.unknown', 'compound statement outside a stored program'],
  ['readonly', 'SET STATEMENT max_statement_time = 1 FOR DELETE FROM orders', 'sql.unknown', 'SET STATEMENT ... FOR'],
  // Server and session state
  ['readonly', 'SET @@global.read_only = 0', 'sql.statement.alter_system', 'a global variable'],
  ['readonly', 'SET GLOBAL general_log = 1', 'sql.statement.alter_system', 'a global variable by keyword'],
  ['readonly', 'SET PERSIST max_connections = 1', 'sql.statement.alter_system', 'a persisted variable'],
  ['readonly', 'SET SESSION TRANSACTION READ WRITE', 'sql.session.read_write', 'turning the read-only backstop off'],
  ['readonly', 'SET TRANSACTION READ WRITE', 'sql.session.read_write', 'the next transaction read-write'],
  ['readonly', 'START TRANSACTION READ WRITE', 'sql.session.read_write', 'a read-write transaction'],
  ['readonly', 'START TRANSACTION WITH CONSISTENT SNAPSHOT, READ WRITE', 'sql.session.read_write', 'READ WRITE after another option'],
  ['readonly', 'SET SESSION transaction_read_only = 0', 'sql.session.read_write', 'the variable behind the backstop'],
  ['readonly', 'SET @@session.tx_read_only = OFF', 'sql.session.read_write', 'its older name'],
  ['readonly', 'SET foreign_key_checks = 0', 'sql.statement.set', 'a setting outside the safe list'],
  ['readonly', 'LOCK TABLES orders READ', 'sql.statement.lock', 'LOCK TABLES'],
  ['readonly', "XA START 'x'", 'sql.statement.two_phase', 'XA transactions outlive the session'],
  ['readonly', 'KILL 1', 'sql.unknown', 'KILL another session'],
  ['readonly', 'FLUSH PRIVILEGES', 'sql.unknown', 'server administration'],
  ['readonly', 'SHUTDOWN', 'sql.unknown', 'server administration'],
  ['readonly', 'SET PASSWORD = PASSWORD(\'x\')', 'sql.statement.grant', 'changing the upstream password'],
  ["readonly", "GRANT ALL ON *.* TO 'x'@'%'", 'sql.statement.grant', 'GRANT'],
  ['readonly', "CREATE USER 'x'@'%'", 'sql.statement.grant', 'CREATE USER'],
  ['readonly', 'DROP TABLE orders', 'sql.statement.ddl', 'DDL'],
  ['readonly', 'SELECT * FROM orders; DROP TABLE orders', 'sql.statement.ddl', 'DDL as the second statement'],
  ['readonly', 'CREATE TABLE x AS SELECT * FROM customers', 'sql.statement.ddl', 'DDL that copies a table'],
  ['writer', 'TRUNCATE orders', 'sql.statement.truncate', 'TRUNCATE is not DELETE'],
  ['readonly', 'SELECT * FROM orders; SELECT * FROM products', 'sql.unknown', 'several statements without multi-statements enabled', 'single'],
  // Catalogs
  ['readonly', 'SELECT * FROM information_schema.processlist', 'sql.relation.catalog', "other sessions' statements"],
  ['readonly', 'SELECT * FROM INFORMATION_SCHEMA.PROCESSLIST', 'sql.relation.catalog', 'the same in upper case'],
  ['readonly', 'SELECT * FROM information_schema.innodb_trx', 'sql.relation.catalog', "other sessions' transactions and queries"],
  ['readonly', 'SELECT * FROM performance_schema.events_statements_history', 'sql.relation.read', 'performance_schema'],
  ['readonly', 'SELECT * FROM mysql.user', 'sql.relation.read', 'password hashes'],
  ['readonly', 'SELECT * FROM sys.session', 'sql.relation.read', 'the sys schema'],
  ['readonly', 'SHOW GRANTS', 'sql.unknown', 'the upstream account\'s privileges'],
  ['readonly', 'SHOW PROCESSLIST', 'sql.unknown', 'other sessions'],
  ['readonly', 'SHOW FULL PROCESSLIST', 'sql.unknown', "other sessions' full statements"],
  ['readonly', 'SHOW ENGINE INNODB STATUS', 'sql.unknown', 'server internals with recent statements'],
  ['readonly', 'SHOW TABLES WHERE (SELECT COUNT(*) FROM customers) > 0', 'sql.unknown', 'a subquery inside SHOW ... WHERE'],
  // Writes hidden in other shapes
  ['readonly', 'REPLACE INTO orders VALUES (1)', 'sql.relation.write', 'REPLACE'],
  ['insertOnly', 'REPLACE INTO orders VALUES (1)', 'sql.relation.write', 'REPLACE also deletes'],
  ['insertOnly', 'INSERT INTO orders (id) VALUES (1) ON DUPLICATE KEY UPDATE id = id + 1', 'sql.relation.write', 'ON DUPLICATE KEY UPDATE updates'],
  ['writer', "UPDATE orders o JOIN products p ON o.pid = p.id SET p.name = 'x'", 'sql.relation.write', 'multi-table UPDATE writing the joined table'],
  ['writer', "UPDATE orders o JOIN products p ON o.pid = p.id SET name = 'x'", 'sql.relation.write', 'an unqualified column in a multi-table UPDATE'],
  ['writer', 'DELETE o, p FROM orders o JOIN products p ON o.pid = p.id', 'sql.relation.write', 'multi-table DELETE'],
  ['writer', 'DELETE FROM products USING products JOIN orders ON products.id = orders.pid', 'sql.relation.write', 'DELETE ... USING'],
  ['readonly', 'SELECT * FROM orders FOR UPDATE', 'sql.relation.write', 'locking read'],
  ['readonly', 'SELECT * FROM orders LOCK IN SHARE MODE', 'sql.relation.write', 'locking read, older spelling'],
  ['readonly', 'WITH x AS (SELECT * FROM customers) SELECT * FROM x', 'sql.relation.read', 'a CTE reading another table'],
  ['readonly', 'SELECT * FROM products UNION ALL SELECT * FROM customers', 'sql.relation.read', 'UNION'],
  ['readonly', 'SELECT (SELECT email FROM customers LIMIT 1) FROM products', 'sql.relation.read', 'scalar subquery'],
  ['readonly', 'SELECT * FROM products WHERE EXISTS (SELECT 1 FROM customers)', 'sql.relation.read', 'EXISTS'],
  ['readonly', 'SELECT * FROM products, LATERAL (SELECT * FROM customers) x', 'sql.relation.read', 'LATERAL'],
  ['readonly', 'SET @x = (SELECT email FROM customers LIMIT 1)', 'sql.relation.read', 'a subquery in a variable assignment'],
  ['readonly', 'EXPLAIN SELECT * FROM customers', 'sql.relation.read', 'EXPLAIN is judged by what it explains'],
  ['readonly', 'ANALYZE SELECT * FROM customers', 'sql.relation.read', "MariaDB's ANALYZE runs the statement"],
  ['readonly', 'TABLE customers', 'sql.unknown', 'the TABLE statement'],
  // Masked columns where column definitions cannot carry the source
  ['analyst', 'SELECT CONCAT(email) FROM customers', 'sql.mask.reference', 'masked column in an expression'],
  ['analyst', "SELECT id FROM customers WHERE email LIKE 'a%'", 'sql.mask.reference', 'masked column in a filter'],
  ['analyst', 'SELECT email FROM customers ORDER BY 1', 'sql.mask.reference', 'sorting by position'],
  ['analyst', 'SELECT email AS e FROM customers ORDER BY e', 'sql.mask.reference', 'sorting by alias'],
  ['analyst', 'SELECT * FROM (SELECT email FROM customers) d', 'sql.mask.reference', 'derived table'],
  ['analyst', 'WITH x AS (SELECT email FROM customers) SELECT * FROM x', 'sql.mask.reference', 'CTE'],
  ['analyst', 'SELECT email FROM customers UNION SELECT name FROM products', 'sql.mask.reference', 'UNION result columns have no source'],
  ['analyst', 'SELECT DISTINCT email FROM customers', 'sql.mask.reference', 'DISTINCT'],
  ['analyst', "SELECT JSON_OBJECT('e', email) FROM customers", 'sql.mask.reference', 'wrapped in JSON'],
  ['analyst', 'SET @e = (SELECT email FROM customers LIMIT 1)', 'sql.mask.reference', 'into a variable'],
  ['analyst', 'SELECT ROW_NUMBER() OVER (ORDER BY email) FROM customers', 'sql.mask.reference', 'window ordering'],
  ['analyst', 'SELECT id FROM customers c WHERE id IN (SELECT id FROM customers WHERE email = \'x\')', 'sql.mask.reference', 'subquery filter'],
  ['analyst', 'SELECT CONCAT("email") FROM customers', 'sql.mask.reference', 'ANSI_QUOTES turns the string into the column', 'ansi'],
];

/** [grant, statement, why it must pass, session]. */
const twins: [GrantName, string, string, SessionName?][] = [
  ['readonly', 'SELECT * FROM products /*!99999 UNION SELECT * FROM customers */', 'a comment for a newer server is a comment'],
  ['readonly', 'SELECT * FROM products /*!50700 UNION SELECT * FROM customers */', 'MariaDB skips MySQL 5.7+ versioned comments'],
  ['readonly', 'SELECT * FROM products /*M!100000 UNION SELECT * FROM customers */', 'MySQL reads /*M! as a plain comment', 'mysql8'],
  ['readonly', 'SELECT * FROM products /*!50000 WHERE id > 1 */', 'a harmless executable comment'],
  ['readonly', 'SELECT * FROM products -- UNION SELECT * FROM customers', 'a real comment'],
  ['readonly', 'SELECT * FROM products # UNION SELECT * FROM customers', 'a real # comment'],
  ['readonly', 'SELECT * FROM products #\r UNION SELECT * FROM customers', 'a carriage return does not end a # comment'],
  ['readonly', 'SELECT * FROM products /*!99999 /* inner */ UNION SELECT * FROM customers */', 'one nested comment inside a skipped versioned comment'],
  ['readonly', 'SELECT /*+ MAX_EXECUTION_TIME(1000) */ * FROM products', 'an optimizer hint'],
  ['readonly', "SELECT * FROM products WHERE name = 'a\\' UNION SELECT * FROM customers -- '", 'with backslash escapes it is one string'],
  ['readonly', "SELECT * FROM products WHERE name = 'x'' UNION SELECT * FROM customers -- '", 'a doubled quote stays inside the string'],
  ['readonly', 'SELECT * FROM products WHERE name = "customers"', 'without ANSI_QUOTES "x" is a string'],
  ['readonly', 'SET sql_mode = \'NO_BACKSLASH_ESCAPES,STRICT_TRANS_TABLES\'', 'a literal sql_mode is tracked'],
  ['readonly', 'SET NAMES utf8mb4', 'the character set Gatehouse reads'],
  ['readonly', "SET NAMES 'utf8mb4' COLLATE 'utf8mb4_unicode_ci'", 'with a UTF-8 collation'],
  ['readonly', 'USE shop; SELECT * FROM orders', 'USE of the served database'],
  ['readonly', 'SELECT * FROM shop.orders', 'qualified with the served database'],
  ['readonly', 'SELECT * FROM ORDERS', 'case-folded names', 'caseInsensitive'],
  ['readonly', "SELECT CONCAT(name, '!'), UPPER(name), NOW(), RAND(), UUID() FROM products", 'harmless built-ins'],
  ['readonly', 'DO 1', 'DO without functions'],
  ['readonly', "PREPARE s FROM 'SELECT * FROM orders WHERE id = ?'", 'PREPARE of a granted read'],
  ['readonly', 'SET SESSION TRANSACTION READ ONLY', 'asking for what the backstop does'],
  ['readonly', 'SET TRANSACTION ISOLATION LEVEL READ COMMITTED', 'isolation'],
  ['readonly', 'START TRANSACTION READ ONLY', 'a read-only transaction'],
  ['readonly', 'BEGIN', 'a transaction'],
  ['readonly', 'COMMIT', 'commit'],
  ['readonly', 'SET autocommit = 1, time_zone = \'+00:00\'', 'harmless session settings'],
  ['readonly', 'SET @x = 1, @y := 2', 'user variables'],
  ['readonly', 'SELECT * FROM information_schema.tables WHERE table_schema = DATABASE()', 'introspection ORMs need'],
  ['readonly', 'SELECT COLUMN_NAME FROM INFORMATION_SCHEMA.COLUMNS', 'introspection in upper case'],
  ['readonly', 'SHOW TABLES', 'SHOW TABLES'],
  ['readonly', 'SHOW FULL COLUMNS FROM orders', 'SHOW COLUMNS'],
  ['readonly', 'SHOW VARIABLES LIKE \'sql_mode\'', 'SHOW VARIABLES'],
  ['readonly', 'DESCRIBE orders', 'DESCRIBE'],
  ['readonly', 'WITH customers AS (SELECT * FROM orders) SELECT * FROM customers', 'a CTE shadows the table of its name'],
  ['readonly', 'SELECT ROW_NUMBER() OVER (PARTITION BY pid ORDER BY id) FROM orders', 'window functions'],
  ['readonly', 'SELECT 0x41, X\'41\', b\'1\', N\'x\', _utf8mb4\'x\' COLLATE utf8mb4_bin', 'literals of every kind'],
  ['writer', 'REPLACE INTO orders VALUES (1)', 'REPLACE with write'],
  ['writer', 'INSERT INTO orders (id) VALUES (1) ON DUPLICATE KEY UPDATE id = id + 1', 'upsert with write'],
  ['writer', 'UPDATE orders o JOIN products p ON o.pid = p.id SET o.note = p.name', 'multi-table UPDATE writing the granted table'],
  ['writer', 'DELETE o FROM orders o JOIN products p ON o.pid = p.id', 'multi-table DELETE of the granted table'],
  ['writer', 'SELECT * FROM orders FOR UPDATE', 'locking read with write'],
  ['writer', 'SELECT * FROM orders WHERE id = 1 LOCK IN SHARE MODE', 'shared locking read with write'],
  ['insertOnly', 'INSERT INTO orders (id) VALUES (1)', 'insert only'],
  ['analyst', 'SELECT email FROM customers', 'a masked column selected directly (masked by its column definition)'],
  ['analyst', 'SELECT c.email, c.id FROM customers c WHERE c.id > 1 ORDER BY c.id', 'filters and sorts on other columns'],
  ['analyst', 'SELECT * FROM customers', 'star at the top level'],
  ['analyst', 'SELECT COUNT(*) FROM customers', 'counting rows'],
  ['analyst', 'SELECT CONCAT("email") FROM customers', 'without ANSI_QUOTES it is a string constant'],
];

describe('MySQL bypass attempts are refused by the named rule', () => {
  for (const [grant, sql, rule, why, session] of bypasses) {
    test(`${why}: ${JSON.stringify(sql).slice(0, 90)}`, () => {
      const verdict = decide(grant, sql, session);
      assert.equal(verdict.kind, 'deny', `${sql} was allowed`);
      if (verdict.kind === 'deny') assert.equal(verdict.rule, rule, verdict.message);
    });
  }
});

describe('their twins pass', () => {
  for (const [grant, sql, why, session] of twins) {
    test(`${why}: ${JSON.stringify(sql).slice(0, 90)}`, () => {
      const verdict = decide(grant, sql, session);
      assert.notEqual(verdict.kind, 'deny', verdict.kind === 'deny' ? `${verdict.rule}: ${verdict.message}` : '');
    });
  }
});

describe('statements served from the shape cache', () => {
  // Differs from the original only in its constants: the same shape, so the analysis comes from the cache.
  const vary = (sql: string) => sql.replace(/\b\d+\b/g, (n) => String(Number(n) + 11)).replace(/'[^']*'/g, "'zz'");
  test('a refused statement is refused again, by the same rule, when its shape is cached', () => {
    for (const [grant, sql, session] of [
      ['readonly', 'SELECT * FROM customers WHERE id = 1', 'single'],
      ['analyst', "SELECT name FROM customers WHERE email = 'a@b.c'", 'single'],
      ['analyst', 'SELECT name FROM customers ORDER BY email LIMIT 3', 'single'],
      ['writer', 'DELETE FROM products WHERE id = 4', 'single'],
    ] as const) {
      const first = decide(grant, sql, session);
      assert.equal(first.kind, 'deny', sql);
      for (const variant of [vary(sql), vary(vary(sql))]) {
        const again = decide(grant, variant, session);
        assert.deepEqual(again.kind === 'deny' && again.rule, first.kind === 'deny' && first.rule, variant);
      }
    }
  });
  test('a masked column is still masked: the obligations travel with every text of the shape', () => {
    const sql = 'SELECT email, name FROM customers WHERE id = 7';
    const first = decide('analyst', sql, 'single');
    assert.equal(first.kind, 'allow');
    const again = decide('analyst', vary(sql), 'single');
    assert.equal(again.kind, 'allow');
    assert.deepEqual(again.kind === 'allow' && again.obligations.mask, first.kind === 'allow' && first.obligations.mask);
    assert.ok(first.kind === 'allow' && Object.keys(first.obligations.mask ?? {}).some((k) => k.endsWith('customers.email')), 'the email mask is an obligation');
  });
  test('the text each analysis carries is its own, not the cached statement\'s', () => {
    const a = analyzeMysql('SELECT name FROM products WHERE id = 1', single);
    const b = analyzeMysql('SELECT name FROM products WHERE id = 2', single);
    assert.equal(b.text, 'SELECT name FROM products WHERE id = 2');
    assert.equal(b.statements[0].text, 'SELECT name FROM products WHERE id = 2');
    assert.notEqual(a.statements[0].text, b.statements[0].text);
  });
});

describe('prepared statements across queries', () => {
  test('EXECUTE is judged by what PREPARE prepared', () => {
    const prepared = analyzeMysql("PREPARE s FROM 'SELECT * FROM orders'", mariadb).statements[0];
    assert.equal(decide('readonly', 'EXECUTE s', 'mariadb', new Map([['s', prepared.inner!]])).kind, 'allow');
    const sneaky = analyzeMysql("PREPARE s FROM 'DELETE FROM orders'", mariadb).statements[0];
    const verdict = decide('readonly', 'EXECUTE s', 'mariadb', new Map([['s', sneaky.inner!]]));
    assert.equal(verdict.kind === 'deny' && verdict.rule, 'sql.relation.write');
  });
});

describe('the lexer reads what MariaDB reads', () => {
  const db = `gh_mysql_bypass${process.env.GATEHOUSE_TEST_DB_SUFFIX ?? ''}`;
  let conn: mysql.Connection;
  before(async () => {
    conn = await mysql.createConnection({ host: '127.0.0.1', user: 'root', multipleStatements: true });
    await conn.query(`DROP DATABASE IF EXISTS ${db}; CREATE DATABASE ${db}; USE ${db};
      CREATE TABLE products (id INT PRIMARY KEY, name VARCHAR(50)); CREATE TABLE customers (id INT PRIMARY KEY, email VARCHAR(50));
      INSERT INTO products VALUES (1, 'lamp'), (2, 'desk'); INSERT INTO customers VALUES (1, 'secret@example.com');`);
  });
  after(async () => {
    await conn.query(`DROP DATABASE IF EXISTS ${db}`);
    await conn.end();
  });

  /** Runs the statement on MariaDB under the mode; the analysis must name customers exactly when the rows show it was read. */
  const cases: [string, 'default' | 'NO_BACKSLASH_ESCAPES' | 'ANSI_QUOTES'][] = [
    ['SELECT name FROM products /*!50000 UNION SELECT email FROM customers */', 'default'],
    ['SELECT name FROM products /*!UNION SELECT email FROM customers */', 'default'],
    ['SELECT name FROM products /*M!100000 UNION SELECT email FROM customers */', 'default'],
    ['SELECT name FROM products /*!100000 UNION SELECT email FROM customers */', 'default'],
    ['SELECT name FROM products /*!50700 UNION SELECT email FROM customers */', 'default'],
    ['SELECT name FROM products /*!99999 UNION SELECT email FROM customers */', 'default'],
    ['SELECT name FROM products /*!99999 /* inner */ UNION SELECT email FROM customers */', 'default'],
    ['SELECT name FROM products WHERE id = 1 --1 UNION SELECT email FROM customers', 'default'],
    ['SELECT name FROM products -- x\nUNION SELECT email FROM customers', 'default'],
    ['SELECT name FROM products #x\r UNION SELECT email FROM customers', 'default'],
    ['SELECT name FROM products #x\nUNION SELECT email FROM customers', 'default'],
    ["SELECT name FROM products WHERE name = 'a\\' UNION SELECT email FROM customers -- '", 'default'],
    ["SELECT name FROM products WHERE name = 'a\\' UNION SELECT email FROM customers -- '", 'NO_BACKSLASH_ESCAPES'],
    ["SELECT name FROM products WHERE name = 'a'' UNION SELECT email FROM customers -- '", 'default'],
    ['SELECT name FROM products WHERE name = "a\\" UNION SELECT email FROM customers -- "', 'default'],
    ['SELECT name FROM products WHERE name = "a\\" UNION SELECT email FROM customers -- "', 'NO_BACKSLASH_ESCAPES'],
    ['SELECT "email" FROM customers', 'ANSI_QUOTES'],
    ['SELECT "email" FROM customers', 'default'],
    ["SELECT name FROM products WHERE name = 'ʼ UNION SELECT email FROM customers -- '", 'default'],
  ];
  for (const [sql, mode] of cases) {
    test(`${mode}: ${JSON.stringify(sql)}`, async () => {
      await conn.query(`USE ${db}; SET SESSION sql_mode = '${mode === 'default' ? 'STRICT_TRANS_TABLES' : mode}'`);
      let rows: unknown[] = [];
      try {
        [rows] = (await conn.query(sql)) as [unknown[], unknown];
      } catch {
        rows = []; // the server refused it: it read nothing
      }
      const serverReadSecret = JSON.stringify(rows).includes('secret@example.com');
      const analysis = analyzeMysql(sql, { ...mariadb, database: db, mode: { ansiQuotes: mode === 'ANSI_QUOTES', noBackslashEscapes: mode === 'NO_BACKSLASH_ESCAPES' } });
      const unknown = analysis.statements.some((s) => s.kind === 'unknown');
      const namesCustomers = analysis.statements.some((s) => s.relations.some((r) => r.name === 'customers'));
      const refsEmail = analysis.statements.some((s) => s.columnRefs.refs.some((r) => r.column === 'email'));
      if (serverReadSecret) assert.ok(unknown || (namesCustomers && refsEmail), 'MariaDB read customers.email but the analysis does not say so');
      else if (!unknown && /UNION/.test(sql)) assert.equal(namesCustomers, false, 'the analysis names a table MariaDB did not read');
    });
  }
});
