// The intercepting egress proxy in the conformance suite: the demo billing API behind a local TLS front (a test CA the
// gateway trusts through upstream_ca) reached as a granted IP literal under allow_private, and an agent that tunnels
// with CONNECT, trusts the gateway's own CA and sends its requests inside: each one judged, held or cut on its own.
import assert from 'node:assert/strict';
import { Agent, request, type IncomingMessage, type RequestOptions } from 'node:http';
import type { Duplex } from 'node:stream';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect as netConnect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, createServer as createTlsServer, type Server } from 'node:tls';
import { startBillingApi } from '../../src/demo/upstreams/billing.ts';
import { askProxy, connectHead, makePki, type Pki } from '../support/egress.ts';
import { until } from './http.ts';
import type { Agent as SuiteAgent, Answer, Driver } from './driver.ts';

let api: Awaited<ReturnType<typeof startBillingApi>>;
let front: Server;
let pki: Pki;
let dir: string;
let site: string;

/** A refusal at the proxy's door (the CONNECT), as the suite hands it to `authRefusal`. */
class Refused extends Error {
  constructor(readonly status: number, readonly body: string) { super(`${status} ${body}`); }
}

/**
 * An agent's way through the proxy: one intercepted tunnel at a time, kept open across requests as a real client keeps
 * its connection (so the suite's requests are judged inside a tunnel, not only at its CONNECT).
 */
class Tunnels extends Agent {
  constructor(private readonly address: string, private readonly token: string, private readonly tags: { run: string; step: string }) {
    super({ keepAlive: true, maxSockets: 1 });
  }

  override createConnection(_o: RequestOptions, done?: (err: Error | null, stream: Duplex) => void): undefined {
    const extra = `X-Gatehouse-Run: ${this.tags.run}\r\nX-Gatehouse-Step: ${this.tags.step}\r\n`;
    askProxy(this.address, connectHead(site, this.token, extra)).then((answer) => {
      if (answer.status !== 200) throw new Refused(answer.status, answer.body);
      const tls = tlsConnect({ socket: answer.socket, host: '127.0.0.1', ca: readFileSync(join(dir, 'ca.pem'), 'utf8'), ALPNProtocols: ['http/1.1'] });
      tls.once('secureConnect', () => done?.(null, tls));
      tls.once('error', (err) => done?.(err, tls));
    }).catch((err: Error) => done?.(err, undefined as unknown as Duplex));
    return undefined;
  }
}

/** One request through the agent's tunnel; resolves with the status and body the agent saw. */
function inside(tunnels: Tunnels, method: string, path: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ agent: tunnels, method, path, headers: { host: site, ...(body ? { 'content-type': 'application/json' } : {}) } }, (res: IncomingMessage) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const answer = (r: { status: number; body: string }): Answer => (r.status < 300 ? { ok: true } : { ok: false, refusal: `${r.status} ${r.body}` });

export const egressIntercept: Driver = {
  name: 'egress (intercept)',
  async setup() {
    api = await startBillingApi();
    pki = makePki([], ['127.0.0.1']);
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-conformance-ca-'));
    const billing = Number(new URL(api.url).port);
    front = createTlsServer({ cert: pki.cert, key: pki.key }, (s) => {
      const to = netConnect(billing, '127.0.0.1');
      s.pipe(to).pipe(s);
      const end = () => { s.destroy(); to.destroy(); };
      s.on('error', end);
      to.on('error', end);
      s.on('close', end);
      to.on('close', end);
    });
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    site = `127.0.0.1:${(front.address() as AddressInfo).port}`;
    return `
connections:
  internet:
    kind: egress
    listen: 127.0.0.1:0
    allow_private: ["127.0.0.1"]
    intercept: true
    ca: { cert: "${join(dir, 'ca.pem')}", key: "${join(dir, 'ca.key')}" }
    upstream_ca: "${join(pki.dir, 'ca.pem')}"
roles:
  agent:
    internet:
      hosts: ["${site}"]
      allow: ["GET ${site}/invoices/*", "GET ${site}/slow", "POST ${site}/refunds"]
      approve: ["POST 127.0.0.1"]
`;
  },
  async teardown() {
    front.close();
    await api.close();
    pki.close();
    rmSync(dir, { recursive: true, force: true });
  },
  async connect(address, token, tags) {
    const tunnels = new Tunnels(address, token.token, tags);
    const agent: SuiteAgent = {
      async allowed() {
        const r = await inside(tunnels, 'GET', '/invoices/42');
        assert.equal(r.status, 200, r.body);
      },
      // A refusal at the tunnel (its own audit record could not be written) is what the agent sees, as for any request.
      held: () => inside(tunnels, 'POST', '/refunds', '{"invoice":42,"amount":5}').then(answer, (err: Error) => {
        if (err instanceof Refused) return { ok: false as const, refusal: err.message };
        throw err;
      }),
      live() {
        const seen = api.requests.length;
        const ended = inside(tunnels, 'GET', '/slow?ms=5000').then(answer, (err: Error) => ({ ok: false as const, refusal: err.message }));
        return { started: until(() => api.requests.slice(seen).some((r) => r.url.startsWith('/slow'))), ended };
      },
      close: async () => tunnels.destroy(),
    };
    // The proxy checks the token on every tunnel, so connecting is the first request.
    await agent.allowed();
    return agent;
  },
  authRefusal(outcome) {
    assert.ok(outcome instanceof Refused, `a proxy refusal, got ${String(outcome)}`);
    assert.equal(outcome.status, 407);
    const body = JSON.parse(outcome.body) as { error: { code: string; message: string } };
    assert.match(body.error.code, /^token\./);
    return body.error.message;
  },
  forwardedHeld: async () => api.requests.filter((r) => r.method === 'POST' && r.url === '/refunds').length,
};
