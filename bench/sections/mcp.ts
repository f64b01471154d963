// MCP path: tools/call from a real SDK client straight to a local MCP server and through Gatehouse (bearer token, grant
// with an argument constraint, guards at their defaults, audit on): added latency per call (p50/p99, one client) and
// calls/s with several clients, plus the gateway's CPU per call.
import { setMaxListeners } from 'node:events';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startGatewayChild, type GatewayChild } from '../lib/gateway.ts';
import { freePort, quantile, startNode, treeCpuSeconds, type Service } from '../lib/proc.ts';
import { withRatios, type Context, type Row } from '../lib/report.ts';

/** Concurrent clients (one MCP session each) for the throughput run. */
const CLIENTS = 8;
const SEQUENTIAL_CALLS = 2000;

async function connect(url: string, token?: string): Promise<Client> {
  const client = new Client({ name: 'bench', version: '1' });
  // The SDK's client keeps an abort listener per request on its session signal until collected; past 1,500 Node warns
  // on every call, which would be measured instead of the calls (the gateway's upstream client does the same).
  const quiet: typeof fetch = (input, init) => { if (init?.signal) setMaxListeners(0, init.signal); return fetch(input, init); };
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: token ? { Authorization: `Bearer ${token}` } : {} }, fetch: quiet }));
  return client;
}

/** Latencies (µs) of `n` calls one after another. */
async function sequential(client: Client, tool: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const r = await client.callTool({ name: tool, arguments: { id: 42 } });
    if (r.isError) throw new Error(`${tool} answered an error: ${JSON.stringify(r.content)}`);
    out.push((performance.now() - t) * 1000);
  }
  return out;
}

/** Calls completed per second by `clients` sessions calling back to back for `seconds`. */
async function throughput(clients: Client[], tool: string, seconds: number): Promise<number> {
  const end = performance.now() + seconds * 1000;
  let calls = 0;
  await Promise.all(clients.map(async (c) => {
    while (performance.now() < end) {
      await c.callTool({ name: tool, arguments: { id: 42 } });
      calls++;
    }
  }));
  return calls / seconds;
}

export async function benchMcp(ctx: Context): Promise<Row[]> {
  const section = 'mcp';
  const services: Service[] = [];
  let gateway: GatewayChild | undefined;
  const clients: Client[] = [];
  try {
    const upPort = await freePort();
    const upstream = await startNode('mcp-upstream', join(import.meta.dirname, '../upstreams/mcp.ts'), [String(upPort)]);
    services.push(upstream);
    gateway = await startGatewayChild(ctx.dir, `
admin:
  listen: 127.0.0.1:0
store: "sqlite:${join(ctx.dir, 'gatehouse-mcp.db')}"
connections:
  tools:
    kind: mcp
    listen: 127.0.0.1:0
    servers:
      inv: { url: "http://127.0.0.1:${upPort}/mcp" }
roles:
  agent:
    tools:
      call: [{ tool: inv__lookup, args: { $.id: { max: 1000 } } }]
`, { profileDir: ctx.profileDir });
    const token = await gateway.mint('agent', 'bench-mcp');
    const gw = gateway.address('tools');
    const direct = { url: `http://127.0.0.1:${upPort}/mcp`, tool: 'lookup' };
    const through = { url: `http://${gw.host}:${gw.port}/mcp`, tool: 'inv__lookup', token };

    const one = { direct: await connect(direct.url), gatehouse: await connect(through.url, through.token) };
    clients.push(one.direct, one.gatehouse);
    for (const [name, c] of Object.entries(one)) await sequential(c, name === 'direct' ? direct.tool : through.tool, 300); // warm-up
    ctx.log(`  ${SEQUENTIAL_CALLS} sequential tools/call each: direct, gatehouse`);
    const lat = {
      direct: await sequential(one.direct, direct.tool, SEQUENTIAL_CALLS),
      gatehouse: await sequential(one.gatehouse, through.tool, SEQUENTIAL_CALLS),
    };
    const p = (name: keyof typeof lat, q: number) => quantile(lat[name], q);

    const seconds = Math.min(ctx.seconds, 10);
    const many = async (url: string, token?: string) => Promise.all(Array.from({ length: CLIENTS }, () => connect(url, token)));
    const directClients = await many(direct.url);
    const gatewayClients = await many(through.url, through.token);
    clients.push(...directClients, ...gatewayClients);
    ctx.log(`  ${CLIENTS} clients, ${seconds} s: direct`);
    const directRate = await throughput(directClients, direct.tool, seconds);
    ctx.log(`  ${CLIENTS} clients, ${seconds} s: gatehouse`);
    const cpuBefore = { gateway: treeCpuSeconds(gateway.pid), upstream: treeCpuSeconds(upstream.pid) };
    const started = performance.now();
    const gatewayRate = await throughput(gatewayClients, through.tool, seconds);
    const calls = gatewayRate * ((performance.now() - started) / 1000);
    const cpuUs = ((treeCpuSeconds(gateway.pid) - cpuBefore.gateway) * 1e6) / calls;
    // What the SDK's own server side costs per call (the upstream), as a yardstick for the gateway's server + client.
    const upstreamCpuUs = ((treeCpuSeconds(upstream.pid) - cpuBefore.upstream) * 1e6) / calls;

    const added50 = p('gatehouse', 0.5) - p('direct', 0.5);
    const addedRow: Row = { section, metric: 'added p50 latency per tools/call (1 client)', unit: 'µs', gatehouse: added50, target: '≤ 1,000 µs' };
    addedRow.pass = added50 <= 1000;
    return [
      { section, metric: 'p50 latency per tools/call (1 client)', unit: 'µs', direct: p('direct', 0.5), gatehouse: p('gatehouse', 0.5) },
      { section, metric: 'p99 latency per tools/call (1 client)', unit: 'µs', direct: p('direct', 0.99), gatehouse: p('gatehouse', 0.99) },
      addedRow,
      { section, metric: 'added p99 latency per tools/call (1 client)', unit: 'µs', gatehouse: p('gatehouse', 0.99) - p('direct', 0.99) },
      withRatios({ section, metric: `tools/call per second, ${CLIENTS} clients`, unit: 'calls/s', direct: directRate, gatehouse: gatewayRate }),
      { section, metric: 'CPU per tools/call (reference: the MCP server itself)', unit: 'µs', ref: upstreamCpuUs, refName: 'SDK server', gatehouse: cpuUs },
    ];
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await gateway?.stop();
    for (const s of services) await s.stop();
  }
}
