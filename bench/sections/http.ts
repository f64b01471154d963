// HTTP path: wrk against a small local upstream directly, through a bare Node proxy, through nginx and through Gatehouse
// (path grant, audit on): requests/s at saturation, and p50/p99 latency at a moderate paced load (~1,000 req/s).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startGatewayChild, type GatewayChild } from '../lib/gateway.ts';
import { wrk, type WrkResult } from '../lib/load.ts';
import { freePort, have, startNode, treeCpuSeconds, type Service } from '../lib/proc.ts';
import { startNginx } from '../lib/refs.ts';
import { withRatios, type Context, type Row } from '../lib/report.ts';

const CONNECTIONS = 32;
/** Moderate load: 4 connections each pausing 4 ms between requests, about 1,000 requests/s in all. */
const PACED = { connections: 4, delayMs: 4 };

export async function benchHttp(ctx: Context): Promise<Row[]> {
  const section = 'http';
  const missing = (why: string): Row[] => [{ section, metric: 'HTTP path', unit: '', note: `not available: ${why}` }];
  if (!(await have('wrk'))) return missing('wrk is not installed (run scripts/bench-setup.sh)');
  if (!existsSync(join(import.meta.dirname, '../../src/adapters/http/listener.ts'))) return missing('src/adapters/http/listener.ts does not exist yet');
  const services: Service[] = [];
  let gateway: GatewayChild | undefined;
  try {
    const upPort = await freePort();
    services.push(await startNode('http-upstream', join(import.meta.dirname, '../upstreams/http.ts'), [String(upPort)]));
    const floorPort = await freePort();
    const floor = await startNode('floor-http', join(import.meta.dirname, '../floor/http.ts'), [String(floorPort), `http://127.0.0.1:${upPort}`]);
    services.push(floor);
    const nginxPort = await freePort();
    const nginx = await startNginx(ctx.dir, nginxPort, upPort);
    if (typeof nginx !== 'string') services.push(nginx);
    else ctx.log(`  nginx: ${nginx}`);
    try {
      gateway = await startGatewayChild(ctx.dir, `
admin:
  listen: 127.0.0.1:0
store: "sqlite:${join(ctx.dir, 'gatehouse-http.db')}"
connections:
  api:
    kind: http
    listen: 127.0.0.1:0
    upstream: http://127.0.0.1:${upPort}
    headers: { Authorization: "Bearer upstream-secret-key" }
roles:
  agent:
    api:
      allow: ["GET /invoices/*"]
`, { profileDir: ctx.profileDir });
    } catch (err) {
      return missing(`the gateway could not start an HTTP listener: ${(err as Error).message.split('\n')[0]}`);
    }
    const token = await gateway.mint('agent', 'bench-http');
    const gw = gateway.address('api');
    type Name = 'direct' | 'floor' | 'ref' | 'gatehouse';
    const targets: { name: Name; url: string; pid?: number }[] = [
      { name: 'direct', url: `http://127.0.0.1:${upPort}/invoices/42` },
      { name: 'floor', url: `http://127.0.0.1:${floorPort}/invoices/42`, pid: floor.pid },
      ...(typeof nginx !== 'string' ? [{ name: 'ref' as const, url: `http://127.0.0.1:${nginxPort}/invoices/42`, pid: nginx.pid }] : []),
      { name: 'gatehouse', url: `http://${gw.host}:${gw.port}/invoices/42`, pid: gateway.pid },
    ];
    const headers = { authorization: `Bearer ${token}` };
    for (const t of targets) await wrk(ctx.dir, { url: t.url, headers }, { connections: CONNECTIONS, seconds: 2 }); // warm-up

    const sat: Partial<Record<Name, WrkResult & { cpuUs?: number }>> = {};
    for (const t of targets) {
      ctx.log(`  wrk ${CONNECTIONS} connections, ${ctx.seconds} s: ${t.name}`);
      const before = t.pid ? treeCpuSeconds(t.pid) : 0;
      const r = await wrk(ctx.dir, { url: t.url, headers }, { connections: CONNECTIONS, seconds: ctx.seconds });
      const cpuUs = t.pid && r.requests > 0 ? ((treeCpuSeconds(t.pid) - before) * 1e6) / r.requests : undefined;
      if (r.non2xx || r.errors) ctx.log(`  ${t.name}: ${r.non2xx} non-2xx responses, ${r.errors} socket errors`);
      sat[t.name] = { ...r, cpuUs };
    }
    const paced: Partial<Record<Name, WrkResult>> = {};
    const pacedSeconds = Math.min(ctx.seconds, 5);
    for (const t of targets) {
      ctx.log(`  wrk paced (~1,000 req/s), ${pacedSeconds} s: ${t.name}`);
      paced[t.name] = await wrk(ctx.dir, { url: t.url, headers, delayMs: PACED.delayMs }, { connections: PACED.connections, seconds: pacedSeconds });
    }
    const ok = (n: Name) => (sat[n] && !sat[n]!.non2xx && Number.isFinite(sat[n]!.rps) ? sat[n] : undefined);
    const rps = withRatios({ section, metric: `requests/s, ${CONNECTIONS} connections`, unit: 'req/s', direct: ok('direct')?.rps, floor: ok('floor')?.rps, ref: ok('ref')?.rps, refName: 'nginx', gatehouse: ok('gatehouse')?.rps, target: 'G ≥ 0.5× nginx' });
    rps.pass = rps.ratioRef !== undefined && rps.ratioRef >= 0.5;
    if (sat.gatehouse?.non2xx) rps.note = `Gatehouse answered ${sat.gatehouse.non2xx} requests with a non-2xx status`;
    const us = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? undefined : x * 1000);
    const p = (n: Name, q: 'p50' | 'p99') => us(paced[n]?.[q]);
    const added = (n: Name, q: 'p50' | 'p99') => (p(n, q) !== undefined && p('direct', q) !== undefined ? p(n, q)! - p('direct', q)! : undefined);
    const p99 = { section, metric: 'added p99 latency at ~1,000 req/s', unit: 'µs', floor: added('floor', 'p99'), ref: added('ref', 'p99'), refName: 'nginx', gatehouse: added('gatehouse', 'p99'), target: '< 1,000 µs' } as Row;
    p99.pass = p99.gatehouse !== undefined && p99.gatehouse < 1000;
    return [
      rps,
      withRatios({ section, metric: 'proxy CPU per request', unit: 'µs', floor: sat.floor?.cpuUs, ref: sat.ref?.cpuUs, refName: 'nginx', gatehouse: sat.gatehouse?.cpuUs }),
      { section, metric: 'p50 latency at ~1,000 req/s', unit: 'µs', direct: p('direct', 'p50'), floor: p('floor', 'p50'), ref: p('ref', 'p50'), refName: 'nginx', gatehouse: p('gatehouse', 'p50') },
      { section, metric: 'p99 latency at ~1,000 req/s', unit: 'µs', direct: p('direct', 'p99'), floor: p('floor', 'p99'), ref: p('ref', 'p99'), refName: 'nginx', gatehouse: p('gatehouse', 'p99') },
      { section, metric: 'added p50 latency at ~1,000 req/s', unit: 'µs', floor: added('floor', 'p50'), ref: added('ref', 'p50'), refName: 'nginx', gatehouse: added('gatehouse', 'p50') },
      p99,
    ];
  } finally {
    await gateway?.stop();
    for (const s of services) await s.stop();
  }
}
