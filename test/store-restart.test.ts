// The store's PostgreSQL restarted under load, on a throwaway cluster this test creates (initdb/pg_ctl, its own loopback
// port, a temporary directory): the gateway fails closed while it is down — agents are told it is the store, in their own
// protocol (an HTTP 503, a PostgreSQL ErrorResponse) — recovers by itself, and every request it answered 200 has its
// audit record in a chain that verifies.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { verifyAudit } from '../src/services/audit/log.ts';
import { parseConfig } from '../src/config/load.ts';
import { startGateway } from '../src/main.ts';
import { silent } from './support/log.ts';

const bin = join('/usr/lib/postgresql', readdirSync('/usr/lib/postgresql').sort().at(-1)!, 'bin');
// PostgreSQL refuses to run as root: there, the throwaway cluster is owned and run by the postgres system user.
const asRoot = process.getuid?.() === 0;
const run = (tool: string, args: string[]) => asRoot
  ? execFileSync('runuser', ['-u', 'postgres', '--', join(bin, tool), ...args], { stdio: 'ignore' })
  : execFileSync(join(bin, tool), args, { stdio: 'ignore' });
const port = 20_000 + (process.pid % 20_000);

test('the store restarted under load: refused while down, served again after, no answered request without its record', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-pg-'));
  const data = join(dir, 'data');
  if (asRoot) {
    const [uid, gid] = ['-u', '-g'].map((flag) => Number(execFileSync('id', [flag, 'postgres']).toString()));
    chownSync(dir, uid, gid);
  }
  const pgctl = (...args: string[]) => run('pg_ctl', ['-D', data, '-w', '-l', join(dir, 'log'), ...args]);
  run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8']);
  const start = () => pgctl('-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`, 'start');
  start();
  const upstream = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const gw = await startGateway(parseConfig(`admin: { listen: "127.0.0.1:0" }
store: "postgres://postgres@127.0.0.1:${port}/postgres"
node: { id: restart, revocation_stale_after: 10s }
connections:
  api: { kind: http, listen: "127.0.0.1:0", upstream: "http://127.0.0.1:${(upstream.address() as AddressInfo).port}" }
  db: { kind: postgres, listen: "127.0.0.1:0", upstream: "postgres://postgres@127.0.0.1:${port}/postgres", tls: off, upstream_tls: disable }
roles:
  agent:
    api: { allow: ["GET /x/*"] }
    db: { read: [] }
`, 'restart'), { log: silent });
  try {
    const { token } = await gw.services.tokens.mint({ role: 'agent', label: 'agent', ttlSeconds: 300, createdBy: 'test' });
    const address = gw.listeners.find((l) => l.name === 'api')!.address;
    const sql = gw.listeners.find((l) => l.name === 'db')!.address;
    const pgClient = () => new pg.Client({ host: '127.0.0.1', port: Number(sql.slice(sql.lastIndexOf(':') + 1)), user: 'agent', password: token, database: 'postgres' });
    const answered: string[] = [];
    const statuses = new Map<number, number>();
    /** Each refusal's error code, as the HTTP client reads it. */
    const refusals = new Set<string>();
    let running = true;
    let n = 0;
    const load = (async () => {
      while (running) {
        const path = `/x/${n++}`;
        const status = await fetch(`http://${address}${path}`, { headers: { authorization: `Bearer ${token}` } })
          .then(async (r) => {
            const body = await r.text();
            if (r.status !== 200) refusals.add(`${r.status} ${(JSON.parse(body) as { error: { code: string; message: string } }).error.code}: ${(JSON.parse(body) as { error: { message: string } }).error.message}`);
            return r.status;
          }, () => 0);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (status === 200) answered.push(path);
      }
    })();
    await new Promise((r) => setTimeout(r, 500));
    pgctl('-m', 'fast', 'stop');
    const before = statuses.get(200) ?? 0;
    // Past the token cache (1 s): token checks now ask the store, which cannot answer.
    await new Promise((r) => setTimeout(r, 2_000));
    const refusedWhileDown = [...statuses].filter(([s]) => s !== 200).reduce((a, [, c]) => a + c, 0);
    // A PostgreSQL client connecting now is refused at authentication, with the reason, as PostgreSQL says "not now".
    const refused = await pgClient().connect().then(() => undefined, (err: { code?: string; message: string }) => err);
    assert.equal(refused?.code, '57P03', `a PostgreSQL client is refused with cannot_connect_now (${refused?.message})`);
    assert.equal(refused.message, "Gatehouse: the gateway's store is unreachable; refusing until it is back");
    start();
    const deadline = Date.now() + 20_000;
    const afterRestart = () => (statuses.get(200) ?? 0) - before;
    while (afterRestart() < 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    running = false;
    await load;
    console.log(`statuses (status → requests): ${JSON.stringify([...statuses])}; refusals: ${JSON.stringify([...refusals])}`);
    assert.ok(refusedWhileDown > 0, 'requests are refused while the store is down');
    // 503 with the reason: the request's record cannot be written, or (past the token cache) the token cannot be checked.
    // Never a bare 500, never a dropped connection, never an answer without its record (below).
    assert.deepEqual([...statuses.keys()].filter((s) => ![200, 503].includes(s)), [], 'every request is answered: served or refused with a reason');
    assert.deepEqual([...refusals].filter((r) => !/^503 (audit|store)\.unavailable: Gatehouse: /.test(r)), [], 'each refusal says why');
    assert.ok(refusals.has("503 store.unavailable: Gatehouse: the gateway's store is unreachable; refusing until it is back"), `a token that cannot be checked is refused with the store named (${[...refusals]})`);
    // Served again: a PostgreSQL client authenticates as before.
    const back = pgClient();
    await back.connect();
    await back.end();
    assert.ok(afterRestart() >= 20, `the gateway serves again by itself (${JSON.stringify([...statuses])})`);
    await gw.services.audit.flush();
    const records = await gw.services.store.readAudit(0, 100_000);
    const recorded = records.filter((r) => r.kind === 'request' && r.verdict === 'allow').map((r) => JSON.stringify(r.data)).join('\n');
    const missing = answered.filter((p) => !recorded.includes(`${p}"`));
    assert.deepEqual(missing, [], 'every answered request has its audit record');
    assert.equal((await verifyAudit(gw.services.store)).ok, true);
  } finally {
    await gw.close();
    await new Promise((r) => upstream.close(r));
    try { pgctl('-m', 'immediate', 'stop'); } catch { /* already stopped */ }
    rmSync(dir, { recursive: true, force: true });
  }
});
