// Audit: sustained events/s into the embedded (file-backed SQLite) store, one commit per record and with group commit,
// and the CPU one audited statement costs (its request record and its result record).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AuditLog, verifyAudit } from '../../src/services/audit/log.ts';
import type { AuditEvent } from '../../src/services/store/store.ts';
import { openSqliteStore } from '../../src/services/store/sqlite.ts';
import type { Context, Row } from '../lib/report.ts';

/** What one PostgreSQL statement leaves in the audit: a request record before it runs, a result record after. */
function events(i: number): [AuditEvent, AuditEvent] {
  const common = { sessionId: 'ses_2f8d0c1e9b7a4c55', tokenId: 'tok_9a1b2c3d4e5f', connection: 'crm' };
  return [
    { ...common, kind: 'request', verdict: 'allow', data: {
      protocol: 'postgres', effect: 'read', summary: `SELECT abalance FROM pgbench_accounts WHERE aid = ${i};`,
      targets: [{ kind: 'statement', name: 'select', access: 'execute' }, { kind: 'relation', name: 'pgbench_accounts', access: 'read' }],
      grant: 'roles.pgbench.crm',
    } },
    { ...common, kind: 'result', data: { request: i, ms: 0.183, statements: [{ tag: 'SELECT 1', rows: 1, dropped: 0, columns: ['abalance'], sample: [[String(i % 5000 - 2500)]] }] } },
  ];
}

interface Measured { eventsPerSec: number; cpuUsPerEvent: number; events: number }

/** Appends for about `ms` (bounded by count too); `batch` records share a commit, as sessions judging in one turn do. */
async function measure(log: AuditLog, batch: number, ms: number): Promise<Measured> {
  const queued = log as Partial<Pick<AuditLog, 'enqueue' | 'durable'>>;
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < ms && n < 2_000_000) {
    if (batch === 1 || !queued.enqueue || !queued.durable) {
      for (const e of events(n)) await log.append(e);
      n += 2;
      continue;
    }
    for (let k = 0; k < batch; k += 2, n += 2) for (const e of events(n)) queued.enqueue(e);
    await queued.durable();
  }
  const elapsed = performance.now() - start;
  const cpu = process.cpuUsage(cpu0);
  return { eventsPerSec: (n / elapsed) * 1000, cpuUsPerEvent: (cpu.user + cpu.system) / n, events: n };
}

export async function benchAudit(ctx: Context): Promise<Row[]> {
  const dir = join(ctx.dir, 'audit');
  mkdirSync(dir, { recursive: true });
  const store = openSqliteStore(join(dir, 'audit.db'));
  const rows: Row[] = [];
  try {
    const log = await AuditLog.open(store);
    const grouped = typeof (log as { enqueue?: unknown }).enqueue === 'function';
    await measure(log, 8, 300); // warm-up
    const single = await measure(log, 1, 2000);
    const eight = grouped ? await measure(log, 8, 2000) : undefined;
    const many = grouped ? await measure(log, 64, 2000) : undefined;
    const verified = await verifyAudit(store);
    const section = 'audit';
    rows.push({ section, metric: 'events/s, one commit per record (sync append)', unit: 'events/s', gatehouse: single.eventsPerSec });
    rows.push({
      section, metric: 'events/s, group commit (8 records per commit)', unit: 'events/s', gatehouse: eight?.eventsPerSec,
      target: '≥ 50,000', pass: eight ? eight.eventsPerSec >= 50_000 : single.eventsPerSec >= 50_000,
      note: grouped ? '' : 'no group commit in this build: sync append only',
    });
    rows.push({ section, metric: 'events/s, group commit (64 records per commit)', unit: 'events/s', gatehouse: many?.eventsPerSec });
    rows.push({ section, metric: 'CPU per audited statement (request + result), one commit each', unit: 'µs', gatehouse: single.cpuUsPerEvent * 2 });
    rows.push({ section, metric: 'CPU per audited statement (request + result), group commit of 8', unit: 'µs', gatehouse: eight && eight.cpuUsPerEvent * 2 });
    rows.push({ section, metric: 'chain verifies after the run', unit: 'records', gatehouse: verified.records, pass: verified.ok, target: 'verifies' });
  } finally {
    await store.close();
  }
  return rows;
}
