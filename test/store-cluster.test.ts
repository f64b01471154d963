// `gatehouse serve --workers 2` on the PostgreSQL store: both workers serve, each keeps its own audit chain in the shared
// store, a token minted through one is honoured by the other, and both chains verify after a graceful stop.
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import pg from 'pg';
import { verifyAudit } from '../src/services/audit/log.ts';
import { openPostgresStore } from '../src/services/store/postgres.ts';
import { testDatabase } from './support/pg.ts';
import { serve } from './support/serve.ts';

const PG = { host: '127.0.0.1', port: 5432, user: 'postgres' };
const db = testDatabase('gatehouse_cluster');
const url = `postgres://${PG.user}@${PG.host}:${PG.port}/${db}`;
const ADMIN_KEY = 'cluster-admin-key-0123456789';

const get = (address: string, path: string, token: string) => new Promise<number>((resolve, reject) => {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  // A new connection each time: the cluster hands each connection to one worker.
  request({ host, port, path, agent: false, headers: { authorization: `Bearer ${token}` } }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode!)); })
    .on('error', reject).end();
});

test('serve --workers 2 on the PostgreSQL store: one chain per worker, tokens shared, every chain verifies', async () => {
  const admin = new pg.Client({ ...PG, database: 'postgres' });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${db}`);
  await admin.end();
  const upstream: Server = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const served = await serve(`
admin: { listen: "127.0.0.1:0", keys: [{ name: alice, key: "${ADMIN_KEY}", roles: [admin] }] }
store: "${url}"
node: { id: it }
connections:
  api: { kind: http, listen: "127.0.0.1:0", upstream: "http://127.0.0.1:${(upstream.address() as AddressInfo).port}" }
roles:
  agent:
    api: { allow: ["GET /x"] }
`, ['--workers', '2']);
  try {
    const minted = await fetch(`${served.adminUrl}/v1/tokens`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ role: 'agent', label: 'agent', ttl: '5m' }) });
    assert.equal(minted.status, 201);
    const { token } = await minted.json() as { token: string };
    // Both workers start before the first listens; give the second a moment, then spread connections over both.
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) statuses.push(await get(served.address.api, '/x', token));
    assert.deepEqual(new Set(statuses), new Set([200]), 'every worker honours a token minted through another');
  } finally {
    served.child.kill('SIGTERM');
    assert.equal((await served.exited).code, 0);
    await new Promise((r) => upstream.close(r));
  }
  const check = new pg.Client({ ...PG, database: db });
  await check.connect();
  const nodes = (await check.query<{ node: string }>('SELECT DISTINCT node FROM audit ORDER BY node')).rows.map((r) => r.node);
  await check.end();
  assert.deepEqual(nodes, ['it.w1', 'it.w2'], 'each worker writes its own chain');
  for (const node of nodes) {
    const store = await openPostgresStore(url, { node });
    try {
      const verified = await verifyAudit(store);
      assert.equal(verified.ok, true, `${node}: ${JSON.stringify(verified.broken)}`);
      const kinds = (await store.readAudit(0, 10_000)).map((r) => r.kind);
      assert.equal(kinds[0], 'gateway.start');
      assert.equal(kinds.at(-1), 'gateway.stop');
    } finally {
      await store.close();
    }
  }
});
