// Profiles the Gatehouse process on the PostgreSQL path: runs it with --cpu-prof under pgbench -S and prints where the
// time goes (self time by function, and inclusive time of the gateway's own functions).
//
//   npx tsx bench/profile.ts [--mode simple|prepared] [--script select|tpcb] [--store sqlite|postgres] [--seconds 10] [--out DIR] [--no-profile]
// --store postgres runs the gateway on the shared PostgreSQL store (a database made afresh) instead of the embedded SQLite one.
// With --no-profile it only measures TPS and the gateway's CPU per transaction (a quick check while optimising).
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startGatewayChild } from './lib/gateway.ts';
import { pgbench } from './lib/load.ts';
import { cpuSeconds } from './lib/proc.ts';
import { summarize, type Profile } from './lib/cpuprofile.ts';
import { freshStoreDatabase } from './lib/store-db.ts';
import { BENCH_DB, ensureBenchDb, pgGatewayYaml } from './sections/postgres.ts';

const { values } = parseArgs({ options: { mode: { type: 'string', default: 'simple' }, seconds: { type: 'string', default: '10' }, out: { type: 'string' }, script: { type: 'string', default: 'select' }, store: { type: 'string', default: 'sqlite' }, 'no-profile': { type: 'boolean', default: false } } });
const profiling = !values['no-profile'];
const mode = values.mode === 'prepared' ? 'prepared' : 'simple';
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-profile-'));
const out = resolve(values.out ?? join(dir, 'profiles'));
mkdirSync(out, { recursive: true });
try {
  await ensureBenchDb((l) => console.error(l));
  const store = values.store === 'postgres' ? await freshStoreDatabase('gatehouse_bench_profile') : `sqlite:${join(dir, 'gatehouse.db')}`;
  const gateway = await startGatewayChild(dir, pgGatewayYaml(store), { profileDir: profiling ? out : undefined });
  const token = await gateway.mint('pgbench', 'pgbench');
  const { host, port } = gateway.address('bench');
  const target = { host, port, user: 'pgbench', password: token, database: BENCH_DB };
  const cpu0 = cpuSeconds(gateway.pid) ?? 0;
  const r = await pgbench(target, { script: values.script === 'tpcb' ? 'tpcb' : 'select', mode, clients: 8, seconds: Number(values.seconds) });
  const cpu = (((cpuSeconds(gateway.pid) ?? 0) - cpu0) * 1e6) / r.transactions;
  console.log(`pgbench ${values.script} ${mode}, ${values.store} store: ${r.tps.toFixed(0)} TPS, gateway CPU ${cpu.toFixed(1)} µs per transaction${r.failed ? ' (FAILED)\n' + r.output : ''}`);
  const pid = gateway.pid;
  await gateway.stop();
  if (profiling) {
    // tsx's loader runs in a worker thread with its own profile: the main thread's is the largest of this process's.
    const file = readdirSync(out).filter((f) => f.endsWith('.cpuprofile') && f.includes(`.${pid}.`)).sort((a, b) => statSync(join(out, b)).size - statSync(join(out, a)).size)[0];
    if (!file) throw new Error('no profile written');
    console.log(`profile: ${join(out, file)}\n`);
    summarize(JSON.parse(readFileSync(join(out, file), 'utf8')) as Profile);
  }
} finally {
  if (!values.out) rmSync(dir, { recursive: true, force: true });
}
