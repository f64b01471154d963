// MySQL path: sysbench oltp_read_only against the same MariaDB directly, through a bare Node TCP passthrough, and through
// Gatehouse (a read grant on sysbench's tables, audit on, file-backed SQLite store); prepared statements and text.
import { join } from 'node:path';
import { startGatewayChild, type GatewayChild } from '../lib/gateway.ts';
import { sysbench, type MysqlTarget, type SysbenchResult } from '../lib/load.ts';
import { cpuSeconds, freePort, have, run, startNode, type Service } from '../lib/proc.ts';
import { withRatios, type Context, type Row } from '../lib/report.ts';

const UPSTREAM = { host: '127.0.0.1', port: 3306, user: 'root' };
/** The bench's own database on the upstream (override with GATEHOUSE_MYSQL_BENCH_DB). */
const BENCH_DB = process.env.GATEHOUSE_MYSQL_BENCH_DB ?? 'gatehouse_bench';
const TABLES = 4;
const TABLE_SIZE = 10_000;
const THREADS = 8;
const TEST = 'oltp_read_only';
/** oltp_read_only's statements per transaction: BEGIN, 10 point selects, 4 range selects, COMMIT. */
const STATEMENTS = 16;

const gatewayYaml = (store: string) => `
admin:
  listen: 127.0.0.1:0
store: "sqlite:${store}"
connections:
  bench:
    kind: mysql
    listen: 127.0.0.1:0
    upstream: mysql://root@127.0.0.1:3306/${BENCH_DB}
    tls: off
    upstream_tls: disable
roles:
  sysbench:
    bench:
      read: [${Array.from({ length: TABLES }, (_, i) => `sbtest${i + 1}`).join(', ')}]
      mask: { sbtest1.pad: redact }
`;

/** Creates the bench database and sysbench's tables, unless they are already there. */
async function ensureBenchDb(log: (s: string) => void): Promise<void> {
  const sql = (text: string) => run('mariadb', ['-h', UPSTREAM.host, '-P', String(UPSTREAM.port), '-u', UPSTREAM.user, '-N', '-B', '-e', text], { timeoutMs: 60_000 });
  const rows = await sql(`SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '${BENCH_DB}' AND TABLE_NAME LIKE 'sbtest%'`);
  if (rows.code !== 0) throw new Error(`MariaDB is not reachable at ${UPSTREAM.host}:${UPSTREAM.port}: ${rows.stderr}`);
  if (Number(rows.stdout.trim()) === TABLES) return;
  log(`  preparing sysbench tables (${TABLES} × ${TABLE_SIZE} rows)...`);
  await sql(`DROP DATABASE IF EXISTS ${BENCH_DB}; CREATE DATABASE ${BENCH_DB}`);
  const r = await sysbench({ ...UPSTREAM, database: BENCH_DB }, { test: TEST, ps: 'disable', threads: 1, seconds: 1, tables: TABLES, tableSize: TABLE_SIZE, command: 'prepare' });
  if (r.failed) throw new Error(`sysbench prepare failed: ${r.output.slice(-800)}`);
}

interface Measured extends SysbenchResult { cpuUsPerQuery?: number }

export async function benchMysql(ctx: Context): Promise<Row[]> {
  const section = 'mysql';
  if (!(await have('sysbench'))) return [{ section, metric: 'sysbench', unit: '', note: 'not available: sysbench is not installed' }];
  await ensureBenchDb(ctx.log);
  const services: Service[] = [];
  let gateway: GatewayChild | undefined;
  const rows: Row[] = [];
  try {
    const floorPort = await freePort();
    const floor = await startNode('floor-tcp', join(import.meta.dirname, '../floor/tcp.ts'), [String(floorPort), UPSTREAM.host, String(UPSTREAM.port)]);
    services.push(floor);
    gateway = await startGatewayChild(ctx.dir, gatewayYaml(join(ctx.dir, 'gatehouse-mysql.db')), { profileDir: ctx.profileDir });
    const token = await gateway.mint('sysbench', 'sysbench');
    const gw = gateway.address('bench');

    type Name = 'direct' | 'floor' | 'gatehouse';
    const targets: { name: Name; target: MysqlTarget; pid?: number }[] = [
      { name: 'direct', target: { ...UPSTREAM, database: BENCH_DB } },
      { name: 'floor', target: { ...UPSTREAM, port: floorPort, database: BENCH_DB }, pid: floor.pid },
      { name: 'gatehouse', target: { host: gw.host, port: gw.port, user: 'sysbench', password: token, database: BENCH_DB }, pid: gateway.pid },
    ];
    const load = { test: TEST, threads: THREADS, tables: TABLES, tableSize: TABLE_SIZE };
    const measure = async (t: (typeof targets)[number], ps: 'auto' | 'disable', seconds: number): Promise<Measured> => {
      const before = t.pid ? cpuSeconds(t.pid) : undefined;
      const r = await sysbench(t.target, { ...load, ps, seconds });
      const after = t.pid ? cpuSeconds(t.pid) : undefined;
      if (r.failed) ctx.log(`  sysbench against ${t.name} failed:\n${r.output.slice(-1500)}`);
      return { ...r, ...(before !== undefined && after !== undefined && r.queries > 0 ? { cpuUsPerQuery: ((after - before) * 1e6) / r.queries } : {}) };
    };

    ctx.log('  warm-up (2 s per proxy)');
    for (const t of targets.filter((x) => x.pid)) await measure(t, 'auto', 2);

    for (const ps of ['auto', 'disable'] as const) {
      const mode = ps === 'auto' ? 'prepared' : 'text (--db-ps-mode=disable)';
      const results = {} as Record<Name, Measured | undefined>;
      for (const t of targets) {
        ctx.log(`  sysbench ${TEST}, ${mode}, ${THREADS} threads, ${ctx.seconds} s: ${t.name}`);
        results[t.name] = await measure(t, ps, ctx.seconds);
      }
      const ok = (n: Name) => (results[n] && !results[n]!.failed ? results[n] : undefined);
      rows.push(withRatios({
        section, metric: `sysbench ${TEST}, ${mode}, ${THREADS} threads`, unit: 'TPS',
        direct: ok('direct')?.tps, ref: ok('floor')?.tps, refName: 'node relay', gatehouse: ok('gatehouse')?.tps,
        note: `${STATEMENTS} statements per transaction; Gatehouse ${ok('gatehouse')?.qps?.toFixed(0) ?? '-'} queries/s`,
      }));
      const cpu = withRatios({
        section, metric: `proxy CPU per query, ${mode}`, unit: 'µs',
        ref: ok('floor')?.cpuUsPerQuery, refName: 'node relay', gatehouse: ok('gatehouse')?.cpuUsPerQuery,
      });
      cpu.target = 'G ≤ 1.5× node relay';
      cpu.pass = cpu.ratioRef !== undefined ? cpu.ratioRef <= 1.5 : false;
      rows.push(cpu);
    }
  } finally {
    await gateway?.stop();
    for (const s of services) await s.stop();
  }
  return rows;
}
