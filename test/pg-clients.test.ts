// More real clients and failure modes through the PostgreSQL gateway: TypeORM, fail-closed audit, auth throttling.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DataSource, EntitySchema } from 'typeorm';
import { failure, startPgGateway, type PgGateway } from './support/pg.ts';
import { breakAuditWrites } from './support/audit.ts';

let gw: PgGateway;
before(async () => { gw = await startPgGateway('gatehouse_clients'); });
after(async () => { await gw?.close(); });

interface Ticket { id: number; subject: string; status: string; customer_id: number }
const TicketSchema = new EntitySchema<Ticket>({
  name: 'Ticket',
  tableName: 'tickets',
  columns: { id: { type: Number, primary: true, generated: true }, subject: { type: String }, status: { type: String }, customer_id: { type: Number } },
});

test('TypeORM connects with the token, reads and writes what the grant allows, and gets 42501 for the rest', async () => {
  const t = await gw.token('writer', 'orm');
  const ds = new DataSource({ type: 'postgres', host: gw.host, port: gw.port, username: t.label, password: t.token, database: gw.database, entities: [TicketSchema], ssl: { rejectUnauthorized: false } });
  await ds.initialize();
  try {
    const repo = ds.getRepository(TicketSchema);
    const open = await repo.find({ where: { status: 'open' }, order: { id: 'ASC' } });
    assert.deepEqual(open.map((x) => x.subject).slice(0, 3), ['cannot log in', 'refund please', 'export slow']);
    const saved = await repo.save({ subject: 'via typeorm', status: 'open', customer_id: 1 });
    assert.ok(saved.id > 0);
    const e = await failure(ds.query('DELETE FROM customers'));
    assert.equal(e.code, '42501');
    assert.equal(await repo.count(), open.length + 1);
  } finally {
    await ds.destroy();
  }
});

test('if the audit record cannot be written, the statement is refused and never runs', async () => {
  const c = await gw.client(await gw.token('writer', 'support'));
  const { store } = gw.gateway.services;
  const restore = breakAuditWrites(store);
  try {
    const e = await failure(c.query("INSERT INTO tickets (customer_id, subject) VALUES (1, 'unaudited')"));
    assert.equal(e.code, '42501');
    assert.match(e.message, /audit record could not be written/);
    assert.doesNotMatch(e.message, /disk full/, "the store's own words are for the operator's log, not the agent");
  } finally {
    restore();
  }
  const r = await c.query("SELECT count(*)::int AS n FROM tickets WHERE subject = 'unaudited'");
  assert.equal(r.rows[0].n, 0);
});

test('content guards on results: PII redacted in any text cell, instructions hidden in rows flagged in the audit', async () => {
  const t = await gw.token('scanner', 'reader');
  const c = await gw.client(t);
  const rows = (await c.query('SELECT id, body FROM notes ORDER BY id')).rows;
  assert.ok(!rows[0].body.includes('ada@example.com'), rows[0].body);
  assert.match(rows[0].body, /^Call Ada at \S+ about the renewal\.$/);
  assert.equal(rows[2].body, 'Nothing sensitive here.');
  const concatenated = (await c.query("SELECT 'mail: ' || body AS b FROM notes WHERE id = 1")).rows[0].b;
  assert.ok(!concatenated.includes('ada@example.com'), 'whatever the query looks like');
  await c.end();
  const results = (await gw.gateway.services.audit.read(0, 100_000)).filter((r) => r.kind === 'result' && r.tokenId === t.id);
  const guards = results.flatMap((r) => (r.data.statements as { guards?: { guard: string; mode: string }[] }[]).flatMap((st) => st.guards ?? []));
  assert.ok(guards.some((g) => g.guard === 'injection' && g.mode === 'flag'), JSON.stringify(guards));
  assert.ok(guards.some((g) => g.guard === 'pii' && g.mode === 'redact'), JSON.stringify(guards));
});

test('failed authentications are throttled per address and user name, a valid token always gets through, and it is audited', async () => {
  const good = await gw.token('retriever', 'rag');
  for (let i = 0; i < 10; i++) {
    const e = await failure(gw.client({ label: 'rag', token: 'gth_' + String(i).padStart(43, 'x') }));
    assert.equal(e.code, '28P01');
  }
  const started = performance.now();
  const throttled = await failure(gw.client({ label: 'rag', token: 'gth_' + 'y'.repeat(43) }));
  assert.match(throttled.message, /too many failed authentication attempts/);
  assert.ok(performance.now() - started >= 900, 'a throttled failure is answered late');
  const c = await gw.client(good);
  assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1, 'the valid token of the same user name from the same address gets through');
  const neighbour = await failure(gw.client({ label: 'other-agent', token: 'gth_' + 'z'.repeat(43) }));
  assert.equal(neighbour.code, '28P01', 'another user name on the same host is not throttled');
  const audit = await gw.gateway.services.audit.read(0, 100_000);
  assert.ok(audit.filter((r) => r.kind === 'auth.failure').length >= 11);
  const events = audit.filter((r) => r.kind === 'auth.throttled');
  assert.equal(events.length, 1, 'the throttling event is audited once');
  assert.equal(events[0].data.user, 'rag');
});
