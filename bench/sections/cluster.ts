// Cluster: what the shared PostgreSQL store costs against the embedded SQLite one — audit group commits per second and
// CPU per audited statement on each — and how fast a revocation made on one node reaches another (p50/p99).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AuditLog } from '../../src/services/audit/log.ts';
import { Tokens } from '../../src/services/identity/tokens.ts';
import { openPostgresStore } from '../../src/services/store/postgres.ts';
import { openSqliteStore } from '../../src/services/store/sqlite.ts';
import type { Store } from '../../src/services/store/store.ts';
import type { Context, Row } from '../lib/report.ts';
import { freshStoreDatabase } from '../lib/store-db.ts';

const DB = 'gatehouse_bench_cluster';
const REVOCATIONS = 50;

/** Audited statements (a request and a result record each), 8 records per commit as sessions judging in one turn share. */
async function auditRate(store: Store, ms: number) {
  const log = await AuditLog.open(store);
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < ms) {
    for (let k = 0; k < 8; k++, n++) log.enqueue({ kind: k % 2 ? 'result' : 'request', sessionId: 'ses_1', tokenId: 'tok_1', connection: 'crm', data: { summary: `SELECT ${n}` } });
    await log.durable();
  }
  const cpu = process.cpuUsage(cpu0);
  return { perSec: (n / (performance.now() - start)) * 1000, cpuUs: ((cpu.user + cpu.system) / n) * 2 };
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

export async function benchCluster(ctx: Context): Promise<Row[]> {
  const dir = join(ctx.dir, 'cluster');
  mkdirSync(dir, { recursive: true });
  const url = await freshStoreDatabase(DB);
  const ms = (ctx.seconds * 1000) / 2;
  const sqlite = openSqliteStore(join(dir, 'g.db'));
  const onSqlite = await auditRate(sqlite, ms).finally(() => sqlite.close());
  const [a, b] = [await openPostgresStore(url, { node: 'a' }), await openPostgresStore(url, { node: 'b' })];
  try {
    const onPostgres = await auditRate(a, ms);
    // Revocation: minted and revoked through node a; node b, woken by LISTEN/NOTIFY, applies it by epoch (emits it).
    const roles = new Set(['agent']);
    const [here, there] = [new Tokens(a, roles), new Tokens(b, roles)];
    const heard = new Map<string, () => void>();
    there.onRevoke((id) => heard.get(id)?.());
    await there.watch();
    const delays: number[] = [];
    for (let i = 0; i < REVOCATIONS; i++) {
      const { record } = await here.mint({ role: 'agent', label: 'agent', ttlSeconds: 60, createdBy: 'bench' });
      const reached = new Promise<void>((resolve) => heard.set(record.id, resolve));
      const t0 = performance.now();
      await here.revoke(record.id);
      await reached;
      delays.push(performance.now() - t0);
    }
    await there.stop();
    delays.sort((x, y) => x - y);
    const section = 'cluster';
    return [
      { section, metric: 'audited statements/s, SQLite store (group commit of 8 records)', unit: 'statements/s', gatehouse: onSqlite.perSec / 2 },
      { section, metric: 'audited statements/s, PostgreSQL store (group commit of 8 records)', unit: 'statements/s', gatehouse: onPostgres.perSec / 2 },
      { section, metric: 'gateway CPU per audited statement, SQLite store', unit: 'µs', gatehouse: onSqlite.cpuUs },
      { section, metric: 'gateway CPU per audited statement, PostgreSQL store', unit: 'µs', gatehouse: onPostgres.cpuUs },
      { section, metric: `revocation reaches another node, p50 (${REVOCATIONS} revocations)`, unit: 'ms', gatehouse: percentile(delays, 50) },
      { section, metric: `revocation reaches another node, p99 (${REVOCATIONS} revocations)`, unit: 'ms', gatehouse: percentile(delays, 99), target: '< 1000', pass: percentile(delays, 99) < 1000 },
    ];
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
}
