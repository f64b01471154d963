// Graceful drain, as an orchestrator does it: SIGTERM to a running `gatehouse serve` while a real client is mid-query.
// The listeners stop accepting, the query finishes, the audit is flushed and the process exits 0; at the deadline what
// is left is cut; a second SIGTERM exits at once.
import Database from 'better-sqlite3';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { ADMIN_KEY, failure, freshDatabase, testDatabase } from './support/pg.ts';
import { serve, type Served } from './support/serve.ts';

const database = testDatabase('gatehouse_ops_drain');
const config = (drain: string) => `
admin:
  listen: 127.0.0.1:0
  keys:
    - { name: ops, key: "${ADMIN_KEY}", roles: [admin] }
store: sqlite:./gatehouse.db
drain_timeout: ${drain}
connections:
  crm:
    kind: postgres
    listen: 127.0.0.1:0
    upstream: postgres://postgres@127.0.0.1:5432/${database}
    tls: off
    upstream_tls: disable
roles:
  sleeper:
    crm:
      read: [documents]
      functions: [pg_sleep]
`;

before(() => freshDatabase(database));
const running: Served[] = [];
after(() => { for (const s of running) s.child.kill('SIGKILL'); });

async function start(drain: string) {
  const s = await serve(config(drain));
  running.push(s);
  const res = await fetch(`${s.adminUrl}/v1/tokens`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}` }, body: JSON.stringify({ role: 'sleeper', label: 'sleeper' }) });
  const { token } = (await res.json()) as { token: string };
  const [host, port] = s.address.crm.split(':');
  const client = async () => {
    const c = new pg.Client({ host, port: Number(port), user: 'sleeper', password: token, database });
    const errors: { code?: string; message: string }[] = [];
    c.on('error', (err) => errors.push(err as { code?: string; message: string }));
    await c.connect();
    return Object.assign(c, { errors });
  };
  return { s, client };
}

const audit = (s: Served) => {
  const db = new Database(join(s.dir, 'gatehouse.db'), { readonly: true });
  try {
    return db.prepare('SELECT seq, kind, verdict, data FROM audit ORDER BY seq').all().map((r) => ({ ...(r as { seq: number; kind: string; verdict: string }), data: JSON.parse((r as { data: string }).data) as Record<string, unknown> }));
  } finally {
    db.close();
  }
};

test('SIGTERM mid-query: no new connections, readiness says draining, the query finishes, idle sessions end, the audit is flushed, exit 0', async () => {
  const { s, client } = await start('20s');
  const busy = await client();
  const idle = await client();
  const idleEnded = new Promise<void>((resolve) => idle.once('end', () => resolve()));
  const started = Date.now();
  const query = busy.query("SELECT pg_sleep(1.5), 'finished' AS outcome");
  await new Promise((r) => setTimeout(r, 300));
  s.child.kill('SIGTERM');

  await idleEnded;
  assert.equal(idle.errors[0]?.code, '57P01', 'an idle session is ended at once, as PostgreSQL does on shutdown');
  const ready = await fetch(`${s.adminUrl}/readyz`);
  assert.equal(ready.status, 503);
  assert.deepEqual(((await ready.json()) as { checks: { listeners: unknown } }).checks.listeners, { ok: false, draining: true });
  const refused = await failure(client());
  assert.match(refused.message, /ECONNREFUSED/, 'the listener accepts nothing new');

  const { rows } = await query;
  assert.equal(rows[0].outcome, 'finished', 'the query in flight completed');
  assert.ok(Date.now() - started >= 1500);
  const exit = await s.exited;
  assert.deepEqual(exit, { code: 0, signal: null });
  assert.ok(Date.now() - started < 10_000, 'it did not wait for the deadline once nothing was in flight');

  const records = audit(s);
  const request = records.find((r) => r.kind === 'request' && String(r.data.summary).includes('pg_sleep'))!;
  assert.equal(request.verdict, 'allow');
  assert.ok(records.some((r) => r.kind === 'result' && r.data.request === request.seq), 'the result record was flushed');
  assert.equal(records.at(-1)!.kind, 'gateway.stop');
  assert.ok(s.logs.some((l) => l.msg === 'stopped'));
});

test('the drain deadline cuts a query that runs longer, and the process still exits 0', async () => {
  const { s, client } = await start('1s');
  const busy = await client();
  const query = failure(busy.query('SELECT pg_sleep(10)'));
  await new Promise((r) => setTimeout(r, 200));
  const signalled = Date.now();
  s.child.kill('SIGTERM');
  const err = await query;
  assert.match(err.message, /terminating connection: gateway shutting down|Connection terminated/);
  assert.deepEqual(await s.exited, { code: 0, signal: null });
  const took = Date.now() - signalled;
  assert.ok(took >= 900 && took < 5_000, `exited ${took} ms after SIGTERM`);
  assert.ok(s.logs.some((l) => l.msg === 'drain deadline reached: cutting what is left'));
  assert.equal(audit(s).at(-1)!.kind, 'gateway.stop');
});

test('a second SIGTERM exits at once', async () => {
  const { s, client } = await start('30s');
  const busy = await client();
  void busy.query('SELECT pg_sleep(10)').catch(() => undefined);
  await new Promise((r) => setTimeout(r, 200));
  s.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 200));
  const second = Date.now();
  s.child.kill('SIGTERM');
  const exit = await s.exited;
  assert.equal(exit.code, 1);
  assert.ok(Date.now() - second < 1_000);
});
