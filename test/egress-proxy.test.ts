// The egress proxy end to end with real clients (curl, undici's ProxyAgent and EnvHttpProxyAgent, Python requests) against
// local HTTP and HTTPS upstreams: names resolve to documentation addresses the test network maps onto them.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import dns from 'node:dns';
import { connect, isIP } from 'node:net';
import { RequestsGetTool } from '@langchain/classic/tools';
import { EnvHttpProxyAgent, ProxyAgent, fetch as undiciFetch, getGlobalDispatcher, setGlobalDispatcher } from 'undici';
import { DecisionFeed } from '../src/admin/console/decisions.ts';
import { renderReplay } from '../src/cli/sessions.ts';
import { verifyAudit } from '../src/services/audit/log.ts';
import { auditRecords, waitFor } from './helpers/gateway.ts';
import { askProxy, connectHead, egressGateway, httpsUpstream, httpUpstream, makePki, TestNetwork, type Pki, type Upstream } from './support/egress.ts';

const run = promisify(execFile);

let pki: Pki;
let caFile: string;
let https: Upstream;
let http: Upstream;
let network: TestNetwork;
let gw: Awaited<ReturnType<typeof egressGateway>>;

const SITES = { 'en.wikipedia.org': '203.0.113.10', 'export.arxiv.org': '203.0.113.11', 'gist.github.com': '203.0.113.12', 'api.github.com': '2001:db8::12' };

before(async () => {
  pki = makePki([...Object.keys(SITES), 'evil.example']);
  caFile = join(pki.dir, 'ca.pem');
  https = await httpsUpstream(pki);
  http = await httpUpstream();
  network = new TestNetwork();
  for (const [name, address] of Object.entries(SITES)) {
    network.route(name, [address], 443, https.port);
    network.route(name, [address], 80, http.port);
  }
  gw = await egressGateway(network, `
  researcher:
    internet:
      hosts: ["en.wikipedia.org", "*.arxiv.org", "api.github.com:443", "gist.github.com"]
      deny: ["gist.github.com"]
  limited:
    internet:
      hosts: ["en.wikipedia.org"]
      rate: 3/min
  metered:
    internet:
      hosts: ["en.wikipedia.org"]
      max_bytes: 256KB/hour
  outsider: {}
`, 'header_timeout_ms: 400');
});

after(async () => {
  await gw?.close();
  await Promise.all([https?.close(), http?.close()]);
  pki?.close();
  network?.assertClean();
});

/**
 * curl as an agent runs it, with the proxy in HTTPS_PROXY and http_proxy (curl reads only the lower-case name for plain
 * HTTP). `--proxy` says the same again, so curl never resolves a test name itself even if the environment were ignored.
 */
async function curl(args: string[], proxy: string) {
  const env = { PATH: process.env.PATH ?? '', HTTPS_PROXY: proxy, http_proxy: proxy };
  try {
    const { stdout, stderr } = await run('curl', ['-sS', '--proxy', proxy, '--cacert', caFile, '-w', '\n%{http_code} %{http_connect}', ...args], { env, timeout: 10_000 });
    return parseCurl(stdout, stderr, 0);
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number };
    return parseCurl(e.stdout, e.stderr, e.code);
  }
}

function parseCurl(stdout: string, stderr: string, exit: number) {
  const cut = stdout.lastIndexOf('\n');
  const [status, connect] = stdout.slice(cut + 1).split(' ').map(Number);
  return { body: stdout.slice(0, cut), status, connect, stderr, exit };
}

test('curl through HTTPS_PROXY: the tunnel reaches the granted host at the address the proxy resolved, and is audited', async () => {
  const { token, id } = await gw.mint('researcher');
  const before = network.dials.length;
  const r = await curl(['--proxy-header', 'X-Gatehouse-Run: run-42', '--proxy-header', 'X-Gatehouse-Step: browse', 'https://en.wikipedia.org/echo'], gw.proxyUrl(token));
  assert.equal(r.status, 200, r.stderr);
  assert.equal(r.connect, 200);
  const seen = JSON.parse(r.body);
  assert.equal(seen.sni, 'en.wikipedia.org');
  assert.equal(seen.host, 'en.wikipedia.org');
  assert.deepEqual(network.dials.slice(before), ['203.0.113.10:443']);

  const request = await waitFor(async () => (await auditRecords(gw)).find((x) => x.kind === 'request' && x.tokenId === id));
  assert.equal(request.verdict, 'allow');
  assert.equal(request.data.summary, 'CONNECT en.wikipedia.org:443');
  assert.equal(request.data.grant, 'hosts "en.wikipedia.org"');
  assert.deepEqual([request.data.host, request.data.port, request.data.addresses], ['en.wikipedia.org', 443, ['203.0.113.10']]);
  const result = await waitFor(async () => (await auditRecords(gw)).find((x) => x.kind === 'result' && x.data.request === request.seq));
  assert.equal(result.data.address, '203.0.113.10');
  assert.equal(result.data.sni, 'en.wikipedia.org');
  assert.ok((result.data.up as number) > 200 && (result.data.down as number) > 500, 'bytes both ways are counted');
  assert.equal(typeof result.data.ms, 'number');
  const session = (await gw.services.store.sessionById(request.sessionId!))!;
  assert.deepEqual([session.runId, session.step, session.protocol], ['run-42', 'browse', 'egress']);
});

test('plain HTTP through HTTP_PROXY: absolute-form, re-framed, the token never reaches the site', async () => {
  const { token } = await gw.mint('researcher');
  const r = await curl(['-X', 'POST', '--data', 'hello=world', 'http://en.wikipedia.org/echo?q=1'], gw.proxyUrl(token));
  assert.equal(r.status, 200, r.stderr);
  const seen = JSON.parse(r.body);
  assert.equal(seen.host, 'en.wikipedia.org');
  assert.equal(seen.path, '/echo?q=1');
  assert.equal(seen.received, 'hello=world'.length);
  assert.equal(seen.headers['proxy-authorization'], undefined);
  assert.ok(!JSON.stringify(seen.headers).includes(token), 'the Gatehouse token is not forwarded');
  const request = await waitFor(async () => (await auditRecords(gw)).find((x) => x.kind === 'request' && x.data.summary === 'POST http://en.wikipedia.org:80/echo?q=1'));
  assert.equal(request.verdict, 'allow');
  const result = await waitFor(async () => (await auditRecords(gw)).find((x) => x.kind === 'result' && x.data.request === request.seq));
  assert.equal(result.data.status, 200);
});

test('undici ProxyAgent and EnvHttpProxyAgent reach HTTPS and plain HTTP hosts through the proxy', async () => {
  const { token } = await gw.mint('researcher');
  const agent = new ProxyAgent({ uri: gw.proxyUrl(token), requestTls: { ca: pki.ca } });
  try {
    const res = await undiciFetch('https://export.arxiv.org/echo', { dispatcher: agent });
    assert.equal(res.status, 200);
    assert.equal((await res.json() as { sni: string }).sni, 'export.arxiv.org');
    const plain = await undiciFetch('http://en.wikipedia.org/echo', { dispatcher: agent });
    assert.equal(plain.status, 200);
  } finally {
    await agent.close();
  }
  const saved = { HTTPS_PROXY: process.env.HTTPS_PROXY, HTTP_PROXY: process.env.HTTP_PROXY, NO_PROXY: process.env.NO_PROXY };
  Object.assign(process.env, { HTTPS_PROXY: gw.proxyUrl(token), HTTP_PROXY: gw.proxyUrl(token), NO_PROXY: '' });
  const env = new EnvHttpProxyAgent({ requestTls: { ca: pki.ca } } as ConstructorParameters<typeof EnvHttpProxyAgent>[0]);
  try {
    const res = await undiciFetch('https://api.github.com/echo', { dispatcher: env });
    assert.equal(res.status, 200);
    assert.equal((await res.json() as { sni: string }).sni, 'api.github.com');
  } finally {
    await env.close();
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  }
  assert.ok(network.dials.includes('[2001:db8::12]:443'), 'an AAAA answer is dialled as checked');
});

test('Python requests through HTTPS_PROXY and HTTP_PROXY', async () => {
  const { token } = await gw.mint('researcher');
  const script = [
    'import requests, socket',
    // Fail closed: only the proxy's numeric address may be looked up; a name resolved here would bypass the proxy.
    'real = socket.getaddrinfo',
    'def only_numeric(host, *a, **k):',
    '    if not host.replace(".", "").isdigit(): raise OSError("lookup of %s refused by the test" % host)',
    '    return real(host, *a, **k)',
    'socket.getaddrinfo = only_numeric',
    'a = requests.get("https://en.wikipedia.org/echo", timeout=10)',
    'b = requests.get("http://en.wikipedia.org/echo", timeout=10)',
    'print(a.status_code, a.json()["sni"], b.status_code, b.json()["host"])',
  ].join('\n');
  const env = { PATH: process.env.PATH ?? '', HTTPS_PROXY: gw.proxyUrl(token), HTTP_PROXY: gw.proxyUrl(token), REQUESTS_CA_BUNDLE: caFile };
  const { stdout } = await run('python3', ['-c', script], { env, timeout: 20_000 });
  assert.equal(stdout.trim(), '200 en.wikipedia.org 200 en.wikipedia.org');
});

test('a LangChain.js tool built on fetch goes through the proxy once undici\'s EnvHttpProxyAgent is the global dispatcher', async () => {
  const { token } = await gw.mint('researcher');
  const saved = { dispatcher: getGlobalDispatcher(), HTTPS_PROXY: process.env.HTTPS_PROXY, NO_PROXY: process.env.NO_PROXY, lookup: dns.lookup };
  // Fail closed: if fetch ever resolved a name itself (not through the proxy), the test fails instead of leaving the machine.
  const lookups: string[] = [];
  (dns as { lookup: unknown }).lookup = (host: string, options: unknown, callback?: unknown) => {
    if (isIP(host)) return (saved.lookup as (...a: unknown[]) => void)(host, options, callback);
    lookups.push(host);
    ((typeof options === 'function' ? options : callback) as (err: Error) => void)(Object.assign(new Error(`lookup of ${host} refused by the test`), { code: 'ENOTFOUND' }));
  };
  Object.assign(process.env, { HTTPS_PROXY: gw.proxyUrl(token), NO_PROXY: '' });
  setGlobalDispatcher(new EnvHttpProxyAgent({ requestTls: { ca: pki.ca } } as ConstructorParameters<typeof EnvHttpProxyAgent>[0]));
  try {
    const tool = new RequestsGetTool();
    const page = JSON.parse(await tool.invoke('https://en.wikipedia.org/echo'));
    assert.equal(page.sni, 'en.wikipedia.org');
    await assert.rejects(tool.invoke('https://news.ycombinator.com/'), /fetch failed/);
    assert.deepEqual(lookups, []);
  } finally {
    setGlobalDispatcher(saved.dispatcher);
    (dns as { lookup: unknown }).lookup = saved.lookup;
    for (const k of ['HTTPS_PROXY', 'NO_PROXY'] as const) if (saved[k] === undefined) delete process.env[k]; else process.env[k] = saved[k];
  }
  const refused = await waitFor(async () => (await auditRecords(gw)).find((x) => x.kind === 'request' && x.data.summary === 'CONNECT news.ycombinator.com:443'));
  assert.equal(refused.verdict, 'deny');
});

test('407 with a clear body for a missing, unknown or revoked token; 403 for a role without a grant', async () => {
  const missing = await askProxy(gw.proxyAddress, connectHead('en.wikipedia.org:443'));
  assert.equal(missing.status, 407);
  assert.match(missing.head, /proxy-authenticate: Basic realm="gatehouse"/i);
  assert.equal(JSON.parse(missing.body).error.code, 'token.missing');
  assert.match(JSON.parse(missing.body).error.message, /HTTPS_PROXY=http:\/\/<label>:<token>@/);

  const unknown = await curl(['https://en.wikipedia.org/echo'], gw.proxyUrl('gth_' + 'x'.repeat(43)));
  assert.equal(unknown.connect, 407);
  const revoked = await gw.mint('researcher');
  await gw.services.tokens.revoke(revoked.id);
  const r = await askProxy(gw.proxyAddress, connectHead('en.wikipedia.org:443', revoked.token));
  assert.equal(r.status, 407);
  assert.match(JSON.parse(r.body).error.message, /revoked/);

  const outsider = await askProxy(gw.proxyAddress, connectHead('en.wikipedia.org:443', (await gw.mint('outsider')).token));
  assert.equal(outsider.status, 403);
  assert.match(JSON.parse(outsider.body).error.message, /role "outsider" has no grant on connection "internet"/);

  const plain = await askProxy(gw.proxyAddress, 'GET http://en.wikipedia.org/echo HTTP/1.1\r\nHost: en.wikipedia.org\r\nProxy-Authorization: Bearer nope\r\nConnection: close\r\n\r\n');
  assert.equal(plain.status, 407);
  const bearer = await askProxy(gw.proxyAddress, `GET http://en.wikipedia.org/echo HTTP/1.1\r\nHost: en.wikipedia.org\r\nProxy-Authorization: Bearer ${(await gw.mint('researcher')).token}\r\nConnection: close\r\n\r\n`);
  assert.equal(bearer.status, 200, 'Bearer works as well as Basic');
});

test('403 names the missing grant: a host not granted, a port not granted, a denied host (deny wins), a bare domain under *.x', async () => {
  const { token } = await gw.mint('researcher');
  const cases: [string, string, RegExp][] = [
    ['news.ycombinator.com:443', 'egress.hosts', /no grant for news\.ycombinator\.com:443: roles\.researcher\.internet\.hosts does not name/],
    ['en.wikipedia.org:8443', 'egress.hosts', /port 8443 of en\.wikipedia\.org is not granted.*port 80, 443 only/],
    ['api.github.com:80', 'egress.hosts', /port 80 of api\.github\.com is not granted.*port 443 only/],
    ['gist.github.com:443', 'egress.deny', /deny names "gist\.github\.com"/],
    ['arxiv.org:443', 'egress.hosts', /does not name arxiv\.org/],
  ];
  const lookups = network.lookups.length;
  for (const [target, code, message] of cases) {
    const r = await askProxy(gw.proxyAddress, connectHead(target, token));
    assert.equal(r.status, 403, target);
    assert.equal(JSON.parse(r.body).error.code, code, target);
    assert.match(JSON.parse(r.body).error.message, message, target);
  }
  assert.equal(network.lookups.length, lookups, 'a host no grant names is never even resolved');
  const curled = await curl(['https://news.ycombinator.com/'], gw.proxyUrl(token));
  assert.equal(curled.connect, 403);
});

test('a redirect the client follows to a refused host is refused by the proxy', async () => {
  const { token } = await gw.mint('researcher');
  network.names.set('intranet.example', ['10.0.0.5']);
  const before = network.dials.length;
  const plain = await curl(['-L', `http://en.wikipedia.org/redirect?to=${encodeURIComponent('http://169.254.169.254/latest/meta-data/')}`], gw.proxyUrl(token));
  assert.equal(plain.status, 403);
  assert.equal(JSON.parse(plain.body).error.code, 'egress.hosts');
  const tls = await curl(['-L', `https://en.wikipedia.org/redirect?to=${encodeURIComponent('https://metadata.google.internal/computeMetadata/v1/')}`], gw.proxyUrl(token));
  assert.equal(tls.connect, 403);
  assert.deepEqual(network.dials.slice(before), ['203.0.113.10:80', '203.0.113.10:443'], 'only the granted host was dialled');
});

test('revoking a token cuts its open tunnel at once', async () => {
  const { token, id } = await gw.mint('researcher');
  const tunnel = await askProxy(gw.proxyAddress, connectHead('en.wikipedia.org:443', token));
  assert.equal(tunnel.status, 200);
  const tls = tlsConnect({ socket: tunnel.socket, servername: 'en.wikipedia.org', ca: pki.ca });
  await new Promise<void>((resolve, reject) => { tls.once('secureConnect', resolve); tls.once('error', reject); });
  tls.write('GET /drip HTTP/1.1\r\nHost: en.wikipedia.org\r\n\r\n');
  await new Promise((resolve) => tls.once('data', resolve));
  const closed = new Promise<number>((resolve) => tunnel.socket.once('close', () => resolve(performance.now())));
  tls.on('error', () => {});
  const revokedAt = performance.now();
  await gw.services.tokens.revoke(id);
  const at = await closed;
  assert.ok(at - revokedAt < 100, `cut after ${Math.round(at - revokedAt)} ms`);
  const session = await waitFor(async () => (await gw.services.store.listSessions({ tokenId: id, limit: 1 })).find((s) => s.endedAt));
  assert.equal(session.endReason, 'token revoked');
});

test('rate: the token gets N tunnels per period, then 429 with Retry-After', async () => {
  const { token } = await gw.mint('limited');
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await askProxy(gw.proxyAddress, connectHead('en.wikipedia.org:443', token));
    statuses.push(r.status);
    if (r.status === 200) r.socket.destroy();
    else {
      assert.match(r.head, /retry-after: \d+/i);
      assert.equal(JSON.parse(r.body).error.code, 'egress.rate');
    }
  }
  assert.deepEqual(statuses, [200, 200, 200, 429]);
});

test('max_bytes: a download past the budget is cut, and the next tunnel waits', async () => {
  const { token } = await gw.mint('metered');
  const r = await curl(['https://en.wikipedia.org/bytes?n=4000000', '-o', '/dev/null'], gw.proxyUrl(token));
  assert.notEqual(r.exit, 0, 'the transfer was cut short');
  const result = await waitFor(async () => (await auditRecords(gw)).find((x) => x.kind === 'result' && x.data.rule === 'egress.max_bytes'));
  assert.ok((result.data.down as number) < 1_000_000, `cut near the budget, after ${result.data.down} bytes`);
  const next = await askProxy(gw.proxyAddress, connectHead('en.wikipedia.org:443', token));
  assert.equal(next.status, 429);
  assert.equal(JSON.parse(next.body).error.code, 'egress.max_bytes');
  const feed = new DecisionFeed(gw.services.store, gw.services.config);
  for (const x of await auditRecords(gw)) feed.ingest(x);
  const cut = feed.list().find((d) => d.seq === result.data.request)!;
  assert.deepEqual([cut.verdict, cut.rule], ['refused', 'egress.max_bytes'], 'the console shows the cut tunnel as refused by the budget');
});

test('the audit chain verifies; egress sessions replay and show in the console feed with where each tunnel went', async () => {
  assert.equal((await verifyAudit(gw.services.store)).ok, true);
  const { token, id } = await gw.mint('researcher', 'browser');
  const ok = await curl(['https://en.wikipedia.org/echo'], gw.proxyUrl(token, 'browser'));
  assert.equal(ok.status, 200);
  const refused = await askProxy(gw.proxyAddress, connectHead('news.ycombinator.com:443', token));
  assert.equal(refused.status, 403);
  const request = await waitFor(async () => (await auditRecords(gw)).find((x) => x.kind === 'request' && x.tokenId === id && x.verdict === 'allow'));
  await waitFor(async () => (await auditRecords(gw)).find((x) => x.kind === 'result' && x.data.request === request.seq));

  const session = (await gw.services.store.sessionById(request.sessionId!))!;
  const events = (await auditRecords(gw)).filter((x) => x.sessionId === session.id);
  const replay = renderReplay(session, events);
  assert.match(replay, /session ses_\w+ {2}browser \(role researcher\) on internet/);
  assert.match(replay, /ALLOW {2}CONNECT en\.wikipedia\.org:443\n {10}via 203\.0\.113\.10:443 — \d+ bytes, \d+ ms/);
  assert.match(replay, /DENY {3}CONNECT news\.ycombinator\.com:443\n {10}no grant for news\.ycombinator\.com:443/);

  const feed = new DecisionFeed(gw.services.store, gw.services.config);
  for (const r of await auditRecords(gw)) feed.ingest(r);
  const mine = feed.list().filter((d) => d.tokenId === id);
  const allowed = mine.find((d) => d.summary === 'CONNECT en.wikipedia.org:443')!;
  assert.deepEqual([allowed.verdict, allowed.protocol, allowed.label, allowed.outcome?.tag], ['allowed', 'egress', 'browser', 'via 203.0.113.10:443']);
  const denied = mine.find((d) => d.summary === 'CONNECT news.ycombinator.com:443')!;
  assert.deepEqual([denied.verdict, denied.rule], ['refused', 'egress.hosts']);
});

test('draining: the proxy stops accepting, an open tunnel runs on until it ends, then the gateway stops', async () => {
  const own = await egressGateway(network, `
  researcher:
    internet:
      hosts: ["en.wikipedia.org"]
`);
  const { token } = await own.mint('researcher');
  const tunnel = await askProxy(own.proxyAddress, connectHead('en.wikipedia.org:443', token));
  assert.equal(tunnel.status, 200);
  const tls = tlsConnect({ socket: tunnel.socket, servername: 'en.wikipedia.org', ca: pki.ca });
  await new Promise<void>((resolve, reject) => { tls.once('secureConnect', resolve); tls.once('error', reject); });
  const get = () => new Promise<string>((resolve) => {
    tls.write('GET /echo HTTP/1.1\r\nHost: en.wikipedia.org\r\n\r\n');
    tls.once('data', (c: Buffer) => resolve(c.toString()));
  });
  assert.match(await get(), /^HTTP\/1\.1 200/);
  const started = performance.now();
  let stopped = false;
  const closing = own.close(10_000).then(() => { stopped = true; });
  await new Promise((r) => setTimeout(r, 50));
  const [host, port] = [own.proxyAddress.slice(0, own.proxyAddress.lastIndexOf(':')), Number(own.proxyAddress.slice(own.proxyAddress.lastIndexOf(':') + 1))];
  await assert.rejects(new Promise<void>((resolve, reject) => connect({ host, port }, () => resolve()).once('error', reject)), /ECONNREFUSED/, 'no new connection is accepted');
  assert.match(await get(), /^HTTP\/1\.1 200/, 'the open tunnel still carries requests');
  assert.equal(stopped, false);
  tls.end();
  await closing;
  assert.ok(performance.now() - started < 5000, 'the drain ended with the last tunnel, not at its deadline');
});
