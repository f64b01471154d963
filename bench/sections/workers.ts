// Workers: `gatehouse serve --workers 1` against `--workers 2` on the PostgreSQL store, the way a machine's cores are
// used — pgbench -S through the gateway, TPS and gateway CPU per query with every worker process counted.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pgbench } from '../lib/load.ts';
import { freePort, startService, treeCpuSeconds, waitForPort } from '../lib/proc.ts';
import type { Context, Row } from '../lib/report.ts';
import { freshStoreDatabase } from '../lib/store-db.ts';
import { BENCH_DB, ensureBenchDb, pgRoleYaml } from './postgres.ts';

const STORE_DB = 'gatehouse_bench_workers';
const ADMIN_KEY = 'bench-workers-admin-key-0123456789';
const CLIENTS = 8;

async function measure(ctx: Context, store: string, workers: number) {
  const dir = join(ctx.dir, `workers-${workers}`);
  mkdirSync(dir, { recursive: true });
  const [port, adminPort] = [await freePort(), await freePort()];
  const config = join(dir, 'gatehouse.yaml');
  writeFileSync(config, `
admin:
  listen: 127.0.0.1:${adminPort}
  keys: [{ name: bench, key: "${ADMIN_KEY}", roles: [admin] }]
store: "${store}"
node: { id: bench${workers} }
connections:
  bench:
    kind: postgres
    listen: 127.0.0.1:${port}
    upstream: postgres://postgres@127.0.0.1:5432/${BENCH_DB}
    tls: off
    upstream_tls: disable
${pgRoleYaml}`);
  const gateway = startService(`gatehouse --workers ${workers}`, process.execPath, ['bin/gatehouse.js', 'serve', '--config', config, '--workers', String(workers)]);
  try {
    await Promise.all([waitForPort(port, 60_000), waitForPort(adminPort, 60_000)]).catch((err: Error) => {
      throw new Error(`${err.message}\n${gateway.log()}`);
    });
    const minted = await fetch(`http://127.0.0.1:${adminPort}/v1/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ role: 'pgbench', label: 'bench', ttl: '1h' }),
    });
    if (minted.status !== 201) throw new Error(`minting a token: HTTP ${minted.status} ${await minted.text()}`);
    const { token } = (await minted.json()) as { token: string };
    const target = { host: '127.0.0.1', port, user: 'bench', password: token, database: BENCH_DB };
    ctx.log(`  pgbench -S simple, ${CLIENTS} clients, ${ctx.seconds} s: --workers ${workers}`);
    await pgbench(target, { script: 'select', mode: 'simple', clients: CLIENTS, seconds: 2 });
    const cpu0 = treeCpuSeconds(gateway.pid);
    const r = await pgbench(target, { script: 'select', mode: 'simple', clients: CLIENTS, seconds: ctx.seconds });
    if (r.failed) throw new Error(`pgbench through --workers ${workers} failed:\n${r.output.slice(-800)}`);
    return { tps: r.tps, cpuUs: ((treeCpuSeconds(gateway.pid) - cpu0) * 1e6) / r.transactions };
  } finally {
    await gateway.stop();
  }
}

export async function benchWorkers(ctx: Context): Promise<Row[]> {
  await ensureBenchDb(ctx.log);
  const store = await freshStoreDatabase(STORE_DB);
  const one = await measure(ctx, store, 1);
  const two = await measure(ctx, store, 2);
  const section = 'workers';
  return [
    { section, metric: `pgbench -S simple, ${CLIENTS} clients, PostgreSQL store, --workers 1`, unit: 'TPS', gatehouse: one.tps },
    { section, metric: `pgbench -S simple, ${CLIENTS} clients, PostgreSQL store, --workers 2`, unit: 'TPS', gatehouse: two.tps, note: `${(two.tps / one.tps).toFixed(2)}× --workers 1` },
    { section, metric: 'gateway CPU per query (all workers), --workers 1', unit: 'µs', gatehouse: one.cpuUs },
    { section, metric: 'gateway CPU per query (all workers), --workers 2', unit: 'µs', gatehouse: two.cpuUs },
  ];
}
