// Durability of the audit under kill -9: run the gateway as a child, drive unique statements through it from several
// clients (simple and extended protocol, reads and writes), kill -9 it mid-load, reopen its store and check that every
// statement whose result a client received has its request record, and that the chain verifies.
//
//   npx tsx bench/durability.ts        (also part of `npm run bench`)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { verifyAudit } from '../src/services/audit/log.ts';
import { openSqliteStore } from '../src/services/store/sqlite.ts';
import { startGatewayChild } from './lib/gateway.ts';
import { sleep } from './lib/proc.ts';
import type { Context, Row } from './lib/report.ts';
import { BENCH_DB, ensureBenchDb, pgGatewayYaml } from './sections/postgres.ts';

const CLIENTS = 6;
const LOAD_MS = 2000;

export async function benchDurability(ctx: Context): Promise<Row[]> {
  await ensureBenchDb(ctx.log);
  const store = join(ctx.dir, 'durability.db');
  const gateway = await startGatewayChild(ctx.dir, pgGatewayYaml(`sqlite:${store}`));
  const token = await gateway.mint('pgbench', 'durability');
  const { host, port } = gateway.address('bench');
  const acked: string[] = [];
  let stop = false;
  let next = 1;
  const clients = await Promise.all(Array.from({ length: CLIENTS }, async (_, c) => {
    const client = new pg.Client({ host, port, user: 'durability', password: token, database: BENCH_DB });
    client.on('error', () => undefined);
    await client.connect();
    return { client, c };
  }));
  ctx.log(`  ${CLIENTS} clients drive unique statements for ${LOAD_MS} ms, then the gateway gets kill -9`);
  const loops = clients.map(async ({ client, c }) => {
    // Bounded: stops at the kill, or after 100,000 statements per client at the latest.
    for (let i = 0; i < 100_000 && !stop; i++) {
      const id = next++;
      const kind = (c + i) % 3;
      // Each text is unique, so its audit record can be found by its summary.
      const text = kind === 0 ? `SELECT ${id} AS probe, abalance FROM pgbench_accounts WHERE aid = ${(id % 800_000) + 1}`
        : kind === 1 ? `INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 1, ${(id % 800_000) + 1}, ${id}, CURRENT_TIMESTAMP)`
        : `SELECT $1::int AS probe /* durability ${id} */`;
      try {
        if (kind === 2) await client.query({ text, values: [id] });
        else await client.query(text);
        acked.push(text);
      } catch {
        return; // the gateway is gone
      }
    }
  });
  await sleep(LOAD_MS);
  await gateway.kill9();
  stop = true;
  await Promise.all(loops);
  await Promise.all(clients.map(({ client }) => client.end().catch(() => undefined)));

  const reopened = openSqliteStore(store);
  try {
    const verified = await verifyAudit(reopened);
    const audited = new Set<string>();
    for (let after = 0; ; ) {
      const batch = await reopened.readAudit(after, 10_000);
      if (!batch.length) break;
      for (const r of batch) if (r.kind === 'request' && r.verdict === 'allow' && typeof r.data.summary === 'string') audited.add(r.data.summary);
      after = batch[batch.length - 1].seq;
    }
    const missing = acked.filter((t) => !audited.has(t));
    if (missing.length) ctx.log(`  missing audit records for ${missing.length} acknowledged statements, e.g. ${missing[0]}`);
    return [
      { section: 'durability', metric: 'statements acknowledged to clients before kill -9', unit: 'statements', gatehouse: acked.length },
      { section: 'durability', metric: 'acknowledged statements without an audit record', unit: 'statements', gatehouse: missing.length, target: '0', pass: acked.length > 0 && missing.length === 0 },
      { section: 'durability', metric: 'audit chain verifies after kill -9', unit: 'records', gatehouse: verified.records, target: 'verifies', pass: verified.ok, note: verified.broken ? `broken at ${verified.broken.seq}: ${verified.broken.reason}` : '' },
    ];
  } finally {
    await reopened.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-durability-'));
  try {
    const rows = await benchDurability({ dir, seconds: 10, log: (l) => console.error(l) });
    for (const r of rows) console.log(`${r.metric}: ${r.gatehouse}${r.pass === undefined ? '' : r.pass ? '  PASS' : '  FAIL'}${r.note ? `  (${r.note})` : ''}`);
    process.exitCode = rows.some((r) => r.pass === false) ? 1 : 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
