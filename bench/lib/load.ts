// The load generators: pgbench, sysbench, wrk and redis-benchmark, run as child processes with bounded durations, and their output parsed.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './proc.ts';

export interface PgTarget {
  host: string;
  port: number;
  user: string;
  password?: string;
  database: string;
}

export interface PgbenchResult {
  tps: number;
  latencyMs: number;
  transactions: number;
  failed: boolean;
  output: string;
}

/** One pgbench run: `script` is 'select' (-S) or 'tpcb' (the default TPC-B-like script). `-n`: no vacuum, which a gateway role may not run. */
export async function pgbench(target: PgTarget, o: { script: 'select' | 'tpcb'; mode: 'simple' | 'prepared'; clients: number; seconds: number }): Promise<PgbenchResult> {
  const args = [
    '-n', ...(o.script === 'select' ? ['-S'] : []), '-M', o.mode, '-c', String(o.clients), '-j', String(Math.min(o.clients, 2)),
    '-T', String(o.seconds), '-h', target.host, '-p', String(target.port), '-U', target.user, target.database,
  ];
  const r = await run('pgbench', args, {
    env: { PGPASSWORD: target.password ?? '', PGSSLMODE: 'disable', PGAPPNAME: 'bench', PGCONNECT_TIMEOUT: '10' },
    timeoutMs: (o.seconds + 60) * 1000,
  });
  const output = r.stdout + r.stderr;
  const num = (re: RegExp) => Number(re.exec(output)?.[1] ?? NaN);
  const tps = num(/tps = ([\d.]+)/);
  return {
    tps,
    latencyMs: num(/latency average = ([\d.]+) ms/),
    transactions: num(/number of transactions actually processed: (\d+)/),
    failed: r.code !== 0 || !Number.isFinite(tps),
    output,
  };
}

export interface SysbenchResult {
  tps: number;
  qps: number;
  queries: number;
  latencyMs: number;
  failed: boolean;
  output: string;
}

/** Where sysbench's MySQL driver connects (a password only for the gateway: its token). */
export interface MysqlTarget {
  host: string;
  port: number;
  user: string;
  password?: string;
  database: string;
}

/** One sysbench OLTP run (`oltp_read_only`): 16 statements per transaction; `ps` auto uses server-side prepared statements. */
export async function sysbench(target: MysqlTarget, o: { test: string; ps: 'auto' | 'disable'; threads: number; seconds: number; tables: number; tableSize: number; command?: 'run' | 'prepare' }): Promise<SysbenchResult> {
  const args = [
    o.test, `--mysql-host=${target.host}`, `--mysql-port=${target.port}`, `--mysql-user=${target.user}`, `--mysql-password=${target.password ?? ''}`,
    `--mysql-db=${target.database}`, '--mysql-ssl=off', `--tables=${o.tables}`, `--table-size=${o.tableSize}`, `--threads=${o.threads}`,
    `--time=${o.seconds}`, `--db-ps-mode=${o.ps}`, o.command ?? 'run',
  ];
  const r = await run('sysbench', args, { timeoutMs: (o.seconds + 120) * 1000 });
  const output = r.stdout + r.stderr;
  const num = (re: RegExp) => Number(re.exec(output)?.[1] ?? NaN);
  const tps = num(/transactions:\s+\d+\s+\(([\d.]+) per sec/);
  return {
    tps,
    qps: num(/queries:\s+\d+\s+\(([\d.]+) per sec/),
    queries: num(/queries:\s+(\d+)/),
    latencyMs: num(/avg:\s+([\d.]+)/),
    failed: r.code !== 0 || (o.command !== 'prepare' && !Number.isFinite(tps)),
    output,
  };
}

export interface WrkResult {
  rps: number;
  requests: number;
  /** Latency percentiles in ms. */
  p50: number;
  p90: number;
  p99: number;
  non2xx: number;
  errors: number;
  output: string;
}

export interface WrkRequest {
  url: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /** Per-connection pause between requests (ms): turns wrk's closed loop into a moderate, paced load. */
  delayMs?: number;
}

/** One wrk run with latency percentiles. A Lua script carries method, headers, body and pacing. */
export async function wrk(dir: string, req: WrkRequest, o: { connections: number; seconds: number; threads?: number }): Promise<WrkResult> {
  const lua = [
    `wrk.method = ${JSON.stringify(req.method ?? 'GET')}`,
    ...Object.entries(req.headers ?? {}).map(([k, v]) => `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`),
    ...(req.body !== undefined ? [`wrk.body = ${luaString(req.body)}`] : []),
    ...(req.delayMs ? [`function delay() return ${req.delayMs} end`] : []),
  ].join('\n');
  const script = join(dir, `wrk-${Math.random().toString(36).slice(2)}.lua`);
  writeFileSync(script, lua);
  const r = await run('wrk', ['-t', String(o.threads ?? 1), '-c', String(o.connections), '-d', `${o.seconds}s`, '--latency', '-s', script, req.url], {
    timeoutMs: (o.seconds + 30) * 1000,
  });
  const out = r.stdout + r.stderr;
  const pct = (p: string) => toMs(new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)`, 'm').exec(out));
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN),
    requests: Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN),
    p50: pct('50'),
    p90: pct('90'),
    p99: pct('99'),
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
    errors: socketErrors ? socketErrors.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
    output: out,
  };
}

function toMs(m: RegExpExecArray | null): number {
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
}

/** A Lua long string that cannot be closed early by the body's own text. */
function luaString(s: string): string {
  let eq = '';
  while (s.includes(`]${eq}]`)) eq += '=';
  return `[${eq}[${s}]${eq}]`;
}

export interface RedisTarget {
  host: string;
  port: number;
  /** Sent as `AUTH user password` (Gatehouse: the token's label and the token). */
  user?: string;
  password?: string;
}

export interface RedisBenchmarkResult {
  /** Requests per second by test (`GET`, `SET`). */
  rps: Record<string, number>;
  failed: boolean;
  output: string;
}

/** One redis-benchmark run over random keys (`key:000000xxxxxx`), `requests` per test, in CSV. */
export async function redisBenchmark(target: RedisTarget, o: { tests: string[]; pipeline: number; clients: number; requests: number }): Promise<RedisBenchmarkResult> {
  const args = [
    '-h', target.host, '-p', String(target.port), ...(target.password ? ['-a', target.password] : []), ...(target.user ? ['--user', target.user] : []),
    '-t', o.tests.join(','), '-P', String(o.pipeline), '-c', String(o.clients), '-n', String(o.requests), '-r', '100000', '--csv',
  ];
  const r = await run('redis-benchmark', args, { timeoutMs: 300_000 });
  const rps: Record<string, number> = {};
  for (const line of r.stdout.split('\n')) {
    const m = /^"([A-Z]+)","([\d.]+)"/.exec(line);
    if (m) rps[m[1]] = Number(m[2]);
  }
  return { rps, failed: r.code !== 0 || o.tests.some((t) => !(rps[t.toUpperCase()] > 0)), output: r.stdout + r.stderr };
}
