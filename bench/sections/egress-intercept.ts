// Egress interception: HTTPS requests/s and per-request latency to one local HTTPS upstream, in the same run, straight,
// through a bare Node CONNECT relay, through a Gatehouse tunnel left uninspected (pass_through), through an intercepted
// tunnel (every request judged, a header injected, audit on) and through `kind: http` to the same upstream.
import { readFileSync, writeFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest, type RequestOptions } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { generate } from 'selfsigned';
import { startGatewayChild, type GatewayChild } from '../lib/gateway.ts';
import { freePort, quantile, startNode, type Service } from '../lib/proc.ts';
import { withRatios, type Context, type Row } from '../lib/report.ts';

/** Clients, each sending its requests one after another over one kept-alive connection (or tunnel). */
const CLIENTS = 8;

type Name = 'direct' | 'floor' | 'tunnel' | 'intercept' | 'http';

export async function benchEgressIntercept(ctx: Context): Promise<Row[]> {
  const section = 'egress-intercept';
  const services: Service[] = [];
  let gateway: GatewayChild | undefined;
  const extraCa = process.env.NODE_EXTRA_CA_CERTS;
  try {
    // The upstream's own self-signed certificate: the gateway trusts it through upstream_ca (egress) and
    // NODE_EXTRA_CA_CERTS (kind: http), the direct and tunnelled clients by passing it as their CA.
    const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
      keySize: 2048, extensions: [{ name: 'basicConstraints', cA: true }, { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
    } as Parameters<typeof generate>[1]);
    const certFile = join(ctx.dir, 'upstream.pem');
    const keyFile = join(ctx.dir, 'upstream.key');
    writeFileSync(certFile, pems.cert);
    writeFileSync(keyFile, pems.private);
    const upPort = await freePort();
    services.push(await startNode('https-upstream', join(import.meta.dirname, '../upstreams/https.ts'), [String(upPort), certFile, keyFile]));
    const floorPort = await freePort();
    services.push(await startNode('floor-connect', join(import.meta.dirname, '../floor/connect.ts'), [String(floorPort)]));
    const site = `127.0.0.1:${upPort}`;
    process.env.NODE_EXTRA_CA_CERTS = certFile;
    gateway = await startGatewayChild(ctx.dir, `
admin:
  listen: 127.0.0.1:0
store: "sqlite:${join(ctx.dir, 'gatehouse-egress-intercept.db')}"
connections:
  internet:
    kind: egress
    listen: 127.0.0.1:0
    allow_private: ["127.0.0.0/8"]
    intercept: true
    ca: { cert: "${join(ctx.dir, 'intercept-ca.pem')}", key: "${join(ctx.dir, 'intercept-ca.key')}" }
    upstream_ca: "${certFile}"
  spliced:
    kind: egress
    listen: 127.0.0.1:0
    allow_private: ["127.0.0.0/8"]
  api:
    kind: http
    listen: 127.0.0.1:0
    upstream: https://${site}
    headers: { Authorization: "Bearer upstream-secret-key" }
roles:
  agent:
    internet:
      hosts: ["${site}"]
      allow: ["GET ${site}/invoices/*"]
      headers: { 127.0.0.1: { Authorization: "Bearer upstream-secret-key" } }
    spliced:
      hosts: ["${site}"]
    api:
      allow: ["GET /invoices/*"]
`, { profileDir: ctx.profileDir });
    const token = await gateway.mint('agent', 'bench-intercept');
    const auth = `Proxy-Authorization: Basic ${Buffer.from(`bench:${token}`).toString('base64')}\r\n`;
    const upstreamCa = pems.cert;
    const interceptCa = readFileSync(join(ctx.dir, 'intercept-ca.pem'), 'utf8');
    const via = (proxy: { host: string; port: number } | number, ca: string, headers = '') =>
      new TlsAgent(() => open(typeof proxy === 'number' ? proxy : proxy.port, site, headers), ca);
    const http = gateway.address('api');
    const paths: { name: Name; agent: HttpAgent; port: number; headers?: Record<string, string> }[] = [
      { name: 'direct', agent: new TlsAgent(() => dial(upPort), upstreamCa), port: upPort },
      { name: 'floor', agent: via(floorPort, upstreamCa), port: upPort },
      { name: 'tunnel', agent: via(gateway.address('spliced'), upstreamCa, auth), port: upPort },
      { name: 'intercept', agent: via(gateway.address('internet'), interceptCa, auth), port: upPort },
      { name: 'http', agent: new HttpAgent({ keepAlive: true }), port: http.port, headers: { authorization: `Bearer ${token}` } },
    ];
    const results: Partial<Record<Name, { rps: number; times: number[] }>> = {};
    for (const p of paths) {
      await load(p, 1); // warm-up: tunnels opened, leaves minted, pools filled
      ctx.log(`  ${CLIENTS} clients, ${ctx.seconds} s of GET /invoices/42: ${p.name}`);
      results[p.name] = await load(p, ctx.seconds);
      p.agent.destroy();
    }
    const rps = (n: Name) => results[n]?.rps;
    const q = (n: Name, at: number) => (results[n] ? quantile(results[n]!.times, at) * 1000 : undefined);
    const added = (n: Name, at: number) => (q(n, at) !== undefined && q('direct', at) !== undefined ? q(n, at)! - q('direct', at)! : undefined);
    const line = (n: Name) => `${n} ${rps(n)?.toFixed(0) ?? 'n/a'}`;
    return [
      withRatios({ section, metric: `intercepted HTTPS requests/s (${CLIENTS} keep-alive clients)`, unit: 'req/s', direct: rps('direct'), floor: rps('floor'), ref: rps('http'), refName: 'kind: http', gatehouse: rps('intercept'), note: `${line('tunnel')} (uninspected tunnel)` }),
      { section, metric: 'added latency per request, p50', unit: 'µs', floor: added('floor', 0.5), ref: added('http', 0.5), refName: 'kind: http', gatehouse: added('intercept', 0.5), note: `uninspected tunnel ${added('tunnel', 0.5)?.toFixed(0) ?? 'n/a'} µs` },
      { section, metric: 'added latency per request, p99', unit: 'µs', floor: added('floor', 0.99), ref: added('http', 0.99), refName: 'kind: http', gatehouse: added('intercept', 0.99), note: `uninspected tunnel ${added('tunnel', 0.99)?.toFixed(0) ?? 'n/a'} µs` },
    ];
  } finally {
    if (extraCa === undefined) delete process.env.NODE_EXTRA_CA_CERTS;
    else process.env.NODE_EXTRA_CA_CERTS = extraCa;
    await gateway?.stop();
    for (const s of services) await s.stop();
  }
}

/** An HTTP agent whose connections are TLS to 127.0.0.1 over what `raw` opens (a socket, or a CONNECT tunnel). */
class TlsAgent extends HttpAgent {
  constructor(private readonly raw: () => Promise<Socket>, private readonly ca: string) {
    super({ keepAlive: true, maxSockets: CLIENTS });
  }

  override createConnection(_o: RequestOptions, done?: (err: Error | null, stream: Duplex) => void): undefined {
    this.raw().then((raw) => {
      const tls = tlsConnect({ socket: raw, host: '127.0.0.1', ca: this.ca, ALPNProtocols: ['http/1.1'] });
      tls.once('secureConnect', () => done?.(null, tls));
      tls.once('error', (err) => done?.(err, tls));
    }, (err: Error) => done?.(err, undefined as unknown as Duplex));
    return undefined;
  }
}

function dial(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, noDelay: true }, () => { s.off('error', reject); resolve(s); });
    s.once('error', reject);
  });
}

/** A CONNECT tunnel to `target` through the proxy on `port`, once it answered 200. */
function open(port: number, target: string, headers: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, noDelay: true }, () => s.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${headers}\r\n`));
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

/** CLIENTS loops of sequential GETs for `seconds`; requests/s and every request's time (ms). */
async function load(p: { agent: HttpAgent; port: number; headers?: Record<string, string> }, seconds: number): Promise<{ rps: number; times: number[] }> {
  const until = performance.now() + seconds * 1000;
  const times: number[] = [];
  const one = () => new Promise<void>((resolve, reject) => {
    const started = performance.now();
    const req = httpRequest({ agent: p.agent, host: '127.0.0.1', port: p.port, path: '/invoices/42', headers: { host: `127.0.0.1:${p.port}`, ...p.headers } }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`status ${res.statusCode}`));
      res.resume();
      res.once('end', () => { times.push(performance.now() - started); resolve(); });
    });
    req.once('error', reject);
    req.end();
  });
  const began = performance.now();
  await Promise.all(Array.from({ length: CLIENTS }, async () => { while (performance.now() < until) await one(); }));
  return { rps: times.length / ((performance.now() - began) / 1000), times };
}
