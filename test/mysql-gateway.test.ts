// The MySQL gateway end to end with real clients (mysql2 text and prepared, the mariadb CLI, a raw protocol client) against the real MariaDB.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import { Capability, Command } from '../src/adapters/mysql/codec/constants.ts';
import { encodeQuery } from '../src/adapters/mysql/codec/commands.ts';
import { encodeHandshakeResponse } from '../src/adapters/mysql/codec/handshake.ts';
import { frame, PacketReader } from '../src/adapters/mysql/codec/packets.ts';
import { decodeErr, isErr } from '../src/adapters/mysql/codec/results.ts';
import { connectUpstream, runQuery } from '../src/adapters/mysql/upstream.ts';
import { hashToken } from '../src/services/identity/tokens.ts';
import { breakAuditWrites } from './support/audit.ts';
import { APPROVER, dropDatabase, freshDatabase, mysqlGateway, type MysqlGateway } from './support/mysql.ts';

const run = promisify(execFile);

const roles = `analyst:
  shop: { read: [orders, products, customers, customer_emails, customer_names, contact_list], mask: { customers.email: partial }, max_rows: 2 }
viewmask:
  shop: { read: [customer_emails], mask: { customers.email: partial, customer_emails.email: redact } }
reader:
  shop: { read: [orders, products] }
writer:
  shop: { read: [orders, products], write: [orders], approve: [delete] }
ddl:
  shop: { read: [orders], statements: [ddl] }
guarded:
  shop: { read: [customers], guards: { pii: redact } }
nogrant:
  other: {}`;

let db: string;
let gw: MysqlGateway;
before(async () => {
  db = await freshDatabase('gateway');
  gw = await mysqlGateway(db, roles.replace('nogrant:\n  other: {}', 'nogrant: {}'), { connection: 'handshake_timeout_ms: 400', top: 'approvals: { timeout: 5s }' });
});
after(async () => {
  await gw?.close();
  await dropDatabase(db);
});

/** A mysql2 connection with a fresh token for `role`. */
async function client(role: string, options: mysql.ConnectionOptions = {}) {
  const { token, id } = await gw.mint(role, 'agent');
  const c = await mysql.createConnection({ ...gw.address, user: 'agent', password: token, database: db, ...options });
  return Object.assign(c, { tokenId: id, token });
}

/** The socket under a mysql2 promise connection (not in its types). */
const streamOf = (c: mysql.Connection) => (c as unknown as { connection: { stream: Socket } }).connection.stream;

async function failure(p: Promise<unknown>): Promise<{ errno: number; sqlState: string; message: string; code: string }> {
  try {
    await p;
  } catch (err) {
    return err as { errno: number; sqlState: string; message: string; code: string };
  }
  throw new Error('expected a failure');
}

const audit = async () => await gw.services.audit.read(0, 100_000);

describe('mysql2, text protocol', () => {
  test('reads what the grant allows; masks by column definition; caps at max_rows', async () => {
    const c = await client('analyst');
    const [customers] = await c.query('SELECT id, name, email FROM customers ORDER BY id') as [Record<string, unknown>[], unknown];
    assert.deepEqual(customers.map((r) => r.email), ['a***@example.com', 'g***@example.com']);
    const [aliased] = await c.query('SELECT c.email AS contact FROM customers c WHERE c.id = 1') as [Record<string, unknown>[], unknown];
    assert.equal(aliased[0].contact, 'a***@example.com', 'aliases do not hide the source column');
    const [orders] = await c.query('SELECT id FROM orders ORDER BY id') as [Record<string, unknown>[], unknown];
    assert.equal(orders.length, 2, 'max_rows: 2');
    await c.end();
    const result = (await audit()).filter((r) => r.kind === 'result' && r.tokenId === c.tokenId).at(-1)!;
    assert.equal((result.data.results as { dropped?: number }[])[0].dropped, 1);
  });

  test('views: one over a masked column is refused unless the grant masks the view too; one over other columns passes', async () => {
    const c = await client('analyst');
    const direct = await failure(c.query('SELECT * FROM customer_emails'));
    assert.equal(direct.errno, 1143);
    assert.match(direct.message, /view .*customer_emails exposes masked column .*customers\.email/);
    assert.equal((await failure(c.query('SELECT contact FROM contact_list'))).errno, 1143, 'through a view of a view');
    const [names] = await c.query('SELECT name FROM customer_names ORDER BY id') as [Record<string, unknown>[], unknown];
    assert.equal(names[0].name, 'Ada Lovelace');
    await c.end();
    const masked = await client('viewmask');
    const [rows] = await masked.query('SELECT email FROM customer_emails ORDER BY id') as [Record<string, unknown>[], unknown];
    assert.ok(rows.every((r) => !String(r.email).includes('@')), JSON.stringify(rows));
    await masked.end();
  });

  test('a refusal is ERR 1142 / 42000 naming the missing grant, and the connection stays usable', async () => {
    const c = await client('reader');
    const e = await failure(c.query('SELECT * FROM customers'));
    assert.equal(e.errno, 1142);
    assert.equal(e.sqlState, '42000');
    assert.match(e.message, /may not read .*customers.*no read grant for customers/);
    const [rows] = await c.query('SELECT name FROM products ORDER BY id') as [Record<string, unknown>[], unknown];
    assert.deepEqual(rows.map((r) => r.name), ['lamp', 'desk', 'chair']);
    const fn = await failure(c.query('SELECT SLEEP(1)'));
    assert.equal(fn.errno, 1370);
    const ddl = await failure(c.query('DROP TABLE orders'));
    assert.equal(ddl.errno, 1227);
    const mask = await failure((await client('analyst')).query('SELECT CONCAT(email) FROM customers'));
    assert.equal(mask.errno, 1143);
    await c.end();
  });

  test('inside a transaction a refused statement leaves the transaction going, as MySQL does after an error', async () => {
    const c = await client('writer');
    await c.query('BEGIN');
    await c.query("INSERT INTO orders (customer_id, product_id, note) VALUES (2, 3, 'in tx')");
    assert.equal((await failure(c.query('SELECT * FROM customers'))).errno, 1142);
    await c.query('COMMIT');
    const [rows] = await c.query("SELECT COUNT(*) AS n FROM orders WHERE note = 'in tx'") as [Record<string, unknown>[], unknown];
    assert.equal(Number(rows[0].n), 1);
    await c.query("DELETE FROM orders WHERE note = 'in tx'").catch(() => undefined); // held for approval: see below
    await c.end();
  });

  test('multi-statements: judged whole, only when the client enabled them', async () => {
    const multi = await client('reader', { multipleStatements: true });
    const [sets] = await multi.query('SELECT 1 AS a; SELECT name FROM products WHERE id = 1') as [Record<string, unknown>[][], unknown];
    assert.deepEqual(sets.map((s) => s[0]), [{ a: 1 }, { name: 'lamp' }]);
    assert.equal((await failure(multi.query('SELECT 1; SELECT * FROM customers'))).errno, 1142);
    await multi.end();
    const single = await client('reader');
    const e = await failure(single.query('SELECT 1; SELECT 2'));
    assert.match(e.message, /did not enable multi-statements/);
    await single.end();
  });

  test('USE of another database and db.table are judged by the database they name', async () => {
    const c = await client('reader');
    assert.equal((await failure(c.query('SELECT * FROM mysql.user'))).errno, 1142);
    await c.query('USE information_schema');
    assert.equal((await failure(c.query('SELECT * FROM processlist'))).errno, 1142, 'resolved in the database USE chose');
    assert.equal((await failure(c.query('SELECT * FROM orders'))).errno, 1109, 'there is no orders table in information_schema');
    await c.query(`USE ${db}`);
    await c.query('SELECT * FROM orders');
    await c.end();
  });

  test('content guards redact PII in any text cell, whatever the query', async () => {
    const c = await client('guarded');
    const [rows] = await c.query("SELECT CONCAT('mail: ', email) AS m FROM customers WHERE id = 1") as [Record<string, unknown>[], unknown];
    assert.ok(!String(rows[0].m).includes('ada@example.com'), String(rows[0].m));
    await c.end();
  });
});

describe('mysql2, prepared statements', () => {
  test('prepared at COM_STMT_PREPARE, judged at each execute, masked in binary rows', async () => {
    const c = await client('analyst');
    const [rows] = await c.execute('SELECT id, email, name FROM customers WHERE id >= ? ORDER BY id', [1]) as [Record<string, unknown>[], unknown];
    assert.deepEqual(rows.map((r) => r.email), ['a***@example.com', 'g***@example.com']);
    assert.equal(rows[0].name, 'Ada Lovelace');
    const e = await failure(c.execute('SELECT * FROM customers WHERE email = ?', ['x']));
    assert.equal(e.errno, 1143);
    await c.execute('SELECT id FROM orders WHERE id = ?', [1]);
    await c.execute('SELECT id FROM orders WHERE id = ?', [2]);
    await c.end();
    const requests = (await audit()).filter((r) => r.kind === 'request' && r.tokenId === c.tokenId && r.data.summary === 'SELECT id FROM orders WHERE id = ?');
    assert.ok(requests.length >= 3, 'the prepare and each execution are judged and audited');
  });

  test('a read-only role is read-only upstream too, and stays so after COM_RESET_CONNECTION', async () => {
    const c = await client('ddl');
    // DDL passes this role's grant; the upstream session's READ ONLY default still stops it.
    const e = await failure(c.query('CREATE TABLE gh_should_not_exist (a INT)'));
    assert.equal(e.errno, 1792, e.message);
    assert.equal((await failure(c.query('SET SESSION TRANSACTION READ WRITE'))).errno, 1227);
    await c.end();
    const raw = await rawClient('ddl');
    raw.channel.seq = 0;
    raw.channel.send(Buffer.of(Command.RESET_CONNECTION));
    assert.equal((await raw.channel.receive(2000)).payload[0], 0x00);
    const [[readOnly]] = await runQuery(raw, 'SELECT @@tx_read_only', 2000);
    assert.equal(readOnly, '1');
    raw.socket.destroy();
  });
});

/** Our own protocol client logged in through the gateway: for commands mysql2 does not send. */
async function rawClient(role: string) {
  const { token } = await gw.mint(role, 'raw');
  return connectUpstream({ ...gw.address, user: 'raw', password: token, database: db, tls: 'disable' }, {
    capabilities: Capability.PROTOCOL_41 | Capability.DEPRECATE_EOF, charset: 45, timeoutMs: 2000,
  });
}

describe('commands', () => {
  test('COM_INIT_DB and COM_FIELD_LIST are judged; COM_CHANGE_USER, COM_STATISTICS and replication are refused and the connection goes on', async () => {
    const raw = await rawClient('reader');
    const ask = async (payload: Buffer) => {
      raw.channel.seq = 0;
      raw.channel.send(payload);
      return (await raw.channel.receive(2000)).payload;
    };
    const other = await ask(Buffer.concat([Buffer.of(Command.INIT_DB), Buffer.from('mysql')]));
    assert.ok(isErr(other));
    assert.equal((await ask(Buffer.concat([Buffer.of(Command.INIT_DB), Buffer.from(db)])))[0], 0x00);
    for (const command of [Command.CHANGE_USER, Command.STATISTICS, Command.BINLOG_DUMP, Command.PROCESS_KILL, Command.STMT_FETCH]) {
      const reply = await ask(Buffer.concat([Buffer.of(command), Buffer.alloc(8)]));
      assert.ok(isErr(reply));
      assert.match(decodeErr(reply).message, /is not allowed through Gatehouse|cursor|no statement/);
    }
    assert.equal((await ask(Buffer.of(Command.PING)))[0], 0x00);
    const [[n]] = await runQuery(raw, 'SELECT COUNT(*) FROM products', 2000);
    assert.equal(n, '3');
    raw.socket.destroy();
  });
});

describe('the mariadb command-line client', () => {
  const cli = (token: string, sql: string, extra: string[] = []) =>
    run('mariadb', ['-h', gw.address.host, '-P', String(gw.address.port), '-u', 'cli', `-p${token}`, ...extra, '-N', '-B', '-e', sql, db]);

  test('connects with its defaults, reads, and reports a refusal as ERROR 1142', async () => {
    const { token } = await gw.mint('reader', 'cli');
    const { stdout } = await cli(token, 'SELECT name FROM products ORDER BY id');
    assert.equal(stdout.trim(), 'lamp\ndesk\nchair');
    const refused = await cli(token, 'SELECT * FROM customers').then(() => undefined, (e: { stderr: string }) => e.stderr);
    assert.match(refused ?? '', /ERROR 1142 \(42000\).*no read grant for customers/);
  });

  test('with TLS (the client\'s default) and without it', async () => {
    const { token } = await gw.mint('reader', 'cli');
    for (const extra of [['--ssl'], ['--skip-ssl']]) {
      const { stdout } = await cli(token, 'SELECT COUNT(*) FROM products', extra);
      assert.equal(stdout, '3\n');
    }
  });
});

describe('TLS', () => {
  test('mysql2 over TLS with the self-signed certificate', async () => {
    const c = await client('reader', { ssl: { rejectUnauthorized: false } });
    assert.equal((streamOf(c) as Socket & { encrypted?: boolean }).encrypted, true);
    await c.query('SELECT 1');
    await c.end();
  });
});

describe('authentication', () => {
  test('a wrong, revoked or expired token is refused with 1045, and the reason is precise for real tokens', async () => {
    const wrong = await failure(mysql.createConnection({ ...gw.address, user: 'agent', password: 'gth_' + 'x'.repeat(43), database: db }));
    assert.equal(wrong.errno, 1045);
    const { token, id } = await gw.mint('reader', 'revokee');
    await gw.services.tokens.revoke(id);
    const revoked = await failure(mysql.createConnection({ ...gw.address, user: 'revokee', password: token, database: db }));
    assert.match(revoked.message, /has been revoked/);
    const nogrant = await gw.mint('nogrant', 'nogrant');
    const refused = await failure(mysql.createConnection({ ...gw.address, user: 'nogrant', password: nogrant.token, database: db }));
    assert.match(refused.message, /has no grant on connection "shop"/);
    const wrongDb = await gw.mint('reader', 'elsewhere');
    assert.equal((await failure(mysql.createConnection({ ...gw.address, user: 'elsewhere', password: wrongDb.token, database: 'mysql' }))).errno, 1049);
  });

  test('a refusal after TLS began is said inside TLS, in sequence', async () => {
    const wrong = await failure(mysql.createConnection({ ...gw.address, user: 'agent', password: 'gth_' + 'y'.repeat(43), database: db, ssl: { rejectUnauthorized: false } }));
    assert.equal(wrong.errno, 1045);
    assert.match(wrong.message, /password authentication failed/);
  });

  test('a token minted before the migration gets a message that says what to do', async () => {
    const token = 'gth_' + 'L'.repeat(43);
    const now = Date.now();
    await gw.services.store.insertToken({
      id: 'tok_legacy0000000000', hash: hashToken(token), label: 'legacy', role: 'reader', createdAt: now, expiresAt: now + 60_000, revokedAt: null,
      lastUsedAt: null, createdBy: 'test', scramStoredKey: '', scramServerKey: '', mysqlNative: null,
    });
    const e = await failure(mysql.createConnection({ ...gw.address, user: 'legacy', password: token, database: db }));
    assert.match(e.message, /minted before this gateway spoke MySQL.*mint a new one/);
  });

  test('revocation cuts a live session at once', async () => {
    const c = await client('reader');
    const started = performance.now();
    const closed = new Promise<number>((resolve) => streamOf(c).once('close', () => resolve(performance.now() - started)));
    await gw.services.tokens.revoke(c.tokenId);
    assert.ok(await closed < 100);
  });
});

describe('approvals and the audit', () => {
  test('a DELETE waits for a human: approved it runs once, denied it is refused', async () => {
    const c = await client('writer');
    await c.query("INSERT INTO orders (customer_id, product_id, note) VALUES (1, 1, 'to delete')");
    const pending = c.query("DELETE FROM orders WHERE note = 'to delete'");
    const held = await waitForApproval(c.tokenId);
    await gw.services.approvals.decide(held, APPROVER, 'approve', 'ok');
    const [result] = await pending as [{ affectedRows: number }, unknown];
    assert.equal(result.affectedRows, 1);
    const denied = c.query("DELETE FROM orders WHERE note = 'first'");
    await gw.services.approvals.decide(await waitForApproval(c.tokenId), APPROVER, 'deny', 'no');
    const e = await failure(denied);
    assert.equal(e.errno, 1227);
    assert.match(e.message, /no/);
    await c.end();
  });

  test('nothing is forwarded when the audit record cannot be written', async () => {
    const c = await client('writer');
    const restore = breakAuditWrites(gw.services.store);
    try {
      const e = await failure(c.query("INSERT INTO orders (customer_id, product_id, note) VALUES (1, 1, 'unaudited')"));
      assert.match(e.message, /audit record could not be written/);
    } finally {
      restore();
    }
    const [rows] = await c.query("SELECT COUNT(*) AS n FROM orders WHERE note = 'unaudited'") as [Record<string, unknown>[], unknown];
    assert.equal(Number(rows[0].n), 0);
    await c.end();
  });
});

async function waitForApproval(tokenId: string): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const found = (await gw.services.approvals.list('pending')).find((a) => a.tokenId === tokenId);
    if (found) return found.id;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('no approval was requested');
}

describe('protocol robustness: one bad connection never ends the process', () => {
  const open = () => new Promise<Socket>((resolve) => { const s = connect(gw.address.port, gw.address.host, () => resolve(s)); });
  /** Everything the gateway sends until it closes the connection. */
  const drain = (s: Socket, ms = 3000) => new Promise<Buffer>((resolve) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => { s.destroy(); resolve(Buffer.concat(chunks)); }, ms);
    s.on('data', (c) => chunks.push(c));
    s.on('close', () => { clearTimeout(timer); resolve(Buffer.concat(chunks)); });
  });
  const errorOf = (bytes: Buffer) => {
    const reader = new PacketReader();
    reader.push(bytes);
    for (let p = reader.next(); p; p = reader.next()) if (isErr(p.payload)) return decodeErr(p.payload);
    return undefined;
  };
  const stillServing = async () => {
    const c = await client('reader');
    await c.query('SELECT 1');
    await c.end();
  };

  test('garbage instead of a handshake response', async () => {
    const s = await open();
    s.write(frame(Buffer.from('this is not a handshake response at all'), 1));
    assert.match(errorOf(await drain(s))?.message ?? '', /bad handshake/);
    await stillServing();
  });

  test('a handshake response with the wrong sequence id', async () => {
    const s = await open();
    s.write(frame(Buffer.alloc(40), 7));
    assert.match(errorOf(await drain(s))?.message ?? '', /out of order/);
    await stillServing();
  });

  test('an oversized packet before authentication', async () => {
    const s = await open();
    const header = Buffer.of(0xff, 0xff, 0x0f, 1); // announces 1 MB
    s.write(Buffer.concat([header, Buffer.alloc(70_000)]));
    assert.match(errorOf(await drain(s))?.message ?? '', /larger than/);
    await stillServing();
  });

  test('a client that stalls mid-handshake is dropped after the deadline while others are served', async () => {
    const s = await open();
    const started = performance.now();
    const closed = drain(s, 5000);
    await stillServing();
    await closed;
    const waited = performance.now() - started;
    assert.ok(waited >= 350 && waited < 3000, `closed after ${waited} ms`);
  });

  test('per client (address and user name), handshakes past the cap are refused with 1040; another user name still gets in', async () => {
    const capped = await mysqlGateway(db, roles.replace('nogrant:\n  other: {}', 'nogrant: {}'), { connection: 'max_handshakes_per_client: 2' });
    // A client that names "mallory", asks for a password exchange the gateway then waits on, and never finishes it.
    const stalled = async () => {
      const s = await new Promise<Socket>((resolve) => { const c = connect(capped.address.port, capped.address.host, () => resolve(c)); });
      await new Promise((resolve) => s.once('data', resolve));
      s.write(frame(encodeHandshakeResponse({
        capabilities: Capability.PROTOCOL_41 | Capability.SECURE_CONNECTION | Capability.PLUGIN_AUTH, maxPacket: 1 << 24, charset: 45,
        user: 'mallory', authResponse: Buffer.alloc(0), authPlugin: 'caching_sha2_password',
      }), 1));
      return s;
    };
    try {
      const held = [await stalled(), await stalled()];
      await new Promise((resolve) => setTimeout(resolve, 100));
      const third = await stalled();
      const err = errorOf(await drain(third));
      assert.equal(err?.code, 1040);
      assert.match(err?.message ?? '', /authenticating as "mallory".*max_handshakes_per_client: 2/);
      const { token } = await capped.mint('reader', 'agent');
      const ok = await mysql.createConnection({ ...capped.address, user: 'agent', password: token, database: db });
      assert.deepEqual((await ok.query('SELECT 1 AS one'))[0], [{ one: 1 }]);
      await ok.end();
      for (const s of held) s.destroy();
    } finally {
      await capped.close();
    }
  });

  test('a command with a bad sequence id or a truncated body ends that session only', async () => {
    const raw = await rawClient('reader');
    raw.socket.write(frame(encodeQuery('SELECT 1'), 3));
    const reply = await raw.channel.receive(2000).catch((e: Error) => e);
    assert.ok(reply instanceof Error || isErr(reply.payload));
    raw.socket.destroy();
    const truncated = await rawClient('reader');
    truncated.channel.seq = 0;
    truncated.channel.send(Buffer.of(Command.STMT_EXECUTE, 1));
    const err = await truncated.channel.receive(2000);
    assert.ok(isErr(err.payload));
    truncated.socket.destroy();
    await stillServing();
  });
});
