// Probes and Prometheus metrics on the admin listener, read as an orchestrator and a scraper read them, while real
// PostgreSQL clients go through the gateway: what is counted, what needs a key, and what is never a label.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { breakAuditWrites } from './support/audit.ts';
import { parseConfig } from '../src/config/load.ts';
import { startGateway } from '../src/main.ts';
import { silent } from './support/log.ts';
import { samples, value } from './support/metrics.ts';
import { ADMIN_KEY, APPROVER_KEY, failure, startPgGateway, type PgGateway } from './support/pg.ts';

let gw: PgGateway;
before(async () => { gw = await startPgGateway('gatehouse_ops_metrics', { tls: 'off', approvals: 'approvals:\n  timeout: 10s' }); });
after(() => gw.close());

const get = (path: string, key?: string) => fetch(gw.adminUrl + path, { headers: key ? { authorization: `Bearer ${key}` } : {} });
const scrape = async () => {
  const res = await get('/metrics', ADMIN_KEY);
  assert.equal(res.status, 200);
  return res.text();
};
const until = async (check: () => Promise<boolean>, ms = 5_000) => {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
};
const requests = (text: string, verdict: string, rule = '') => value(text, 'gatehouse_requests_total', { connection: 'crm', kind: 'postgres', verdict, rule });

test('/healthz and /readyz answer anyone and say nothing secret; /metrics needs an admin key (an approver\'s will do)', async () => {
  const health = await get('/healthz');
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { ok: true });
  const ready = await get('/readyz');
  assert.equal(ready.status, 200);
  const body = await ready.text();
  const r = JSON.parse(body) as { ready: boolean; checks: Record<string, { ok: boolean }> };
  assert.equal(r.ready, true);
  assert.deepEqual(Object.keys(r.checks), ['listeners', 'store', 'revocations']);
  for (const secretish of ['crm', String(gw.port), gw.database, ADMIN_KEY, 'postgres://']) assert.ok(!body.includes(secretish), `/readyz mentions ${secretish}`);

  assert.equal((await get('/metrics')).status, 401);
  assert.equal((await get('/metrics', 'not-a-key-0123456789abcdef')).status, 401);
  const res = await get('/metrics', APPROVER_KEY);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  assert.match(await res.text(), /^# TYPE gatehouse_requests_total counter$/m);
});

test('requests and verdicts by connection, kind and rule; decision latency per adapter; live sessions', async () => {
  const before = await scrape();
  const c = await gw.client(await gw.token('retriever', 'rag'));
  await c.query('SELECT title FROM documents LIMIT 1');
  await failure(c.query('SELECT * FROM secrets'));
  await failure(c.query('SELECT * FROM secrets'));
  const during = await scrape();
  assert.equal(requests(during, 'forward') - requests(before, 'forward'), 1);
  assert.equal(requests(during, 'refuse', 'sql.relation.read') - requests(before, 'refuse', 'sql.relation.read'), 2);
  const decided = (t: string) => value(t, 'gatehouse_decision_seconds_count', { connection: 'crm', kind: 'postgres' });
  assert.equal(decided(during) - decided(before), 3);
  assert.ok(value(during, 'gatehouse_decision_seconds_bucket', { connection: 'crm', kind: 'postgres', le: '+Inf' }) >= 3);
  assert.equal(value(during, 'gatehouse_sessions_live', { connection: 'crm', kind: 'postgres' }), 1);
  await c.end();
  await until(async () => value(await scrape(), 'gatehouse_sessions_live', { connection: 'crm', kind: 'postgres' }) === 0);
});

test('held approvals rise and fall; audit commits are timed and counted; a commit the store refuses is a store error', async () => {
  const before = await scrape();
  const c = await gw.client(await gw.token('holder', 'holder'));
  const held = c.query('DELETE FROM tickets WHERE id = 3');
  let id = '';
  await until(async () => {
    const pending = (await (await get('/v1/approvals', APPROVER_KEY)).json()) as { approvals: { id: string }[] };
    id = pending.approvals[0]?.id ?? '';
    return id !== '';
  });
  const holding = await scrape();
  assert.equal(value(holding, 'gatehouse_approvals_held'), 1);
  assert.equal(requests(holding, 'held') - requests(before, 'held'), 1);
  const decided = await fetch(`${gw.adminUrl}/v1/approvals/${id}/approve`, { method: 'POST', headers: { authorization: `Bearer ${APPROVER_KEY}` }, body: '{}' });
  assert.equal(decided.status, 200);
  await held;
  assert.equal(value(await scrape(), 'gatehouse_approvals_held'), 0);

  // Commit what is already queued (the approved DELETE's result record) so the one refused commit is this query's.
  await gw.gateway.services.audit.flush();
  const restore = breakAuditWrites(gw.gateway.services.store);
  try {
    const refused = await failure(c.query('SELECT count(*) FROM tickets'));
    assert.match(refused.message, /audit record could not be written/);
  } finally {
    restore();
  }
  const after = await scrape();
  assert.equal(value(after, 'gatehouse_store_errors_total', { operation: 'audit' }) - value(before, 'gatehouse_store_errors_total', { operation: 'audit' }), 1);
  assert.equal(requests(after, 'refuse', 'audit.unavailable') - requests(before, 'refuse', 'audit.unavailable'), 1);
  assert.ok(value(after, 'gatehouse_audit_commit_seconds_count') > value(before, 'gatehouse_audit_commit_seconds_count'));
  assert.ok(value(after, 'gatehouse_audit_records_total') > value(before, 'gatehouse_audit_records_total'));
  assert.equal(value(after, 'gatehouse_audit_queue_depth'), 0);
  await c.end();
});

test('a stuck revocation watch and an unreachable store make the gateway unready, and count as store errors', async () => {
  const { store } = gw.gateway.services;
  const readiness = async () => {
    const res = await get('/readyz');
    return { status: res.status, body: (await res.json()) as { checks: { store: { ok: boolean }; revocations: { ok: boolean; lagSeconds: number } } } };
  };
  const { revokedSince } = store;
  store.revokedSince = () => { throw new Error('connection lost'); };
  try {
    await until(async () => (await readiness()).status === 503, 4_000);
    const r = await readiness();
    assert.equal(r.body.checks.revocations.ok, false);
    assert.ok(r.body.checks.revocations.lagSeconds > 2);
    const text = await scrape();
    assert.ok(value(text, 'gatehouse_revocation_lag_seconds') > 2);
    assert.ok(value(text, 'gatehouse_store_errors_total', { operation: 'revocations' }) >= 1);
  } finally {
    store.revokedSince = revokedSince;
  }
  await until(async () => (await readiness()).status === 200, 2_000);

  const { getMeta } = store;
  store.getMeta = () => { throw new Error('connection lost'); };
  try {
    const r = await readiness();
    assert.equal(r.status, 503);
    assert.equal(r.body.checks.store.ok, false);
    assert.ok(!JSON.stringify(r.body).includes('connection lost'), 'errors stay in the logs');
  } finally {
    store.getMeta = getMeta;
  }
  assert.ok(value(await scrape(), 'gatehouse_store_errors_total', { operation: 'readiness' }) >= 1);
  assert.equal((await readiness()).status, 200);
});

test('no token, session, request, approval, address or statement is ever a label value', async () => {
  const t = await gw.token('writer', 'labels');
  const c = await gw.client(t);
  await c.query("SELECT name FROM customers WHERE name = 'Ada Lovelace'");
  await failure(c.query('SELECT * FROM secrets'));
  const text = await scrape();
  await c.end();
  const ours = samples(text).filter((s) => s.name.startsWith('gatehouse_'));
  assert.ok(ours.length > 10);
  for (const s of ours) {
    assert.ok(Object.keys(s.labels).every((k) => ['connection', 'kind', 'verdict', 'rule', 'operation', 'le'].includes(k)), `${s.name} ${JSON.stringify(s.labels)}`);
    for (const v of Object.values(s.labels)) {
      assert.doesNotMatch(v, /tok_|ses_|req_|apr_|gth_|127\.0\.0\.1|SELECT|Ada|labels/, `${s.name} ${JSON.stringify(s.labels)}`);
    }
  }
  assert.ok(!text.includes(t.id) && !text.includes(t.token));
});

test('admin.metrics: public serves /metrics to anyone who reaches the admin listener', async () => {
  const open = await startGateway(parseConfig(`
admin: { listen: "127.0.0.1:0", metrics: public }
store: "sqlite::memory:"
connections:
  api: { kind: http, listen: "127.0.0.1:0", upstream: "http://127.0.0.1:9" }
`), { log: silent });
  try {
    const res = await fetch(`${open.adminUrl}/metrics`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /^gatehouse_audit_queue_depth 0$/m);
  } finally {
    await open.close();
  }
});
