// The soak: mixed load over every adapter for N minutes (allowed requests, approvals, reconnects, token revocations),
// reporting the gateway's RSS, heap, open file descriptors and event-loop delay each minute, and failing when any of
// them grows without bound. Usage: npm run soak -- --minutes 10 [--sample-seconds 60]
//
// The gateway runs in its own process (as `npx gatehouse` does) so what is measured is the gateway alone; the agents are
// the conformance suite's drivers (test/conformance/): each adapter's real client against its real upstream.
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parse, stringify } from 'yaml';
import type { Agent, Driver } from '../test/conformance/driver.ts';
import { egress } from '../test/conformance/egress.ts';
import { filesystem } from '../test/conformance/filesystem.ts';
import { http } from '../test/conformance/http.ts';
import { llm } from '../test/conformance/llm.ts';
import { mcp } from '../test/conformance/mcp.ts';
import { mysqlDriver } from '../test/conformance/mysql.ts';
import { postgres } from '../test/conformance/postgres.ts';
import { redis } from '../test/conformance/redis.ts';
import { startGatewayChild, type GatewayChild } from './lib/gateway.ts';

const DRIVERS: Driver[] = [postgres, mysqlDriver, http, llm, mcp, filesystem, redis, egress];
const ADMIN_KEY = 'soak-admin-key-0123456789abcdef';
/** A second person: nobody approves a request made with a token they issued. */
const APPROVER_KEY = 'soak-approver-key-0123456789abcd';
/** Agents per adapter, each on its own connection. */
const AGENTS = 2;
/** Requests on one connection before the agent hangs up and connects again. */
const PER_CONNECTION = 25;
/** Every this many connections, one request that waits for a human (approved by the soak's approver). */
const HELD_EVERY = 4;
/** How often a fresh token is minted, used on one adapter, revoked, and checked to be refused. */
const REVOKE_EVERY_MS = 3000;

/** Growth past these (from the first half's peak to the last quarter's floor) means "grows without bound". */
const LIMITS = { rssMb: { ratio: 1.25, slack: 48 }, heapMb: { ratio: 1.25, slack: 24 }, fds: { ratio: 1.25, slack: 32 } };
/** Event-loop delay p99 fails when the last third's median is this many times the first third's and above the floor. */
const ELD = { ratio: 4, floorMs: 100 };

interface Sample { minute: number; rssMb: number; heapMb: number; fds: number; eldP99Ms: number; ops: number; held: number; reconnects: number; revocations: number; errors: number }

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '10' }, 'sample-seconds': { type: 'string', default: '60' } } });
const minutes = Number(values.minutes);
const sampleSeconds = Number(values['sample-seconds']);
if (!(minutes > 0) || !(sampleSeconds >= 5)) {
  console.error('usage: npm run soak -- --minutes N [--sample-seconds S (≥ 5)]');
  process.exit(2);
}

const counts = { ops: 0, held: 0, reconnects: 0, revocations: 0, errors: 0 };
const errorsSeen = new Map<string, number>();
function failed(where: string, err: unknown) {
  counts.errors++;
  const key = `${where}: ${String((err as Error)?.message ?? err).split('\n')[0].replace(/apr_[0-9a-f]+/g, 'apr_…').slice(0, 160)}`;
  errorsSeen.set(key, (errorsSeen.get(key) ?? 0) + 1);
}

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-soak-'));
const listenerOf = new Map<Driver, string>();
let gateway: GatewayChild | undefined;
let adminUrl = '';
let running = true;

async function admin<T>(method: string, path: string, body?: unknown, key = ADMIN_KEY): Promise<T> {
  const res = await fetch(adminUrl + path, { method, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const json = (await res.json()) as T & { error?: string };
  if (!res.ok) throw new Error(`admin ${method} ${path}: ${res.status} ${json.error ?? ''}`);
  return json;
}

const mint = async (label: string) => {
  const m = await admin<{ token: string; id: string }>('POST', '/v1/tokens', { role: 'agent', label, ttl: '1h' });
  return { token: m.token, id: m.id, label };
};

/** One agent on one adapter: connects, sends PER_CONNECTION requests (one held every HELD_EVERY connections), hangs up. */
async function agentLoop(driver: Driver, token: { token: string; label: string }) {
  const address = gateway!.address(listenerOf.get(driver)!);
  for (let n = 0; running; n++) {
    let agent: Agent | undefined;
    try {
      agent = await driver.connect(`${address.host}:${address.port}`, token, { run: `soak-${n}`, step: 'soak' });
      for (let i = 0; i < PER_CONNECTION && running; i++) {
        await agent.allowed();
        counts.ops++;
      }
      if (n % HELD_EVERY === 0 && running) {
        const answer = await agent.held();
        if (answer.ok) counts.held++;
        else failed(`${driver.name} held`, answer.refusal);
      }
    } catch (err) {
      if (running) failed(driver.name, err);
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      await agent?.close().catch(() => undefined);
      counts.reconnects++;
    }
  }
}

/** The human: approves whatever is pending. */
async function approverLoop() {
  while (running) {
    try {
      const { approvals } = await admin<{ approvals: { id: string }[] }>('GET', '/v1/approvals?status=pending');
      for (const a of approvals) await admin('POST', `/v1/approvals/${a.id}/approve`, { reason: 'soak' }, APPROVER_KEY).catch((err: unknown) => failed('approve', err));
    } catch (err) {
      if (running) failed('approver', err);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Mint, use, revoke, check refused: round-robin over the adapters. */
async function revocationLoop() {
  for (let n = 0; running; n++) {
    await new Promise((r) => setTimeout(r, REVOKE_EVERY_MS));
    const driver = DRIVERS[n % DRIVERS.length];
    const address = gateway!.address(listenerOf.get(driver)!);
    const at = `${address.host}:${address.port}`;
    try {
      const t = await mint(`soak-revoke-${n}`);
      const agent = await driver.connect(at, t, { run: `soak-revoke-${n}`, step: 'soak' });
      await agent.allowed();
      await agent.close();
      await admin('POST', `/v1/tokens/${t.id}/revoke`);
      const refused = await driver.connect(at, t, { run: `soak-revoke-${n}`, step: 'soak' }).then(async (a) => {
        try { await a.allowed(); return false; } catch { return true; } finally { await a.close().catch(() => undefined); }
      }, () => true);
      if (!refused) throw new Error('a revoked token was let through');
      counts.revocations++;
    } catch (err) {
      if (running) failed(`${driver.name} revocation`, err);
    }
  }
}

function grows(samples: Sample[], key: 'rssMb' | 'heapMb' | 'fds'): string | undefined {
  // Minute 1 is warm-up (JIT, pools, caches filling).
  const steady = samples.slice(1);
  if (steady.length < 4) return undefined;
  const firstHalfPeak = Math.max(...steady.slice(0, Math.ceil(steady.length / 2)).map((s) => s[key]));
  const lastQuarterFloor = Math.min(...steady.slice(-Math.max(1, Math.floor(steady.length / 4))).map((s) => s[key]));
  const { ratio, slack } = LIMITS[key];
  return lastQuarterFloor > firstHalfPeak * ratio + slack ? `${key} grew from a peak of ${firstHalfPeak.toFixed(1)} to a floor of ${lastQuarterFloor.toFixed(1)}` : undefined;
}

function eldGrows(samples: Sample[]): string | undefined {
  const steady = samples.slice(1);
  if (steady.length < 3) return undefined;
  const third = Math.max(1, Math.floor(steady.length / 3));
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const first = median(steady.slice(0, third).map((s) => s.eldP99Ms));
  const last = median(steady.slice(-third).map((s) => s.eldP99Ms));
  return last > ELD.floorMs && last > first * ELD.ratio ? `event-loop delay p99 rose from ${first.toFixed(1)} ms to ${last.toFixed(1)} ms` : undefined;
}

const fdCount = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

async function main() {
  const merged: { connections: Record<string, unknown>; roles: { agent: Record<string, unknown> } } = { connections: {}, roles: { agent: {} } };
  for (const d of DRIVERS) {
    const part = parse(await d.setup()) as { connections: Record<string, unknown>; roles: { agent: Record<string, unknown> } };
    const names = Object.keys(part.connections);
    listenerOf.set(d, names[0]);
    Object.assign(merged.connections, part.connections);
    Object.assign(merged.roles.agent, part.roles.agent);
  }
  const yaml = stringify({
    admin: { listen: '127.0.0.1:0', keys: [{ name: 'soak', key: ADMIN_KEY, roles: ['admin'] }, { name: 'approver', key: APPROVER_KEY, roles: ['approver'] }] },
    store: `sqlite:${join(dir, 'gatehouse.db')}`,
    approvals: { timeout: '30s' },
    ...merged,
  });
  gateway = await startGatewayChild(dir, yaml, { execArgv: ['--expose-gc'] });
  adminUrl = gateway.adminUrl;
  console.log(`soak: ${minutes} min over ${DRIVERS.map((d) => d.name).join(', ')}; gateway pid ${gateway.pid}; a sample every ${sampleSeconds} s`);
  console.log('minute  rss MB  heap MB  fds  eld p99 ms     ops  held  reconnects  revocations  errors');

  const loops: Promise<void>[] = [approverLoop(), revocationLoop()];
  for (const d of DRIVERS) for (let i = 0; i < AGENTS; i++) loops.push(agentLoop(d, await mint(`soak-${d.name}-${i}`)));

  const samples: Sample[] = [];
  const started = Date.now();
  for (let m = 1; Date.now() - started < minutes * 60_000 - 1000; m++) {
    await new Promise((r) => setTimeout(r, Math.min(sampleSeconds * 1000, started + minutes * 60_000 - Date.now())));
    const u = await gateway.usage(true);
    const s: Sample = { minute: Math.round(((Date.now() - started) / 60_000) * 100) / 100, rssMb: u.rssMb, heapMb: u.heapMb, fds: fdCount(gateway.pid), eldP99Ms: u.eldP99Ms, ...counts };
    samples.push(s);
    for (const k of Object.keys(counts) as (keyof typeof counts)[]) counts[k] = 0;
    console.log(`${s.minute.toFixed(2).padStart(6)}  ${s.rssMb.toFixed(1).padStart(6)}  ${s.heapMb.toFixed(1).padStart(7)}  ${String(s.fds).padStart(3)}  ${s.eldP99Ms.toFixed(1).padStart(10)}  ${String(s.ops).padStart(6)}  ${String(s.held).padStart(4)}  ${String(s.reconnects).padStart(10)}  ${String(s.revocations).padStart(11)}  ${String(s.errors).padStart(6)}`);
  }
  running = false;
  await Promise.race([Promise.all(loops), new Promise((r) => setTimeout(r, 15_000))]);

  const problems = [grows(samples, 'rssMb'), grows(samples, 'heapMb'), grows(samples, 'fds'), eldGrows(samples)].filter(Boolean) as string[];
  const total = samples.reduce((a, s) => ({ ops: a.ops + s.ops, held: a.held + s.held, errors: a.errors + s.errors, revocations: a.revocations + s.revocations, reconnects: a.reconnects + s.reconnects }), { ops: 0, held: 0, errors: 0, revocations: 0, reconnects: 0 });
  const opsTotal = total.ops + total.held + total.revocations;
  // A few errors from the load itself (a timing edge in a revocation) are noted; a soak where most work fails is no soak.
  if (total.errors > Math.max(10, opsTotal * 0.01)) problems.push(`${total.errors} errors in ${opsTotal} operations`);
  console.log(`totals: ${total.ops} requests, ${total.held} approved holds, ${total.reconnects} reconnects, ${total.revocations} revocations checked, ${total.errors} errors`);
  for (const [what, n] of errorsSeen) console.log(`  error ×${n}: ${what}`);
  console.log(problems.length ? `SOAK FAILED: ${problems.join('; ')}` : 'soak passed: nothing grew without bound');
  return problems.length ? 1 : 0;
}

let code = 1;
try {
  code = await main();
} catch (err) {
  console.error(err);
} finally {
  running = false;
  await gateway?.stop().catch(() => undefined);
  for (const d of DRIVERS) await d.teardown().catch(() => undefined);
}
process.exit(code);
