// Egress test support: a network that resolves public-looking names to documentation addresses and dials only loopback
// (recording every lookup and connect), a test CA with local HTTP and HTTPS upstreams, and a gateway wired to both.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect, Socket, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ipaddr from 'ipaddr.js';
import type { Network } from '../../src/services/network/network.ts';
import { gateway } from '../helpers/gateway.ts';

/** Addresses nothing routes: tests let names resolve to them, and the test network maps them onto local listeners. */
const DOCUMENTATION = ['192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24', '2001:db8::/32'].map((c) => ipaddr.parseCIDR(c));

export const isDocumentation = (address: string) => {
  const ip = ipaddr.parse(address);
  return DOCUMENTATION.some((c) => c[0].kind() === ip.kind() && ip.match(c));
};

/**
 * The proxy's way out, for tests: names resolve as `names` says (a function answers differently on each lookup);
 * connects reach a local port only through `routes` (`address:port` → loopback port). A connect to anything that is
 * neither a documentation address nor an address the test allowed is a violation, and is never attempted.
 */
export class TestNetwork implements Network {
  readonly lookups: string[] = [];
  readonly dials: string[] = [];
  readonly violations: string[] = [];
  readonly names = new Map<string, string[] | (() => string[])>();
  readonly routes = new Map<string, number>();
  /** Addresses a test means to reach besides the documentation ranges: loopback under allow_private, a NAT64 form of one. */
  readonly allowed = new Set<string>();

  async resolve(name: string): Promise<string[]> {
    this.lookups.push(name);
    const answer = this.names.get(name);
    if (!answer) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
    return typeof answer === 'function' ? answer() : answer;
  }

  connect(address: string, port: number): Socket {
    const key = `${address.includes(':') ? `[${address}]` : address}:${port}`;
    this.dials.push(key);
    if (!isDocumentation(address) && !this.allowed.has(address)) this.violations.push(key);
    const to = this.routes.get(key);
    if (to !== undefined) return connect({ host: '127.0.0.1', port: to });
    // Unrouted: refused without any packet leaving.
    const socket = new Socket();
    process.nextTick(() => socket.destroy(Object.assign(new Error(`connect ECONNREFUSED ${key}`), { code: 'ECONNREFUSED' })));
    return socket;
  }

  /** `name` resolves to `addresses`; each (when documentation or allowed) leads to `port` on the local `to` port. */
  route(name: string, addresses: string[], port: number, to: number) {
    this.names.set(name, addresses);
    for (const a of addresses) this.routes.set(`${a.includes(':') ? `[${a}]` : a}:${port}`, to);
  }

  assertClean() {
    assert.deepEqual(this.violations, [], 'the proxy dialled an address it must refuse');
  }
}

export interface Pki {
  dir: string;
  ca: string;
  cert: string;
  key: string;
  close(): void;
}

/** A throwaway CA and one server certificate for `names` (and `ips`), made with the openssl CLI. */
export function makePki(names: string[], ips: string[] = []): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-egress-'));
  const run = (args: string[]) => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=Gatehouse egress test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  run(['req', ...ec, '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=upstream']);
  const san = [...names.map((n) => `DNS:${n}`), ...ips.map((i) => `IP:${i}`)].join(',');
  writeFileSync(join(dir, 'leaf.ext'), `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n`);
  run(['x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'leaf.pem', '-days', '2', '-extfile', 'leaf.ext']);
  return {
    dir, ca: readFileSync(join(dir, 'ca.pem'), 'utf8'), cert: readFileSync(join(dir, 'leaf.pem'), 'utf8'), key: readFileSync(join(dir, 'leaf.key'), 'utf8'),
    close: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface Upstream {
  server: Server;
  port: number;
  /** Requests seen: method, host header, path, headers. */
  seen: { method: string; host: string | undefined; path: string; headers: IncomingMessage['headers'] }[];
  /** TLS handshakes completed (HTTPS upstreams): a refused tunnel must never get this far. */
  handshakes: number;
  close(): Promise<void>;
}

/**
 * A small site: `/echo` answers what it saw as JSON, `/bytes?n=` sends n bytes, `/drip` sends a chunk every 50 ms until
 * cut, `/redirect?to=` redirects, `/upload` counts a request body.
 */
function site(seen: Upstream['seen']) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    seen.push({ method: req.method ?? '', host: req.headers.host, path: req.url ?? '', headers: req.headers });
    if (url.pathname === '/bytes') {
      const n = Number(url.searchParams.get('n') ?? 0);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(n) });
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      let left = n;
      const pump = () => {
        while (left > 0) {
          const piece = chunk.subarray(0, Math.min(left, chunk.length));
          left -= piece.length;
          if (!res.write(piece)) return void res.once('drain', pump);
        }
        res.end();
      };
      return pump();
    }
    if (url.pathname === '/drip') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const timer = setInterval(() => res.write('drip\n'), 50);
      res.once('close', () => clearInterval(timer));
      return;
    }
    if (url.pathname === '/redirect') {
      res.writeHead(302, { location: url.searchParams.get('to') ?? '/' });
      return void res.end();
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.stringify({
        method: req.method, host: req.headers.host, path: req.url, headers: req.headers,
        sni: (req.socket as { servername?: string }).servername ?? null, received: Buffer.concat(chunks).length,
      });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) });
      res.end(body);
    });
  };
}

async function listenUpstream(server: Server, seen: Upstream['seen'], counter: { handshakes: number }): Promise<Upstream> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server, port: (server.address() as AddressInfo).port, seen,
    get handshakes() { return counter.handshakes; },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

export function httpUpstream(): Promise<Upstream> {
  const seen: Upstream['seen'] = [];
  return listenUpstream(createHttpServer(site(seen)), seen, { handshakes: 0 });
}

export function httpsUpstream(pki: Pki): Promise<Upstream> {
  const seen: Upstream['seen'] = [];
  const counter = { handshakes: 0 };
  const server = createHttpsServer({ key: pki.key, cert: pki.cert }, site(seen));
  server.on('secureConnection', () => counter.handshakes++);
  return listenUpstream(server, seen, counter);
}

/** A gateway with one egress connection `internet` (the given grants and options) whose way out is `network`. */
export async function egressGateway(network: TestNetwork, roles: string, connection = '') {
  const gw = await gateway(`
connections:
  internet:
    kind: egress
    listen: 127.0.0.1:0
${connection.replace(/^/gm, '    ')}
roles:
${roles}
`, {}, { network });
  const address = gw.listeners.find((l) => l.name === 'internet')!.address;
  return Object.assign(gw, {
    proxyAddress: address,
    /** The proxy URL an agent puts in HTTPS_PROXY / HTTP_PROXY. */
    proxyUrl: (token: string, label = 'agent') => `http://${label}:${token}@${address}`,
  });
}

export interface ProxyAnswer {
  status: number;
  head: string;
  /** The JSON body of a refusal (after the connection closes). */
  body: string;
  /** The open tunnel, after a 200: paused, with anything that came after the answer put back. */
  socket: Socket;
}

/** Sends `head` (a CONNECT or an absolute-form request) on a fresh connection; resolves with the proxy's answer. */
export function askProxy(proxy: string, head: string, ms = 3000): Promise<ProxyAnswer> {
  const i = proxy.lastIndexOf(':');
  const tunnel = head.startsWith('CONNECT ');
  return new Promise((resolve, reject) => {
    const socket = connect({ host: proxy.slice(0, i), port: Number(proxy.slice(i + 1)) }, () => socket.write(head));
    let data = Buffer.alloc(0);
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no answer from the proxy within ${ms} ms: ${data.toString('latin1')}`)); }, ms);
    const answer = () => {
      const end = data.indexOf('\r\n\r\n');
      const head = data.subarray(0, end < 0 ? data.length : end).toString('latin1');
      return { status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0), head, body: end < 0 ? '' : data.subarray(end + 4).toString('utf8'), end };
    };
    const onData = (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      const a = answer();
      if (!tunnel || a.end < 0 || a.status !== 200) return;
      // An open tunnel: hand the socket over, with anything that came after the answer put back.
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.pause(); // the caller reads on (resume) or hands the socket to TLS; nothing is emitted to nobody meanwhile
      if (data.length > a.end + 4) socket.unshift(data.subarray(a.end + 4));
      resolve({ status: 200, head: a.head, body: '', socket });
    };
    const onClose = () => {
      clearTimeout(timer);
      const a = answer();
      resolve({ status: a.status, head: a.head, body: a.body, socket });
    };
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.on('error', () => {});
  });
}

/** A CONNECT request head with the token as Proxy-Authorization (Basic, as HTTPS_PROXY=http://label:token@... sends it). */
export function connectHead(target: string, token?: string, extra = ''): string {
  const auth = token ? `Proxy-Authorization: Basic ${Buffer.from(`agent:${token}`).toString('base64')}\r\n` : '';
  return `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${auth}${extra}\r\n`;
}
