// `npm run bench`: Gatehouse measured side by side with its references (pgbouncer, nginx, Portkey, a direct connection and
// Node's own floor) in one run on one machine; prints a table of ratios and writes it to bench/results/latest.json.
//
//   npm run bench                          everything (about 8 minutes on 2 cores)
//   npm run bench -- --seconds 5           shorter load runs
//   npm run bench -- --only pg,audit       some sections: pg, mysql, http, llm, mcp, filesystem, redis, guards, audit, cluster, workers, egress, egress-intercept, durability
//   npm run bench -- --profile DIR         also write the Gatehouse process's V8 CPU profiles (--cpu-prof) to DIR
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { stopAll } from './lib/proc.ts';
import { table, type Context, type Row } from './lib/report.ts';
import { benchAudit } from './sections/audit.ts';
import { benchCluster } from './sections/cluster.ts';
import { benchWorkers } from './sections/workers.ts';
import { benchDurability } from './durability.ts';
import { benchEgress } from './sections/egress.ts';
import { benchEgressIntercept } from './sections/egress-intercept.ts';
import { benchFilesystem } from './sections/filesystem.ts';
import { benchGuardsSection } from './sections/guards.ts';
import { benchHttp } from './sections/http.ts';
import { benchLlm } from './sections/llm.ts';
import { benchMcp } from './sections/mcp.ts';
import { benchPostgres } from './sections/postgres.ts';
import { benchMysql } from './sections/mysql.ts';
import { benchRedis } from './sections/redis.ts';

const SECTIONS: Record<string, (ctx: Context) => Promise<Row[]>> = {
  pg: benchPostgres,
  mysql: benchMysql,
  http: benchHttp,
  llm: benchLlm,
  mcp: benchMcp,
  filesystem: benchFilesystem,
  redis: benchRedis,
  guards: benchGuardsSection,
  audit: benchAudit,
  cluster: benchCluster,
  workers: benchWorkers,
  egress: benchEgress,
  'egress-intercept': benchEgressIntercept,
  durability: benchDurability,
};

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    only: { type: 'string' },
    profile: { type: 'string' },
    out: { type: 'string', default: join(import.meta.dirname, 'results', 'latest.json') },
  },
});
const seconds = Math.max(2, Math.min(60, Number(values.seconds) || 10));
const only = values.only ? values.only.split(',').map((s) => s.trim()) : Object.keys(SECTIONS);
for (const name of only) if (!SECTIONS[name]) throw new Error(`unknown section "${name}" (have: ${Object.keys(SECTIONS).join(', ')})`);

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'));
const profileDir = values.profile ? resolve(values.profile) : undefined;
if (profileDir) mkdirSync(profileDir, { recursive: true });
const ctx: Context = { dir, seconds, profileDir, log: (line) => console.error(line) };

const stop = async () => { await stopAll(); rmSync(dir, { recursive: true, force: true }); process.exit(130); };
process.once('SIGINT', stop);
process.once('SIGTERM', stop);

const started = Date.now();
// Other work on the machine skews every ratio: the load average before and after is recorded with the results.
const loadBefore = loadavg()[0];
const rows: Row[] = [];
try {
  for (const name of only) {
    ctx.log(`== ${name}`);
    const t = Date.now();
    try {
      rows.push(...(await SECTIONS[name](ctx)));
    } catch (err) {
      // A broken section is reported, not fatal: the others still measure.
      ctx.log(`  ${name} failed: ${(err as Error).stack}`);
      rows.push({ section: name, metric: 'section', unit: '', note: `failed: ${(err as Error).message.split('\n')[0]}` });
    }
    ctx.log(`  (${((Date.now() - t) / 1000).toFixed(0)} s)`);
  }
} finally {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
}

const machine = {
  cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, platform: `${process.platform} ${process.arch}`,
  loadavg: { before: loadBefore, after: loadavg()[0] },
};
const text = table(rows);
console.log(text);
const failed = rows.filter((r) => r.pass === false);
console.log(`\n${rows.filter((r) => r.pass !== undefined).length - failed.length} targets met, ${failed.length} missed; ${((Date.now() - started) / 1000).toFixed(0)} s on ${machine.cpus} × ${machine.cpu}, Node ${machine.node}; 1-minute load average ${machine.loadavg.before.toFixed(2)} before, ${machine.loadavg.after.toFixed(2)} after`);
mkdirSync(resolve(values.out!, '..'), { recursive: true });
writeFileSync(values.out!, JSON.stringify({ at: new Date().toISOString(), seconds, machine, rows, table: text }, null, 2) + '\n');
console.error(`written to ${values.out}`);
