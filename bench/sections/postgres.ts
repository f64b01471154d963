// PostgreSQL path: pgbench against the same upstream directly, through a bare Node TCP passthrough, through pgbouncer and
// through Gatehouse (realistic role, audit on, file-backed SQLite store); then RSS with 1,000 idle sessions.
import { join } from 'node:path';
import pg from 'pg';
import { startGatewayChild, type GatewayChild } from '../lib/gateway.ts';
import { pgbench, type PgTarget, type PgbenchResult } from '../lib/load.ts';
import { cpuSeconds, freePort, have, rssMb, run, sleep, startNode, type Service } from '../lib/proc.ts';
import { startPgbouncer } from '../lib/refs.ts';
import { withRatios, type Context, type Row } from '../lib/report.ts';

const UPSTREAM = { host: '127.0.0.1', port: 5432, user: 'postgres' };
export const BENCH_DB = 'gatehouse_bench';
const SCALE = 8;
const CLIENTS = 8;
const IDLE_SESSIONS = 1000;

export const pgRoleYaml = `
roles:
  pgbench:
    bench:
      read: [pgbench_accounts, pgbench_branches, pgbench_tellers, pgbench_history]
      write: [pgbench_accounts, pgbench_branches, pgbench_tellers, pgbench_history]
      mask: { pgbench_accounts.filler: redact }
      # One token holds every bench session (1,000 idle ones included): above the default per-token cap of 20.
      max_sessions_per_token: ${IDLE_SESSIONS}
`;

/** The gateway's config for the PostgreSQL path; `store` is the `store:` value (`sqlite:<file>` or a postgres:// URL). */
export function pgGatewayYaml(store: string, upstream = `postgres://postgres@127.0.0.1:5432/${BENCH_DB}`) {
  return `
admin:
  listen: 127.0.0.1:0
store: "${store}"
connections:
  bench:
    kind: postgres
    listen: 127.0.0.1:0
    upstream: ${upstream}
    tls: off
    upstream_tls: disable
    # The idle-session run opens its connections 50 at a time from one address: above the default per-client cap of 8.
    max_handshakes_per_client: 64
${pgRoleYaml}`;
}

/** Creates the bench database and loads pgbench's tables at SCALE, unless they are already there. */
export async function ensureBenchDb(log: (s: string) => void): Promise<void> {
  const psql = (db: string, sql: string) => run('psql', ['-X', '-Atq', '-h', UPSTREAM.host, '-p', String(UPSTREAM.port), '-U', UPSTREAM.user, '-d', db, '-c', sql], { timeoutMs: 60_000 });
  const exists = await psql('postgres', `SELECT 1 FROM pg_database WHERE datname = '${BENCH_DB}'`);
  if (exists.code !== 0) throw new Error(`PostgreSQL is not reachable at ${UPSTREAM.host}:${UPSTREAM.port}: ${exists.stderr}`);
  if (exists.stdout.trim() !== '1') await psql('postgres', `CREATE DATABASE ${BENCH_DB}`);
  const scale = await psql(BENCH_DB, 'SELECT count(*) FROM pgbench_branches');
  if (scale.code === 0 && Number(scale.stdout.trim()) === SCALE) return;
  log(`  initialising pgbench tables at scale ${SCALE}...`);
  const init = await run('pgbench', ['-i', '-q', '-s', String(SCALE), '-h', UPSTREAM.host, '-p', String(UPSTREAM.port), '-U', UPSTREAM.user, BENCH_DB], { timeoutMs: 180_000 });
  if (init.code !== 0) throw new Error(`pgbench -i failed: ${init.stderr}`);
}

interface Measured extends PgbenchResult { cpuUsPerTx?: number; rssMb?: number }

export async function benchPostgres(ctx: Context): Promise<Row[]> {
  const section = 'postgres';
  if (!(await have('pgbench'))) return [{ section, metric: 'pgbench', unit: '', note: 'not available: pgbench is not installed (postgresql-contrib)' }];
  await ensureBenchDb(ctx.log);
  const services: Service[] = [];
  let gateway: GatewayChild | undefined;
  const rows: Row[] = [];
  try {
    const bouncerPort = await freePort();
    const bouncer = await startPgbouncer(ctx.dir, bouncerPort, UPSTREAM, [
      { name: BENCH_DB, dbname: BENCH_DB, poolMode: 'session', poolSize: 20 },
      { name: `${BENCH_DB}_tx`, dbname: BENCH_DB, poolMode: 'transaction', poolSize: 10 },
    ]);
    if (typeof bouncer !== 'string') services.push(bouncer);
    else ctx.log(`  pgbouncer: ${bouncer}`);
    const floorPort = await freePort();
    const floor = await startNode('floor-tcp', join(import.meta.dirname, '../floor/tcp.ts'), [String(floorPort), UPSTREAM.host, String(UPSTREAM.port)]);
    services.push(floor);
    gateway = await startGatewayChild(ctx.dir, pgGatewayYaml(`sqlite:${join(ctx.dir, 'gatehouse-pg.db')}`), { profileDir: ctx.profileDir });
    const token = await gateway.mint('pgbench', 'pgbench');
    const gw = gateway.address('bench');

    type Name = 'direct' | 'floor' | 'ref' | 'gatehouse';
    const targets: { name: Name; target: PgTarget; pid?: number }[] = [
      { name: 'direct', target: { ...UPSTREAM, database: BENCH_DB } },
      { name: 'floor', target: { ...UPSTREAM, port: floorPort, database: BENCH_DB }, pid: floor.pid },
      ...(typeof bouncer !== 'string' ? [{ name: 'ref' as const, target: { ...UPSTREAM, port: bouncerPort, database: BENCH_DB }, pid: bouncer.pid }] : []),
      { name: 'gatehouse', target: { host: gw.host, port: gw.port, user: 'pgbench', password: token, database: BENCH_DB }, pid: gateway.pid },
    ];

    const measure = async (t: (typeof targets)[number], o: Parameters<typeof pgbench>[1]): Promise<Measured> => {
      const before = t.pid ? cpuSeconds(t.pid) : undefined;
      let rss = 0;
      const sampler = t.pid ? setInterval(() => { rss = Math.max(rss, rssMb(t.pid!)); }, 500) : undefined;
      const r = await pgbench(t.target, o);
      if (sampler) clearInterval(sampler);
      const after = t.pid ? cpuSeconds(t.pid) : undefined;
      if (r.failed) ctx.log(`  pgbench against ${t.name} failed:\n${r.output.slice(-1500)}`);
      return { ...r, ...(before !== undefined && after !== undefined && r.transactions > 0 ? { cpuUsPerTx: ((after - before) * 1e6) / r.transactions } : {}), ...(t.pid ? { rssMb: rss } : {}) };
    };

    ctx.log('  warm-up (2 s per proxy)');
    for (const t of targets.filter((x) => x.pid)) await pgbench(t.target, { script: 'select', mode: 'simple', clients: CLIENTS, seconds: 2 });

    const workloads = [
      { key: 'select simple', script: 'select', mode: 'simple', statements: 1, target: true },
      { key: 'select prepared', script: 'select', mode: 'prepared', statements: 1, target: true },
      { key: 'TPC-B simple', script: 'tpcb', mode: 'simple', statements: 7, target: false },
    ] as const;
    let peakRss = { gatehouse: 0, ref: 0 };
    for (const w of workloads) {
      const results = {} as Record<Name, Measured | undefined>;
      for (const t of targets) {
        ctx.log(`  pgbench ${w.key}, ${CLIENTS} clients, ${ctx.seconds} s: ${t.name}`);
        results[t.name] = await measure(t, { script: w.script, mode: w.mode, clients: CLIENTS, seconds: ctx.seconds });
      }
      const ok = (n: Name) => (results[n] && !results[n]!.failed ? results[n] : undefined);
      const tps = withRatios({
        section, metric: `pgbench ${w.key === 'TPC-B simple' ? 'TPC-B (default script), simple' : `-S ${w.key.split(' ')[1]}`}, ${CLIENTS} clients`, unit: 'TPS',
        direct: ok('direct')?.tps, floor: ok('floor')?.tps, ref: ok('ref')?.tps, refName: 'pgbouncer', gatehouse: ok('gatehouse')?.tps,
      });
      if (w.target) { tps.target = 'G ≥ pgbouncer'; tps.pass = tps.ratioRef !== undefined ? tps.ratioRef >= 1 : false; }
      if (results.gatehouse?.failed) tps.note = 'Gatehouse run failed';
      rows.push(tps);
      const per = w.statements === 1 ? 'query' : 'statement';
      const cpu = (n: Name) => (ok(n)?.cpuUsPerTx !== undefined ? ok(n)!.cpuUsPerTx! / w.statements : undefined);
      const cpuRow = withRatios({ section, metric: `proxy CPU per ${per}, ${w.key}`, unit: 'µs', floor: cpu('floor'), ref: cpu('ref'), refName: 'pgbouncer', gatehouse: cpu('gatehouse') });
      if (w.target) { cpuRow.target = 'G ≤ 1.5× pgbouncer'; cpuRow.pass = cpuRow.ratioRef !== undefined ? cpuRow.ratioRef <= 1.5 : false; }
      rows.push(cpuRow);
      peakRss = { gatehouse: Math.max(peakRss.gatehouse, results.gatehouse?.rssMb ?? 0), ref: Math.max(peakRss.ref, results.ref?.rssMb ?? 0) };
    }

    // Added latency: one client, so nothing queues; the difference to a direct connection is what the proxy adds.
    const lat: Partial<Record<Name, number>> = {};
    for (const t of targets) {
      ctx.log(`  pgbench -S simple, 1 client, ${Math.min(ctx.seconds, 5)} s: ${t.name}`);
      const r = await pgbench(t.target, { script: 'select', mode: 'simple', clients: 1, seconds: Math.min(ctx.seconds, 5) });
      if (!r.failed) lat[t.name] = r.latencyMs;
    }
    const added = (n: Name) => (lat[n] !== undefined && lat.direct !== undefined ? (lat[n]! - lat.direct) * 1000 : undefined);
    rows.push({ section, metric: 'latency per query, -S simple, 1 client', unit: 'µs', direct: lat.direct !== undefined ? lat.direct * 1000 : undefined, floor: lat.floor && lat.floor * 1000, ref: lat.ref && lat.ref * 1000, refName: 'pgbouncer', gatehouse: lat.gatehouse && lat.gatehouse * 1000 });
    rows.push({ section, metric: 'added latency per query, -S simple, 1 client', unit: 'µs', floor: added('floor'), ref: added('ref'), refName: 'pgbouncer', gatehouse: added('gatehouse') });
    rows.push(withRatios({ section: 'memory', metric: 'RSS under pgbench load (8 clients)', unit: 'MB', ref: peakRss.ref || undefined, refName: 'pgbouncer', gatehouse: peakRss.gatehouse || undefined }));

    await gateway.stop();
    gateway = undefined;
    rows.push(...(await idleSessions(ctx, typeof bouncer !== 'string' ? bouncerPort : undefined)));
  } finally {
    await gateway?.stop();
    for (const s of services) await s.stop();
  }
  return rows;
}

/**
 * RSS of a fresh gateway holding 1,000 idle PostgreSQL sessions. Each Gatehouse session owns an upstream connection, and
 * the upstream allows 100: the gateway's upstream is pgbouncer in transaction mode, which multiplexes them.
 */
async function idleSessions(ctx: Context, bouncerPort: number | undefined): Promise<Row[]> {
  const metric = `RSS with ${IDLE_SESSIONS.toLocaleString('en-US')} idle PostgreSQL sessions`;
  if (bouncerPort === undefined) return [{ section: 'memory', metric, unit: 'MB', note: 'not available: needs pgbouncer (transaction pooling) in front of the upstream' }];
  const gateway = await startGatewayChild(ctx.dir, pgGatewayYaml(`sqlite:${join(ctx.dir, 'gatehouse-idle.db')}`, `postgres://postgres@127.0.0.1:${bouncerPort}/${BENCH_DB}_tx`), { execArgv: ['--expose-gc'] });
  const clients: pg.Client[] = [];
  try {
    const idle = (await gateway.usage(true)).rssMb;
    const token = await gateway.mint('pgbench', 'idle');
    const { host, port } = gateway.address('bench');
    // One session first, so the catalog cache is loaded before the baseline.
    const first = new pg.Client({ host, port, user: 'idle', password: token, database: 'bench' });
    await first.connect();
    await first.query('SELECT 1 FROM pgbench_branches LIMIT 1');
    clients.push(first);
    await sleep(500);
    const baseline = (await gateway.usage(true)).rssMb;
    ctx.log(`  opening ${IDLE_SESSIONS} idle sessions`);
    const deadline = Date.now() + 120_000;
    for (let i = 1; i < IDLE_SESSIONS && Date.now() < deadline; i += 50) {
      const batch = Array.from({ length: Math.min(50, IDLE_SESSIONS - i) }, () => new pg.Client({ host, port, user: 'idle', password: token, database: 'bench' }));
      for (const c of batch) c.on('error', () => undefined);
      await Promise.all(batch.map((c) => c.connect()));
      clients.push(...batch);
    }
    await sleep(2000);
    const rss = (await gateway.usage(true)).rssMb;
    const open = clients.length;
    return [
      { section: 'memory', metric, unit: 'MB', gatehouse: rss, target: '< 150 MB', pass: open === IDLE_SESSIONS && rss < 150, note: `${open} sessions open; ${((rss - baseline) * 1024 / Math.max(1, open - 1)).toFixed(1)} KB per session over a ${baseline.toFixed(0)} MB baseline (one session; ${idle.toFixed(0)} MB before it)` },
    ];
  } finally {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    await gateway.stop();
  }
}
