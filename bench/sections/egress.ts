// Egress path: tunnel throughput (a download through CONNECT) and the latency a tunnel adds to opening a connection,
// straight to a local TCP upstream, through a bare Node CONNECT relay and through Gatehouse (token, host grant, address
// check under allow_private, audit), in the same run.
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { startGatewayChild, type GatewayChild } from '../lib/gateway.ts';
import { freePort, quantile, startNode, treeCpuSeconds, median, type Service } from '../lib/proc.ts';
import { withRatios, type Context, type Row } from '../lib/report.ts';

const MB = 1024 * 1024;
/** Bytes per download run, and runs per path (the median is reported). */
const DOWNLOAD = 512 * MB;
const RUNS = 3;
/** Tunnels opened one after another for the latency figures. */
const OPENS = 300;

interface Path {
  name: 'direct' | 'floor' | 'gatehouse';
  /** A connection that reaches the upstream (through a tunnel or not). */
  open(): Promise<Socket>;
  pid?: number;
}

export async function benchEgress(ctx: Context): Promise<Row[]> {
  const section = 'egress';
  const services: Service[] = [];
  let gateway: GatewayChild | undefined;
  try {
    const upPort = await freePort();
    services.push(await startNode('tcp-upstream', join(import.meta.dirname, '../upstreams/tcp.ts'), [String(upPort)]));
    const floorPort = await freePort();
    const floor = await startNode('floor-connect', join(import.meta.dirname, '../floor/connect.ts'), [String(floorPort)]);
    services.push(floor);
    gateway = await startGatewayChild(ctx.dir, `
admin:
  listen: 127.0.0.1:0
store: "sqlite:${join(ctx.dir, 'gatehouse-egress.db')}"
connections:
  internet:
    kind: egress
    listen: 127.0.0.1:0
    allow_private: ["127.0.0.0/8"]
roles:
  agent:
    internet:
      hosts: ["127.0.0.1:${upPort}"]
`, { profileDir: ctx.profileDir });
    const token = await gateway.mint('agent', 'bench-egress');
    const gw = gateway.address('internet');
    const target = `127.0.0.1:${upPort}`;
    const paths: Path[] = [
      { name: 'direct', open: () => dial(upPort) },
      { name: 'floor', open: () => tunnel(floorPort, target), pid: floor.pid },
      { name: 'gatehouse', open: () => tunnel(gw.port, target, `Proxy-Authorization: Basic ${Buffer.from(`bench:${token}`).toString('base64')}\r\n`), pid: gateway.pid },
    ];

    const mbps: Partial<Record<Path['name'], number>> = {};
    const cpuPerMb: Partial<Record<Path['name'], number>> = {};
    for (const p of paths) {
      await download(await p.open(), 32 * MB); // warm-up
      ctx.log(`  ${RUNS} × ${DOWNLOAD / MB} MB through the tunnel: ${p.name}`);
      const before = p.pid ? treeCpuSeconds(p.pid) : 0;
      const runs: number[] = [];
      for (let i = 0; i < RUNS; i++) runs.push(await download(await p.open(), DOWNLOAD));
      mbps[p.name] = median(runs);
      if (p.pid) cpuPerMb[p.name] = ((treeCpuSeconds(p.pid) - before) * 1e6) / ((DOWNLOAD / MB) * RUNS);
    }

    const latency: Partial<Record<Path['name'], number[]>> = {};
    for (const p of paths) {
      for (let i = 0; i < 20; i++) await roundTrip(p); // warm-up
      ctx.log(`  ${OPENS} connections opened one after another, first byte echoed: ${p.name}`);
      const times: number[] = [];
      for (let i = 0; i < OPENS; i++) times.push(await roundTrip(p));
      latency[p.name] = times;
    }
    const q = (name: Path['name'], p: number) => (latency[name] ? quantile(latency[name]!, p) * 1000 : undefined);
    const added = (name: Path['name'], p: number) => (q(name, p) !== undefined && q('direct', p) !== undefined ? q(name, p)! - q('direct', p)! : undefined);
    return [
      withRatios({ section, metric: `tunnel throughput, ${DOWNLOAD / MB} MB download`, unit: 'MB/s', direct: mbps.direct, floor: mbps.floor, gatehouse: mbps.gatehouse, note: `G/floor ${fmtRatio(mbps.gatehouse, mbps.floor)}` }),
      { section, metric: 'proxy CPU per MB relayed', unit: 'µs', floor: cpuPerMb.floor, gatehouse: cpuPerMb.gatehouse },
      { section, metric: 'connect + first echo, p50', unit: 'µs', direct: q('direct', 0.5), floor: q('floor', 0.5), gatehouse: q('gatehouse', 0.5) },
      { section, metric: 'added connect latency, p50', unit: 'µs', floor: added('floor', 0.5), gatehouse: added('gatehouse', 0.5), note: 'CONNECT, token, grant, address check, audit committed' },
      { section, metric: 'added connect latency, p99', unit: 'µs', floor: added('floor', 0.99), gatehouse: added('gatehouse', 0.99) },
    ];
  } finally {
    await gateway?.stop();
    for (const s of services) await s.stop();
  }
}

const fmtRatio = (a?: number, b?: number) => (a !== undefined && b ? `${(a / b).toFixed(2)}×` : 'n/a');

function dial(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, noDelay: true }, () => { s.off('error', reject); resolve(s); });
    s.once('error', reject);
  });
}

/** A CONNECT tunnel through the proxy on `port`; resolves once the proxy answered 200. */
async function tunnel(port: number, target: string, headers = ''): Promise<Socket> {
  const s = await dial(port);
  s.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${headers}\r\n`);
  return new Promise((resolve, reject) => {
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      s.off('data', onData);
      if (!/^HTTP\/1\.1 200 /.test(head.toString('latin1'))) return reject(new Error(`CONNECT refused: ${head.toString('latin1').split('\r\n')[0]}`));
      if (head.length > end + 4) s.unshift(head.subarray(end + 4));
      resolve(s);
    };
    s.on('data', onData);
    s.once('error', reject);
  });
}

/** Asks the upstream for `bytes` and reads them all; resolves with MB/s. */
function download(s: Socket, bytes: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let got = 0;
    const started = performance.now();
    s.on('data', (c: Buffer) => { got += c.length; });
    s.once('end', () => {
      s.destroy();
      if (got !== bytes) return reject(new Error(`received ${got} of ${bytes} bytes`));
      resolve(bytes / MB / ((performance.now() - started) / 1000));
    });
    s.once('error', reject);
    s.write(`download ${bytes}\n`);
  });
}

/** Opens a connection over `path`, sends one byte to the echo upstream and waits for it; resolves with milliseconds. */
async function roundTrip(path: Path): Promise<number> {
  const started = performance.now();
  const s = await path.open();
  await new Promise<void>((resolve, reject) => {
    s.once('data', () => resolve());
    s.once('error', reject);
    s.write('echo\nx');
  });
  const ms = performance.now() - started;
  s.destroy();
  return ms;
}
