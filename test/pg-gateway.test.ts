// The PostgreSQL gateway end to end: real clients (pg, psql) through Gatehouse to the real server.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { verifyAudit } from '../src/services/audit/log.ts';
import { parseDataRow } from '../src/adapters/postgres/codec/backend.ts';
import * as fe from '../src/adapters/postgres/codec/frontend.ts';
import { Backend } from '../src/adapters/postgres/codec/messages.ts';
import pg from 'pg';
import { failure, PG, psql, sendCancel, startPgGateway, type PgGateway } from './support/pg.ts';
import { rawSession, watchSocket, type WireFrame } from './support/wire.ts';

let gw: PgGateway;
before(async () => { gw = await startPgGateway('gatehouse_e2e'); });
after(async () => { await gw?.close(); });

test('pg simple protocol: a granted read is forwarded with the gateway credentials', async () => {
  const c = await gw.client(await gw.token('retriever', 'rag'));
  const r = await c.query('SELECT id, title FROM documents ORDER BY id LIMIT 3');
  assert.deepEqual(r.rows.map((x) => x.title), ['doc 1', 'doc 2', 'doc 3']);
  const who = await c.query("SELECT current_user AS u, current_setting('default_transaction_read_only') AS ro");
  assert.equal(who.rows[0].u, 'postgres', 'upstream runs as the gateway user, not the agent');
  assert.equal(who.rows[0].ro, 'on', 'a role without write grants runs read-only upstream');
});

test('a refused statement is 42501 naming the missing grant, and the session stays usable', async () => {
  const c = await gw.client(await gw.token('retriever', 'rag'));
  const e = await failure(c.query('DELETE FROM documents WHERE id = 1'));
  assert.equal(e.code, '42501');
  assert.match(e.message, /retriever/);
  assert.match(e.message, /documents/);
  const e2 = await failure(c.query('SELECT * FROM secrets'));
  assert.equal(e2.code, '42501');
  assert.match(e2.message, /secrets/);
  const r = await c.query('SELECT count(*)::int AS n FROM documents');
  assert.equal(r.rows[0].n, 50);
});

test('pg extended protocol: parameterised reads pass; a forbidden Parse is refused before it reaches upstream', async () => {
  const c = await gw.client(await gw.token('retriever', 'rag'));
  const r = await c.query({ text: 'SELECT title FROM documents WHERE id = $1', values: [7] });
  assert.equal(r.rows[0].title, 'doc 7');
  const named = { name: 'by-id', text: 'SELECT title FROM documents WHERE id = $1' };
  assert.equal((await c.query({ ...named, values: [8] })).rows[0].title, 'doc 8');
  assert.equal((await c.query({ ...named, values: [9] })).rows[0].title, 'doc 9');
  const e = await failure(c.query({ text: 'UPDATE documents SET title = $1', values: ['pwned'] }));
  assert.equal(e.code, '42501');
  const e2 = await failure(c.query({ name: 'evil', text: 'SELECT value FROM secrets WHERE id = $1', values: [1] }));
  assert.equal(e2.code, '42501');
  // The refused statement was never prepared upstream, so its name cannot be executed later.
  const e3 = await failure(c.query({ name: 'evil', text: 'SELECT value FROM secrets WHERE id = $1', values: [1] }));
  assert.equal(e3.code, '42501');
  assert.equal((await c.query({ ...named, values: [10] })).rows[0].title, 'doc 10');
  const check = await gw.client(await gw.token('writer', 'w'));
  assert.equal((await check.query('SELECT count(*)::int AS n FROM tickets')).rows[0].n, 3);
});

test('writes: granted ones run; inside a transaction a refusal aborts it as PostgreSQL would', async () => {
  const c = await gw.client(await gw.token('writer', 'support'));
  await c.query('BEGIN');
  await c.query("INSERT INTO tickets (customer_id, subject) VALUES (1, 'in tx')");
  const e = await failure(c.query('DELETE FROM customers'));
  assert.equal(e.code, '42501');
  const aborted = await failure(c.query('SELECT 1'));
  assert.equal(aborted.code, '25P02', 'the transaction is aborted after the refusal');
  await c.query('COMMIT'); // becomes ROLLBACK upstream, as after any error
  const r = await c.query("SELECT count(*)::int AS n FROM tickets WHERE subject = 'in tx'");
  assert.equal(r.rows[0].n, 0, 'nothing from the aborted transaction was committed');
  const ins = await c.query("INSERT INTO tickets (customer_id, subject) VALUES (2, 'kept') RETURNING id");
  assert.ok(ins.rows[0].id > 3);
});

test('masking applies to whatever the query looks like', async () => {
  const c = await gw.client(await gw.token('writer', 'support'));
  const plain = await c.query('SELECT name, email, ssn FROM customers ORDER BY id');
  assert.equal(plain.rows[0].name, 'Ada Lovelace');
  assert.notEqual(plain.rows[0].email, 'ada@example.com');
  assert.match(plain.rows[0].email, /@example\.com$/);
  assert.ok(!plain.rows.some((r) => r.ssn === '078-05-1120'), 'SSN is redacted');
  assert.equal(plain.rows[2].ssn, null, 'NULL stays NULL');
  const star = await c.query('SELECT * FROM customers ORDER BY id');
  assert.deepEqual(star.rows.map((r) => r.email), plain.rows.map((r) => r.email));
  const aliased = await c.query('SELECT c.email AS contact, t.subject FROM customers c JOIN tickets t ON t.customer_id = c.id ORDER BY t.id');
  assert.equal(aliased.rows[0].contact, plain.rows[0].email);
  const extended = await c.query({ text: 'SELECT email FROM customers WHERE id = $1', values: [1] });
  assert.equal(extended.rows[0].email, plain.rows[0].email);
  const leak = await failure(c.query("SELECT name FROM customers WHERE ssn LIKE '0%'"));
  assert.equal(leak.code, '42501');
  assert.match(leak.message, /masked/);
  // A view over a masked column would hand out the base values under its own name: refused, nested views too.
  for (const [view, through] of [['customer_contacts', 'customers'], ['contacts_short', 'customer_contacts']]) {
    const e = await failure(c.query(`SELECT * FROM ${view}`));
    assert.equal(e.code, '42501', view);
    assert.match(e.message, new RegExp(`view public\\.${view} exposes masked column public\\.${through}\\.email`));
  }
  assert.equal((await c.query('SELECT name FROM customer_names ORDER BY id')).rows[0].name, 'Ada Lovelace', 'a view without masked columns is fine');
});

test('max_rows caps results with a NOTICE, not silently', async () => {
  const c = await gw.client(await gw.token('retriever', 'rag'));
  const notices: string[] = [];
  c.on('notice', (n) => notices.push(n.message ?? ''));
  const r = await c.query('SELECT id FROM chunks');
  assert.equal(r.rows.length, 20);
  assert.equal(r.rowCount, 20);
  assert.ok(notices.some((m) => /capped at 20 rows/.test(m) && /180 more/.test(m)), notices.join('\n'));
  const ext = await c.query({ text: 'SELECT id FROM chunks WHERE id > $1', values: [0] });
  assert.equal(ext.rows.length, 20);
});

test('psql: allowed query, refused write with the grant named, COPY TO STDOUT, over TLS', async () => {
  const t = await gw.token('retriever', 'rag');
  const ok = await psql(gw.url(t), ['-At', '-c', 'SELECT title FROM documents WHERE id = 2'], { PGSSLMODE: 'require' });
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(ok.stdout.trim(), 'doc 2');
  const refused = await psql(gw.url(t), ['-c', 'DROP TABLE documents']);
  assert.notEqual(refused.status, 0);
  assert.match(refused.stderr, /ERROR: {2}Gatehouse/);
  const copy = await psql(gw.url(t), ['-c', 'COPY (SELECT id FROM documents WHERE id <= 3 ORDER BY id) TO STDOUT']);
  assert.equal(copy.status, 0, copy.stderr);
  assert.equal(copy.stdout, '1\n2\n3\n');
  const d = await psql(gw.url(t), ['-c', '\\d documents']);
  assert.equal(d.status, 0, d.stderr);
  assert.match(d.stdout, /Table "public.documents"/);
});

test('authentication: a wrong token is 28P01; a revoked or expired token says so', async () => {
  const t = await gw.token('retriever', 'rag');
  const wrong = await failure(gw.client({ label: 'rag', token: 'gth_' + 'x'.repeat(43) }));
  assert.equal(wrong.code, '28P01');
  await gw.gateway.services.tokens.revoke(t.id);
  const revoked = await failure(gw.client(t));
  assert.match(revoked.message, /revoked/);
  const none = await failure(gw.client(await gw.token('no-crm', 'idle')));
  assert.match(none.message, /role "no-crm" has no grant on connection "crm"/);
});

test('revocation closes a live session within 100 ms, and is audited', async () => {
  const t = await gw.token('retriever', 'rag');
  const c = await gw.client(t);
  await c.query('SELECT 1');
  const ended = new Promise<number>((resolve) => c.once('end', () => resolve(performance.now())));
  const start = performance.now();
  await gw.gateway.services.audit.append({ kind: 'token.revoke', tokenId: t.id, data: { by: 'test' } });
  await gw.gateway.services.tokens.revoke(t.id);
  const at = await ended;
  assert.ok(at - start < 100, `session closed after ${at - start} ms`);
  const records = (await gw.gateway.services.audit.read(0, 100_000)).filter((r) => r.tokenId === t.id);
  assert.ok(records.some((r) => r.kind === 'session.close' && /revoked/.test(String(r.data.reason))));
});

test('CancelRequest reaches the right upstream backend', async () => {
  const c = await gw.client(await gw.token('retriever', 'rag'));
  const slow = c.query('SELECT count(*) FROM generate_series(1, 500000000)');
  await new Promise((r) => setTimeout(r, 200));
  await sendCancel(gw, c);
  const e = await failure(slow);
  assert.equal(e.code, '57014', e.message);
  assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
});

test('malformed and truncated protocol messages get an error and a closed connection; others keep working', async () => {
  const c = await gw.client(await gw.token('retriever', 'rag'));
  for (const junk of [Buffer.from('GET / HTTP/1.1\r\n\r\n'), Buffer.from([0, 0, 0, 3]), Buffer.from([0, 0, 0, 8, 0x12, 0x34, 0x56, 0x78])]) {
    const reply = await new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      const s = connect(gw.port, '127.0.0.1', () => s.write(junk));
      s.on('data', (d) => chunks.push(d));
      s.on('close', () => resolve(Buffer.concat(chunks)));
      s.on('error', () => undefined);
    });
    assert.equal(reply[0], 0x45, `expected an ErrorResponse for ${junk.toString('hex')}`);
    assert.match(reply.toString('latin1'), /08P01/);
  }
  assert.equal((await c.query('SELECT count(*)::int AS n FROM documents')).rows[0].n, 50);
});

test('every statement is audited before it runs, and the chain verifies', async () => {
  const t = await gw.token('retriever', 'rag');
  const c = await gw.client(t);
  await c.query('SELECT 42');
  await failure(c.query('TRUNCATE documents'));
  const records = (await gw.gateway.services.audit.read(0, 100_000)).filter((r) => r.tokenId === t.id);
  const requests = records.filter((r) => r.kind === 'request');
  assert.deepEqual(requests.map((r) => [r.verdict, r.data.summary]), [['allow', 'SELECT 42'], ['deny', 'TRUNCATE documents']]);
  const result = records.find((r) => r.kind === 'result' && r.data.request === requests[0].seq);
  assert.ok(result, 'the outcome of the allowed statement is recorded');
  assert.equal((await verifyAudit(gw.gateway.services.store)).ok, true);
});

test('ORM-style introspection through information_schema works through the gateway', async () => {
  const c = await gw.client(await gw.token('writer', 'orm'));
  const cols = await c.query(`SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position`, ['tickets']);
  assert.deepEqual(cols.rows.map((r) => r.column_name), ['id', 'customer_id', 'subject', 'status']);
  const version = await c.query('SELECT version()');
  assert.match(version.rows[0].version, /PostgreSQL/);
});

// ---- masks and max_rows follow what the upstream returns for this execution ----------------------------------------

const dataRows = (frames: WireFrame[]) => frames.filter((f) => f.type === Backend.DataRow).map((f) => parseDataRow(f.body).map((c) => c?.toString('utf8') ?? null));
const extended = (...messages: Buffer[]) => Buffer.concat([...messages, fe.sync()]);

test('a SQL PREPARE executed through protocol Bind/Execute is masked, and its audit sample shows what the client saw', async () => {
  const t = await gw.token('writer', 'prep');
  const c = await gw.client(t);
  await c.query('PREPARE p AS SELECT email, ssn FROM customers ORDER BY id');
  const s = await rawSession(gw, t);
  s.socket.write(extended(fe.bind({ portal: '', statement: 'p', params: [] }), fe.execute('', 0)));
  const rows = dataRows(await s.ready(1));
  assert.equal(rows.length, 0, 'the prepared statement of another session is not this session\'s');
  // In the session that prepared it: Bind and Execute by protocol, no Describe from the client.
  const own = (c as unknown as { connection: { stream: import('node:net').Socket } }).connection.stream;
  own.removeAllListeners('data');
  const raw = watchSocket(own);
  own.write(extended(fe.bind({ portal: '', statement: 'p', params: [] }), fe.execute('', 0)));
  const masked = dataRows(await raw.ready(1));
  assert.equal(masked.length, 3);
  assert.ok(masked.every(([email]) => email !== null && !/^(ada|grace|alan)@/.test(email)), JSON.stringify(masked));
  assert.deepEqual(masked.map(([, ssn]) => ssn), ['[REDACTED]', '[REDACTED]', null]);
  const result = (await gw.gateway.services.audit.read(0, 100_000)).filter((r) => r.kind === 'result' && r.tokenId === t.id).at(-1);
  assert.deepEqual(result?.data.sample, masked, 'the audit keeps the masked values the client saw');
});

test('a statement name re-prepared with other columns cannot move a mask (DEALLOCATE, PREPARE, Parse reuse)', async () => {
  const t = await gw.token('writer', 'reuse');
  const s = await rawSession(gw, t);
  s.socket.write(extended(fe.parse('q', 'SELECT name, ssn FROM customers ORDER BY id'), fe.describe('S', 'q')));
  await s.ready(1);
  s.socket.write(Buffer.concat([fe.query('DEALLOCATE q; PREPARE q AS SELECT ssn, name FROM customers ORDER BY id')]));
  await s.ready(2);
  s.socket.write(extended(fe.bind({ portal: '', statement: 'q', params: [] }), fe.execute('', 0)));
  const rows = dataRows(await s.ready(3));
  assert.deepEqual(rows.map(([ssn]) => ssn), ['[REDACTED]', '[REDACTED]', null], 'the ssn moved to the first column, and so did its mask');
  assert.deepEqual(rows.map(([, name]) => name), ['Ada Lovelace', 'Grace Hopper', 'Alan Turing']);
  // A PREPARE that fails upstream (the name exists) leaves the name meaning what it meant.
  s.socket.write(fe.query('PREPARE q AS SELECT name, email FROM customers'));
  await s.ready(4);
  assert.match(s.errors().at(-1)?.message ?? '', /already exists/);
  s.socket.write(extended(fe.bind({ portal: '', statement: 'q', params: [] }), fe.execute('', 0)));
  assert.deepEqual(dataRows(await s.ready(5)).slice(3).map(([ssn]) => ssn), ['[REDACTED]', '[REDACTED]', null]);
});

test('max_rows caps a portal, not each Execute: four Execute(portal, 20) under max_rows 20 return 20 rows', async () => {
  const s = await rawSession(gw, await gw.token('retriever', 'portal'));
  s.socket.write(Buffer.concat([
    fe.query('BEGIN'),
    fe.parse('', 'SELECT id FROM chunks ORDER BY id'), fe.bind({ portal: 'p1', statement: '', params: [] }),
    fe.execute('p1', 20), fe.execute('p1', 20), fe.execute('p1', 20), fe.execute('p1', 20), fe.sync(),
  ]));
  const frames = await s.ready(2);
  const rows = dataRows(frames);
  assert.equal(rows.length, 20);
  assert.deepEqual(rows.map(([id]) => Number(id)), Array.from({ length: 20 }, (_, i) => i + 1));
  assert.ok(frames.some((f) => f.type === Backend.NoticeResponse && /capped at 20 rows/.test(f.body.toString())), 'the cap is announced');
});

test('max_rows caps a SQL cursor across FETCHes, as pg-cursor and psycopg named cursors fetch', async () => {
  const c = await gw.client(await gw.token('retriever', 'cursor'));
  await c.query('BEGIN');
  await c.query('DECLARE c CURSOR FOR SELECT id FROM chunks ORDER BY id');
  const fetched: number[] = [];
  for (let i = 0; i < 5; i++) fetched.push(...(await c.query('FETCH 8 FROM c')).rows.map((r) => r.id));
  await c.query('MOVE BACKWARD ALL IN c');
  fetched.push(...(await c.query('FETCH ALL FROM c')).rows.map((r) => r.id));
  await c.query('COMMIT');
  assert.equal(fetched.length, 20, 'one cursor, one budget of 20 rows');
  // A new cursor of the same name starts a new budget.
  await c.query('BEGIN');
  await c.query('DECLARE c CURSOR FOR SELECT id FROM chunks ORDER BY id');
  assert.equal((await c.query('FETCH 8 FROM c')).rows.length, 8);
  await c.query('COMMIT');
});

test('a redact column mask says nothing about the value: a valid SSN and junk both read [REDACTED]', async () => {
  const direct = new pg.Client({ ...PG, database: gw.database });
  await direct.connect();
  try {
    await direct.query("INSERT INTO customers (id, name, email, ssn) VALUES (901, 'Valid', 'v@example.com', '536-22-1234'), (902, 'Junk', 'j@example.com', 'n/a')");
    const c = await gw.client(await gw.token('writer', 'ssn'));
    const { rows } = await c.query('SELECT id, ssn FROM customers WHERE id > 900 ORDER BY id');
    assert.deepEqual(rows, [{ id: 901, ssn: '[REDACTED]' }, { id: 902, ssn: '[REDACTED]' }]);
  } finally {
    await direct.query('DELETE FROM customers WHERE id > 900');
    await direct.end();
  }
});

test('catalog introspection: psql \\d+ of a granted view works; definitions, statistics and settings beyond the grant are refused', async () => {
  const t = await gw.token('retriever', 'intro');
  const view = await psql(gw.url(t), ['-c', '\\d+ open_tickets']);
  assert.equal(view.status, 0, view.stderr);
  assert.match(view.stdout, /View definition:\s+SELECT tickets\.id,/);
  const c = await gw.client(t);
  for (const sql of [
    "SELECT pg_get_viewdef('customer_contacts'::regclass)", "SELECT pg_get_functiondef('read_secrets'::regproc)",
    "SELECT prosrc FROM pg_proc WHERE proname = 'read_secrets'", 'SELECT * FROM pg_stat_user_tables', "SELECT pg_relation_size('secrets')",
    "SELECT current_setting('data_directory')", 'SHOW data_directory', 'SELECT txid_current()',
  ]) {
    const e = await failure(c.query(sql));
    assert.equal(e.code, '42501', sql);
  }
  assert.equal((await c.query("SELECT current_setting('server_version_num')::int > 0 AS ok")).rows[0].ok, true);
  assert.ok(Number((await c.query("SELECT pg_relation_size('documents') AS n")).rows[0].n) > 0, 'the size of a granted table');
});
