// Structured logs: JSON lines with levels; each request's debug line carries the id its audit record carries; and nothing
// secret — tokens, upstream passwords, injected credentials, admin keys, masked values — ever reaches a line.
import Database from 'better-sqlite3';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { parseConfig } from '../src/config/load.ts';
import { configSecrets } from '../src/config/secrets.ts';
import { startGateway } from '../src/main.ts';
import { allow, deny } from '../src/services/policy/verdict.ts';
import { createLogger, REDACTED } from '../src/services/telemetry/logger.ts';
import { capture } from './support/log.ts';
import { ADMIN_KEY, freshDatabase, rolesYaml, testDatabase } from './support/pg.ts';
import { serve, type Served } from './support/serve.ts';

const UPSTREAM_PASSWORD = 'Upstream-Pw-7781';
const API_KEY = 'bk_live_9f8e7d6c5b4a39281706';
const SSN = '078-05-1120';

test('the logger scrubs configured secrets (plain and JSON-escaped), token-shaped strings and URL passwords from every field', () => {
  const config = parseConfig(`
admin:
  keys: [{ name: ops, key: "${ADMIN_KEY}", roles: [admin] }]
secret: "hashing-secret-with-\\"quotes\\""
approvals:
  webhooks: [{ url: "https://hooks.example/services/T000/B000/XXXXSECRETPATH", secret: "webhook-signing-secret" }]
connections:
  crm: { kind: postgres, listen: "127.0.0.1:0", upstream: "postgres://gatehouse:${encodeURIComponent('p@ss word')}@db:5432/crm" }
  billing: { kind: http, listen: "127.0.0.1:0", upstream: "http://127.0.0.1:9", headers: { Authorization: "Bearer ${API_KEY}" } }
`);
  const lines: string[] = [];
  const log = createLogger({ level: 'info', secrets: configSecrets(config), destination: { write: (l) => void lines.push(l) } });
  const token = 'gth_' + 'Ab1_-'.repeat(8) + 'xyz';
  const err = new Error(`cannot reach postgres://gatehouse:p%40ss%20word@db:5432/crm with p@ss word; sent Bearer ${API_KEY}`);
  log.error({ err, header: `Bearer ${API_KEY}`, token, key: ADMIN_KEY, secret: config.secret, hook: 'https://hooks.example/services/T000/B000/XXXXSECRETPATH', other: 'postgres://someone:elsewhere@host/db' }, `agent sent ${token}`);
  log.debug('not at this level');
  assert.equal(lines.length, 1);
  const line = lines[0];
  for (const secret of [ADMIN_KEY, API_KEY, 'p@ss word', 'p%40ss%20word', token, 'hashing-secret-with-\\"quotes\\"', 'XXXXSECRETPATH', 'webhook-signing-secret', 'elsewhere']) {
    assert.ok(!line.includes(secret), `the line shows ${secret}: ${line}`);
  }
  const record = JSON.parse(line) as Record<string, any>;
  assert.equal(record.level, 'error');
  assert.equal(record.msg, `agent sent gth_${REDACTED}`);
  assert.equal(record.header, REDACTED, 'the whole injected header value is a secret');
  assert.equal(record.other, `postgres://someone:${REDACTED}@host/db`);
  assert.match(record.err.stack, /cannot reach postgres:\/\/gatehouse:\[REDACTED\]@db/);
  assert.equal(typeof record.time, 'string');
});

test('a request through the gate: its id is in its audit record and in its debug line', async () => {
  const config = parseConfig(`
admin: { listen: "127.0.0.1:0" }
store: "sqlite::memory:"
connections:
  api: { kind: http, listen: "127.0.0.1:0", upstream: "http://127.0.0.1:9" }
roles:
  agent: { api: { allow: ["GET /x"] } }
`);
  const logs = capture(config);
  const gw = await startGateway(config, { log: logs.log });
  try {
    const { record } = await gw.services.tokens.mint({ role: 'agent', label: 'agent', ttlSeconds: 60, createdBy: 'test' });
    const s = await gw.services.gate.open({ token: record, connection: 'api', protocol: 'http', client: '127.0.0.1:1' }, () => undefined);
    const facts = (summary: string) => ({ protocol: 'http' as const, connection: 'api', effect: 'read' as const, summary, targets: [] });
    await s.pass({ facts: facts('GET /x'), policy: () => allow('GET /x') });
    await s.pass({ facts: facts('GET /y'), policy: () => deny('http.allow', 'no grant for GET /y') });
    s.close('done');
    const requests = (await gw.services.audit.read(0, 1000)).filter((r) => r.kind === 'request');
    const lines = logs.records().filter((l) => l.msg === 'request');
    assert.equal(requests.length, 2);
    assert.deepEqual(lines.map((l) => [l.level, l.requestId, l.sessionId, l.connection, l.kind, l.verdict, l.rule]), [
      ['debug', requests[0].data.requestId, s.ctx.sessionId, 'api', 'http', 'forward', undefined],
      ['debug', requests[1].data.requestId, s.ctx.sessionId, 'api', 'http', 'refuse', 'http.allow'],
    ]);
    assert.match(String(requests[0].data.requestId), /^req_[0-9a-f]{16}$/);
    assert.notEqual(requests[0].data.requestId, requests[1].data.requestId);
  } finally {
    await gw.close();
  }
});

// `gatehouse serve` at debug with real traffic: a token over SCRAM and as a bearer, a bad token, a masked SSN.
const database = testDatabase('gatehouse_ops_logs');
let served: Served;
let upstream: ReturnType<typeof createServer>;
before(async () => {
  await freshDatabase(database);
  upstream = createServer((req, res) => res.end(JSON.stringify({ saw: req.headers.authorization === `Bearer ${API_KEY}` })));
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const port = (upstream.address() as { port: number }).port;
  served = await serve(`
log_level: debug
admin:
  listen: 127.0.0.1:0
  keys: [{ name: ops, key: "${ADMIN_KEY}", roles: [admin] }]
store: sqlite:./gatehouse.db
connections:
  crm:
    kind: postgres
    listen: 127.0.0.1:0
    upstream: postgres://postgres:${UPSTREAM_PASSWORD}@127.0.0.1:5432/${database}
    tls: off
    upstream_tls: disable
  billing:
    kind: http
    listen: 127.0.0.1:0
    upstream: http://127.0.0.1:${port}
    headers: { Authorization: "Bearer \${BILLING_KEY}" }
${rolesYaml}
  payer:
    billing: { allow: ["GET /invoices/*"] }
`, [], { BILLING_KEY: API_KEY });
});
after(async () => {
  served?.child.kill('SIGKILL');
  await new Promise<void>((r) => upstream.close(() => r()));
});

test('gatehouse serve at debug: every line is JSON with a level, request lines match audit records, and no secret or masked value appears', async () => {
  const mint = async (role: string) => {
    const res = await fetch(`${served.adminUrl}/v1/tokens`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}` }, body: JSON.stringify({ role, label: role }) });
    return ((await res.json()) as { token: string }).token;
  };
  const writer = await mint('writer');
  const payer = await mint('payer');
  const [host, port] = served.address.crm.split(':');
  const c = new pg.Client({ host, port: Number(port), user: 'writer', password: writer, database });
  await c.connect();
  const { rows } = await c.query('SELECT name, ssn FROM customers ORDER BY id LIMIT 1');
  assert.equal(rows[0].name, 'Ada Lovelace');
  assert.notEqual(rows[0].ssn, SSN, 'masked on the way back');
  await c.query('SELECT * FROM secrets').catch(() => undefined);
  await c.end();
  const billing = `http://${served.address.billing}`;
  const paid = await fetch(`${billing}/invoices/1`, { headers: { authorization: `Bearer ${payer}` } });
  assert.deepEqual(await paid.json(), { saw: true });
  const forged = 'gth_' + 'Z'.repeat(43);
  assert.equal((await fetch(`${billing}/invoices/1`, { headers: { authorization: `Bearer ${forged}` } })).status, 401);
  await fetch(`${served.adminUrl}/metrics`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
  served.child.kill('SIGTERM');
  assert.equal((await served.exited).code, 0);

  const logged = served.logs;
  assert.ok(logged.length >= 8);
  assert.ok(logged.every((l) => ['debug', 'info', 'warn', 'error'].includes(l.level as string) && typeof l.msg === 'string'));
  const text = JSON.stringify(logged);
  for (const secret of [writer, payer, forged, UPSTREAM_PASSWORD, API_KEY, ADMIN_KEY, SSN]) assert.ok(!text.includes(secret), `a log line shows ${secret}`);

  const db = new Database(join(served.dir, 'gatehouse.db'), { readonly: true });
  const ids = db.prepare("SELECT json_extract(data, '$.requestId') AS id FROM audit WHERE kind = 'request' ORDER BY seq").all().map((r) => (r as { id: string }).id);
  db.close();
  assert.equal(ids.length, 3, 'two statements and one HTTP request; the forged token was refused before any request');
  assert.deepEqual(logged.filter((l) => l.msg === 'request').map((l) => l.requestId), ids);
});
