// Filesystem path: read_file and write_file from a real SDK client through Gatehouse (token, grant with deny globs,
// confinement by descriptor, atomic synced writes, audit on), against plain `fs` in this process (direct) and a bare
// MCP server doing plain fs calls (floor: what MCP itself costs), small and large files, in MB/s and calls/s.
import { setMaxListeners } from 'node:events';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startGatewayChild, type GatewayChild } from '../lib/gateway.ts';
import { freePort, startNode, treeCpuSeconds, type Service } from '../lib/proc.ts';
import { withRatios, type Context, type Row } from '../lib/report.ts';

const SMALL = 4 * 1024;
/** Under the MCP kit's 4 MB request cap, so a large write fits one message. */
const LARGE = 2 * 1024 * 1024;

async function connect(url: string, token?: string): Promise<Client> {
  const client = new Client({ name: 'bench', version: '1' });
  const quiet: typeof fetch = (input, init) => { if (init?.signal) setMaxListeners(0, init.signal); return fetch(input, init); };
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: token ? { Authorization: `Bearer ${token}` } : {} }, fetch: quiet }));
  return client;
}

/** Operations per second of `op` run back to back for `seconds` (after a short warm-up). */
async function rate(seconds: number, op: () => Promise<unknown>): Promise<number> {
  const warm = performance.now() + 300;
  while (performance.now() < warm) await op();
  const start = performance.now();
  const end = start + seconds * 1000;
  let n = 0;
  while (performance.now() < end) { await op(); n++; }
  return n / ((performance.now() - start) / 1000);
}

/** Printable text (what agents read), so guards and UTF-8 decoding see what they would in use. */
const textOf = (bytes: number) => 'The quick brown fox jumps over the lazy dog 0123456789.\n'.repeat(Math.ceil(bytes / 56)).slice(0, bytes);

export async function benchFilesystem(ctx: Context): Promise<Row[]> {
  const section = 'filesystem';
  const root = join(ctx.dir, 'fs-root');
  mkdirSync(join(root, 'docs'), { recursive: true });
  mkdirSync(join(root, 'out'), { recursive: true });
  writeFileSync(join(root, 'docs/small.txt'), textOf(SMALL));
  writeFileSync(join(root, 'docs/large.txt'), textOf(LARGE));
  const services: Service[] = [];
  let gateway: GatewayChild | undefined;
  const clients: Client[] = [];
  try {
    const floorPort = await freePort();
    const floorServer = await startNode('fs-floor', join(import.meta.dirname, '../upstreams/fs-floor.ts'), [String(floorPort), root]);
    services.push(floorServer);
    gateway = await startGatewayChild(ctx.dir, `
admin:
  listen: 127.0.0.1:0
store: "sqlite:${join(ctx.dir, 'gatehouse-fs.db')}"
connections:
  workspace:
    kind: filesystem
    root: ${JSON.stringify(root)}
    listen: 127.0.0.1:0
roles:
  agent:
    workspace:
      read: ["docs/**"]
      write: ["out/**"]
      deny: ["**/.env", "**/*.pem", "**/.git/**"]
      max_file_size: 8MB
      guards: { secrets: "off", injection: "off" }
  guarded:
    workspace:
      read: ["docs/**"]
      deny: ["**/.env"]
      max_file_size: 8MB
      guards: { secrets: redact, injection: flag }
`, { profileDir: ctx.profileDir });
    const gw = gateway.address('workspace');
    const url = `http://${gw.host}:${gw.port}/mcp`;
    const through = await connect(url, await gateway.mint('agent', 'bench-fs'));
    const guarded = await connect(url, await gateway.mint('guarded', 'bench-fs-guards'));
    const floor = await connect(`http://127.0.0.1:${floorPort}/mcp`);
    clients.push(through, guarded, floor);

    const seconds = Math.min(ctx.seconds, 4);
    const call = (c: Client, name: string, args: Record<string, unknown>) => async () => {
      const r = await c.callTool({ name, arguments: args });
      if (r.isError) throw new Error(`${name} answered an error: ${JSON.stringify(r.content)}`);
    };
    const rows: Row[] = [];
    for (const [label, size, file] of [['small (4 KB)', SMALL, 'docs/small.txt'], ['large (2 MB)', LARGE, 'docs/large.txt']] as const) {
      ctx.log(`  read_file ${label}: direct, floor, gatehouse, gatehouse with guards`);
      const direct = await rate(seconds, () => readFile(join(root, file), 'utf8'));
      const floorCpu = treeCpuSeconds(floorServer.pid);
      const bare = await rate(seconds, call(floor, 'read_file', { path: file }));
      const floorCpuUs = ((treeCpuSeconds(floorServer.pid) - floorCpu) * 1e6) / (bare * seconds);
      const gatewayCpu = treeCpuSeconds(gateway!.pid);
      const gate = await rate(seconds, call(through, 'read_file', { path: file }));
      const gatewayCpuUs = ((treeCpuSeconds(gateway!.pid) - gatewayCpu) * 1e6) / (gate * seconds);
      const withGuards = await rate(seconds, call(guarded, 'read_file', { path: file }));
      const mb = (ops: number) => (ops * size) / (1024 * 1024);
      rows.push(withRatios({ section, metric: `read_file ${label}, 1 client`, unit: 'MB/s', direct: mb(direct), ref: mb(bare), refName: 'bare MCP server', gatehouse: mb(gate) }));
      rows.push(withRatios({ section, metric: `read_file ${label} with guards (secrets redact, injection flag)`, unit: 'MB/s', ref: mb(bare), refName: 'bare MCP server', gatehouse: mb(withGuards) }));
      if (size === SMALL) rows.push(withRatios({ section, metric: `read_file ${label}, calls per second`, unit: 'calls/s', direct, ref: bare, refName: 'bare MCP server', gatehouse: gate }));
      rows.push(withRatios({ section, metric: `CPU per read_file ${label} (server side)`, unit: 'µs', ref: floorCpuUs, refName: 'bare MCP server', gatehouse: gatewayCpuUs }));
    }
    for (const [label, size] of [['small (4 KB)', SMALL], ['large (2 MB)', LARGE]] as const) {
      ctx.log(`  write_file ${label}: direct, floor, gatehouse`);
      const content = textOf(size);
      const direct = await rate(seconds, () => writeFile(join(root, 'out/direct.txt'), content));
      const bare = await rate(seconds, call(floor, 'write_file', { path: 'out/floor.txt', content }));
      const gate = await rate(seconds, call(through, 'write_file', { path: 'out/gatehouse.txt', content }));
      if (readFileSync(join(root, 'out/gatehouse.txt'), 'utf8') !== content) throw new Error('the write through Gatehouse did not land');
      const mb = (ops: number) => (ops * size) / (1024 * 1024);
      rows.push(withRatios({
        section, metric: `write_file ${label}, 1 client`, unit: 'MB/s', direct: mb(direct), ref: mb(bare), refName: 'bare MCP server', gatehouse: mb(gate),
        note: 'Gatehouse writes atomically (temp file, fdatasync, rename); plain fs and the bare server overwrite in place without sync',
      }));
    }
    return rows;
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await gateway?.stop();
    for (const s of services) await s.stop();
  }
}
