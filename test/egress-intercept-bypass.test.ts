// Bypass suite for egress interception: one row per way around the judgement of requests inside a tunnel. Raw bytes
// inside a real TLS session to the gateway's leaf, so nothing a polite client would normalise away is hidden.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { auditRecords, waitFor } from './helpers/gateway.ts';
import { askProxy, connectHead, egressGateway, httpsUpstream, httpUpstream, makePki, TestNetwork, type Pki, type Upstream } from './support/egress.ts';
import { innerExchange, tunnelTls } from './support/intercept.ts';

let pki: Pki;
let dir: string;
let api: Upstream;
let plain: Upstream;
let network: TestNetwork;
let gw: Awaited<ReturnType<typeof egressGateway>>;
let ca: string;
let token: string;

before(async () => {
  pki = makePki(['api.github.com', 'gist.github.com', 'pinned.example.com']);
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-intercept-bypass-'));
  api = await httpsUpstream(pki);
  plain = await httpUpstream();
  network = new TestNetwork();
  network.route('api.github.com', ['203.0.113.30'], 443, api.port);
  network.route('api.github.com', ['203.0.113.30'], 80, plain.port);
  network.route('gist.github.com', ['203.0.113.31'], 443, api.port);
  network.route('pinned.example.com', ['203.0.113.32'], 443, api.port);
  gw = await egressGateway(network, `
  researcher:
    internet:
      hosts: ["api.github.com", "gist.github.com", "pinned.example.com"]
      allow: ["GET api.github.com/repos/acme/*", "GET pinned.example.com/**"]
`, `intercept: true
ca: { cert: "${join(dir, 'ca.pem')}", key: "${join(dir, 'ca.key')}" }
upstream_ca: "${join(pki.dir, 'ca.pem')}"
pass_through: ["pinned.example.com"]`);
  ca = readFileSync(join(dir, 'ca.pem'), 'utf8');
  token = (await gw.mint('researcher')).token;
});

after(async () => {
  await gw?.close();
  await Promise.all([api?.close(), plain?.close()]);
  pki?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  network?.assertClean();
});

const seenPaths = () => api.seen.map((s) => `${s.method} ${s.host} ${s.path}`);

test('SNI that is not the CONNECT host: the handshake is refused (no fronting through an allowed host)', async () => {
  await assert.rejects(tunnelTls(gw.proxyAddress, token, 'api.github.com', ca, { servername: 'gist.github.com' }));
  await waitFor(async () => (await auditRecords(gw)).find((x) => x.kind === 'result' && x.data.rule === 'egress.sni'));
});

test('Host header naming another site inside the tunnel is refused before anything is forwarded', async () => {
  const before = api.seen.length;
  const t = await tunnelTls(gw.proxyAddress, token, 'api.github.com', ca);
  const reply = await innerExchange(t, 'GET /repos/acme/docs HTTP/1.1\r\nHost: gist.github.com\r\n\r\n');
  assert.match(reply, /^HTTP\/1\.1 400/);
  assert.match(reply, /does not name the request target/);
  t.destroy();
  assert.equal(api.seen.length, before);
});

test('an absolute-form target for another site inside the tunnel is refused', async () => {
  const before = api.seen.length;
  const t = await tunnelTls(gw.proxyAddress, token, 'api.github.com', ca);
  const reply = await innerExchange(t, 'GET https://gist.github.com/repos/acme/docs HTTP/1.1\r\nHost: api.github.com\r\n\r\n');
  assert.match(reply, /^HTTP\/1\.1 400/);
  t.destroy();
  assert.equal(api.seen.length, before);
});

test('ALPN h2 only: http/1.1 is all the leaf offers, so no h2 stream bypasses the HTTP/1.1 judgement', async () => {
  const before = api.seen.length;
  let reply = '';
  try {
    const t = await tunnelTls(gw.proxyAddress, token, 'api.github.com', ca, { alpn: ['h2'] });
    assert.notEqual(t.alpnProtocol, 'h2');
    reply = await innerExchange(t, 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
    t.destroy();
  } catch { /* refused during the handshake (no_application_protocol): as good */ }
  assert.doesNotMatch(reply, /^HTTP\/1\.1 200/);
  assert.equal(api.seen.length, before);
});

test('pipelined requests are each judged: the allowed one goes, the one behind it is refused', async () => {
  const before = api.seen.length;
  const t = await tunnelTls(gw.proxyAddress, token, 'api.github.com', ca);
  const reply = await innerExchange(t,
    'GET /repos/acme/docs HTTP/1.1\r\nHost: api.github.com\r\n\r\n' +
    'DELETE /repos/acme/docs HTTP/1.1\r\nHost: api.github.com\r\n\r\n' +
    'GET /repos/other/secret HTTP/1.1\r\nHost: api.github.com\r\n\r\n', 3000);
  t.destroy();
  const statuses = [...reply.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
  assert.deepEqual(statuses, ['200', '403', '403']);
  assert.deepEqual(seenPaths().slice(before), ['GET api.github.com /repos/acme/docs']);
});

test('request smuggling inside the tunnel: Content-Length with Transfer-Encoding is refused, nothing forwarded', async () => {
  const before = api.seen.length;
  const t = await tunnelTls(gw.proxyAddress, token, 'api.github.com', ca);
  const reply = await innerExchange(t,
    'GET /repos/acme/docs HTTP/1.1\r\nHost: api.github.com\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' +
    'DELETE /repos/acme/docs HTTP/1.1\r\nHost: api.github.com\r\n\r\n');
  t.destroy();
  assert.match(reply, /^HTTP\/1\.1 400/);
  assert.doesNotMatch(reply, /HTTP\/1\.1 200/);
  assert.equal(api.seen.length, before);
});

test('path tricks inside the tunnel: dot segments and encoded slashes cannot climb out of an allowed path', async () => {
  const before = api.seen.length;
  const t = await tunnelTls(gw.proxyAddress, token, 'api.github.com', ca);
  const reply = await innerExchange(t,
    'GET /repos/acme/../other HTTP/1.1\r\nHost: api.github.com\r\n\r\n' +
    'GET /repos/acme%2F..%2Fother HTTP/1.1\r\nHost: api.github.com\r\n\r\n', 3000);
  t.destroy();
  assert.deepEqual([...reply.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]), ['403', '400']);
  assert.equal(api.seen.length, before);
});

test('CONNECT to a pass_through host, then Host tricks: the SNI must still be that host, and the bytes reach only its address', async () => {
  await assert.rejects(tunnelTls(gw.proxyAddress, token, 'pinned.example.com', pki.ca, { servername: 'api.github.com' }));
  const t = await tunnelTls(gw.proxyAddress, token, 'pinned.example.com', pki.ca);
  const dials = network.dials.length;
  const reply = await innerExchange(t, 'GET /echo HTTP/1.1\r\nHost: api.github.com\r\n\r\n');
  t.destroy();
  // Uninspected by design (pass_through): the site got the request, at the address checked for pinned.example.com only.
  assert.match(reply, /^HTTP\/1\.1 200/);
  assert.equal(network.dials.length, dials);
  assert.ok(network.dials.includes('203.0.113.32:443'));
});

test('plain http:// to a host whose grant judges requests is refused: it would skip the judgement', async () => {
  const r = await askProxy(gw.proxyAddress, `GET http://api.github.com/repos/acme/docs HTTP/1.1\r\nHost: api.github.com\r\nProxy-Authorization: Basic ${Buffer.from(`a:${token}`).toString('base64')}\r\nConnection: close\r\n\r\n`);
  assert.equal(r.status, 403);
  assert.match(r.body, /egress\.plain/);
  assert.equal(plain.seen.length, 0);
});

test('a CONNECT that is refused stays refused: interception never opens a tunnel the host grant does not allow', async () => {
  const r = await askProxy(gw.proxyAddress, connectHead('evil.example.com:443', token));
  assert.equal(r.status, 403);
});
