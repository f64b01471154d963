// Runs every statement of one dialect of a JSONL corpus through its analyser and policy with a read-only grant: no crash,
// no hang, and nothing unknown or writing is ever allowed.
// Usage: tsx scripts/sql-corpus.ts <file.jsonl> [--upstream postgres://...] | tsx scripts/sql-corpus.ts <file.jsonl> --dialect mysql
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { analyzeSql } from '../src/adapters/postgres/sql/analyze.ts';
import { analyzeMysql, loadParser } from '../src/adapters/mysql/sql/analyze.ts';
import { mysqlCatalog } from '../src/adapters/mysql/sql/catalog.ts';
import { loadCatalog, offlineCatalog } from '../src/adapters/postgres/sql/catalog.ts';
import type { SqlCatalog } from '../src/services/policy/sql/catalog.ts';
import type { SqlAnalysis, SqlStatement } from '../src/services/policy/sql/facts.ts';
import { sqlGrant } from '../src/config/schema.ts';
import { decideSqlAll } from '../src/services/policy/sql/decide.ts';

/** A statement taking longer than this counts as a hang. */
const hangMs = 1000;

const [path, flag, value] = process.argv.slice(2);
const dialect = flag === '--dialect' ? value : 'postgresql';
const upstream = flag === '--upstream' ? value : undefined;
if (!path || (flag !== undefined && !value) || (flag !== undefined && flag !== '--upstream' && flag !== '--dialect') || (dialect !== 'postgresql' && dialect !== 'mysql')) {
  process.stderr.write('usage: tsx scripts/sql-corpus.ts <sql_statements.jsonl> [--upstream postgres://user@host/db | --dialect mysql]\n');
  process.exit(2);
}

const records = readFileSync(path, 'utf8').split('\n').filter((line) => line.trim()).map((line) => JSON.parse(line) as { id: string; sql: string; dialect: string });
const statements = records.filter((r) => r.dialect === dialect);
/** MySQL statements are read as a MariaDB 10.11 session on database `corpus` with the default sql_mode would read them. */
const mysqlSession = {
  database: 'corpus', mode: { ansiQuotes: false, noBackslashEscapes: false }, server: { mariadb: true, version: 101119 },
  caseSensitive: true, multiStatements: true,
};
if (dialect === 'mysql') await loadParser();
const analyze = (sql: string): SqlAnalysis => (dialect === 'mysql' ? analyzeMysql(sql, mysqlSession) : analyzeSql(sql));
const catalog = dialect === 'mysql' ? mysqlCatalog('corpus') : upstream ? await upstreamCatalog(upstream) : offlineCatalog();

const failures: string[] = [];

// First pass, cold: parse and analyse each statement, and gather every relation the corpus names so the
// grant below is the most generous read-only grant there is: read anything, nothing else.
const parseTimings: Timing[] = [];
const everyRelation = new Set<string>();
for (const record of statements) {
  const started = performance.now();
  try {
    const { statements: analysed } = analyze(record.sql);
    parseTimings.push({ ms: performance.now() - started, id: record.id });
    for (const stmt of chainOf(analysed)) for (const r of stmt.relations) everyRelation.add(r.schema ? `${quote(r.schema)}.${quote(r.name)}` : quote(r.name));
  } catch (error) {
    failures.push(`${record.id}: analyser crashed: ${error instanceof Error ? error.stack : String(error)}`);
  }
}
const grant = sqlGrant.parse({ read: [...everyRelation] });

// Second pass: decide each (the analysis now comes from the cache, as a repeated statement's would).
const byKind = new Map<string, number>();
const byVerdict = new Map<string, number>();
const decideTimings: Timing[] = [];

for (const record of statements) {
  const started = performance.now();
  try {
    const analysis = analyze(record.sql);
    const verdict = decideSqlAll(analysis, { role: 'corpus', connection: 'corpus', grant, catalog, prepared: new Map() });
    const ms = performance.now() - started;
    decideTimings.push({ ms, id: record.id });
    if (ms > hangMs) failures.push(`${record.id}: took ${ms.toFixed(0)} ms`);
    for (const stmt of analysis.statements) count(byKind, stmt.kind);
    count(byVerdict, verdict.kind === 'deny' ? `deny ${verdict.rule}` : verdict.kind);
    if (verdict.kind !== 'deny') {
      for (const stmt of chainOf(analysis.statements)) {
        const problem = stmt.kind === 'unknown' ? `unknown (${stmt.reason})`
          : stmt.relations.some((r) => r.access !== 'read') ? 'writes'
          : stmt.needs.length ? `needs ${stmt.needs.join(', ')}`
          : stmt.readWrite ? 'asks for READ WRITE' : undefined;
        if (problem) failures.push(`${record.id}: ${verdict.kind} although it ${problem}: ${record.sql.slice(0, 120)}`);
      }
    }
  } catch (error) {
    failures.push(`${record.id}: crashed: ${error instanceof Error ? error.stack : String(error)}`);
  }
}

for (const t of parseTimings) if (t.ms > hangMs) failures.push(`${t.id}: analysis took ${t.ms.toFixed(0)} ms`);
const summary = (timings: Timing[]) => {
  const sorted = [...timings].sort((a, b) => a.ms - b.ms);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]?.ms.toFixed(3) ?? '-';
  return `p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms (${sorted.at(-1)?.id})`;
};
const table = (counts: Map<string, number>) => [...counts].sort((a, b) => b[1] - a[1]).map(([k, n]) => `  ${String(n).padStart(5)}  ${k}`).join('\n');
process.stdout.write(`${statements.length} ${dialect === 'mysql' ? 'MySQL' : 'PostgreSQL'} statements of ${records.length} records (catalog: ${dialect === 'mysql' ? 'MySQL built-ins' : upstream ? 'upstream' : 'offline'}; read grant over ${everyRelation.size} relations)

statements by kind:
${table(byKind)}

verdicts:
${table(byVerdict)}

time per query, first sight (parse + analyse): ${summary(parseTimings)}
time per query, repeated (cached analysis + decide): ${summary(decideTimings)}
${failures.length ? `\nFAILURES (${failures.length}):\n${failures.join('\n')}\n` : '\nno crash, no hang, nothing unknown or writing allowed\n'}`);
process.exitCode = failures.length ? 1 : 0;

interface Timing {
  ms: number;
  id: string;
}

function count(counts: Map<string, number>, key: string) {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

function* chainOf(statements: readonly SqlStatement[]): Generator<SqlStatement> {
  for (const stmt of statements) {
    yield stmt;
    if (stmt.inner) yield* chainOf([stmt.inner]);
  }
}

function quote(name: string) {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

async function upstreamCatalog(url: string): Promise<SqlCatalog> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await loadCatalog(async (sql) => (await client.query(sql)).rows as Record<string, unknown>[]);
  } finally {
    await client.end();
  }
}
