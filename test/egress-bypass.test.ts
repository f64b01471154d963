// The egress bypass suite (it only grows): every way an agent might reach what the proxy must refuse — address classes
// and spellings, DNS answers that mix or change, fronting through an allowed host's TLS, framing tricks, slow and giant
// heads — each with the twin that must still pass. Nothing refused is ever dialled: the test network would record it.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Duplex } from 'node:stream';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { after, before, test } from 'node:test';
import { createServer, type AddressInfo } from 'node:net';
import { parseConfig } from '../src/config/load.ts';
import { startGateway } from '../src/main.ts';
import { silent } from './support/log.ts';
import { auditRecords, waitFor } from './helpers/gateway.ts';
import { askProxy, connectHead, egressGateway, httpsUpstream, httpUpstream, makePki, TestNetwork, type Pki, type Upstream } from './support/egress.ts';

let pki: Pki;
let https: Upstream;
let http: Upstream;
let network: TestNetwork;
let gw: Awaited<ReturnType<typeof egressGateway>>;
let token: string;
let banner: ReturnType<typeof createServer>;

/** Names the test resolver answers, each standing for one way a name can lead somewhere it must not. */
const NAMES: Record<string, string[]> = {
  'loopback.test.example': ['127.0.0.1'],
  'loopback6.test.example': ['::1'],
  'private.test.example': ['10.0.0.1'],
  'private172.test.example': ['172.16.5.4'],
  'private192.test.example': ['192.168.1.1'],
  'cgnat.test.example': ['100.64.0.1'],
  'linklocal.test.example': ['169.254.1.1'],
  'linklocal6.test.example': ['fe80::1'],
  'ula.test.example': ['fd12:3456::1'],
  'multicast.test.example': ['224.0.0.1'],
  'multicast6.test.example': ['ff02::1'],
  'unspecified.test.example': ['0.0.0.0'],
  'unspecified6.test.example': ['::'],
  'broadcast.test.example': ['255.255.255.255'],
  'reserved.test.example': ['240.0.0.1'],
  'benchmark.test.example': ['198.18.0.1'],
  'metadata.test.example': ['169.254.169.254'],
  'metadata6.test.example': ['fd00:ec2::254'],
  'mapped.test.example': ['::ffff:10.0.0.1'],
  'compatible.test.example': ['::a00:1'],
  'nat64.test.example': ['64:ff9b::a00:1'],
  'nat64local.test.example': ['64:ff9b:1:a00:1:100::'],
  'sixtofour.test.example': ['2002:a00:1::1'],
  'teredo.test.example': ['2001:0:4136:e378:8000:63bf:f5ff:fffe'],
  'mixed.test.example': ['203.0.113.20', '10.0.0.1'],
  'mixed6.test.example': ['2001:db8::20', 'fd00::1'],
};

before(async () => {
  pki = makePki(['en.wikipedia.org', 'public.test.example', 'evil.example']);
  https = await httpsUpstream(pki);
  http = await httpUpstream();
  network = new TestNetwork();
  for (const [name, answers] of Object.entries(NAMES)) network.names.set(name, answers);
  network.route('en.wikipedia.org', ['203.0.113.10'], 443, https.port);
  network.route('en.wikipedia.org', ['203.0.113.10'], 80, http.port);
  network.route('public.test.example', ['203.0.113.22'], 80, http.port);
  network.route('public6.test.example', ['2001:db8::22'], 80, http.port);
  network.route('nat64public.test.example', ['64:ff9b::cb00:7116'], 80, http.port);
  network.allowed.add('64:ff9b::cb00:7116'); // NAT64 for 203.0.113.22: a public stand-in, mapped onto a local port like the rest
  network.routes.set('203.0.113.7:443', https.port);
  network.routes.set('203.0.113.7:80', http.port);
  network.routes.set('203.0.113.21:80', http.port);
  // A server that speaks first (as SMTP does), then echoes.
  banner = createServer((s) => { s.on('error', () => {}); s.write('220 ready\r\n'); s.pipe(s); });
  await new Promise<void>((resolve) => banner.listen(0, '127.0.0.1', resolve));
  network.route('smtp.test.example', ['203.0.113.25'], 25, (banner.address() as AddressInfo).port);
  gw = await egressGateway(network, `
  researcher:
    internet:
      hosts: ["*.test.example", "smtp.test.example:25", "en.wikipedia.org", "metadata.google.internal", "127.0.0.1", "10.0.0.1", "169.254.169.254", "0.0.0.0",
              "[::1]", "[fd00:ec2::254]", "[64:ff9b::a00:1]", "[2002:a00:1::]", "[2001:0:4136:e378:8000:63bf:f5ff:fffe]", "[::a00:1]", "203.0.113.7"]
`, 'header_timeout_ms: 400\nbody_timeout_ms: 400');
  token = (await gw.mint('researcher')).token;
});

after(async () => {
  await gw?.close();
  await Promise.all([https?.close(), http?.close()]);
  banner?.close();
  pki?.close();
  network?.assertClean();
});

const plain = (target: string, extra = '') => `GET ${target} HTTP/1.1\r\nProxy-Authorization: Bearer ${token}\r\nConnection: close\r\n${extra}\r\n`;

/** [what, request head, status, error code, message pattern]: the refusals. No row may dial anything. */
const REFUSED: [string, () => string, number, string, RegExp][] = [
  ...['127.1', '0x7f.1', '0X7F.0.0.1', '0177.0.0.1', '017700000001', '2130706433', '0x7f000001', '127.000.000.001', '127.0.0.1.', '[::ffff:127.0.0.1]',
    '[::ffff:7f00:1]', '[0:0:0:0:0:ffff:127.0.0.1]'].map((h): [string, () => string, number, string, RegExp] =>
    [`loopback spelled ${h}`, () => connectHead(`${h}:443`, token), 403, 'egress.address', /127\.0\.0\.1 is loopback/]),
  ...['167772161', '012.0.0.1', '0xa.0.0.1', '10.1', '[::ffff:a00:1]'].map((h): [string, () => string, number, string, RegExp] =>
    [`private spelled ${h}`, () => connectHead(`${h}:443`, token), 403, 'egress.address', /10\.0\.0\.1 is private/]),
  ...['2852039166', '0xa9fea9fe', '0251.0376.0251.0376', '169.254.43518', '[::ffff:169.254.169.254]'].map((h): [string, () => string, number, string, RegExp] =>
    [`metadata spelled ${h}`, () => connectHead(`${h}:80`, token), 403, 'egress.address', /169\.254\.169\.254 is a cloud metadata endpoint/]),
  ['IPv6 metadata literal', () => connectHead('[fd00:ec2::254]:80', token), 403, 'egress.address', /metadata/],
  ['metadata by name, never resolved', () => connectHead('metadata.google.internal:80', token), 403, 'egress.address', /metadata\.google\.internal is a cloud metadata endpoint/],
  ['metadata by name with a trailing dot and capitals', () => connectHead('Metadata.Google.Internal.:80', token), 403, 'egress.address', /metadata endpoint/],
  ['IPv6 loopback literal', () => connectHead('[::1]:443', token), 403, 'egress.address', /::1 is loopback/],
  ['unspecified literal', () => connectHead('0.0.0.0:443', token), 403, 'egress.address', /unspecified/],
  ['unspecified as a bare 0', () => connectHead('0:443', token), 403, 'egress.address', /unspecified/],
  ['IPv4-compatible literal', () => connectHead('[::10.0.0.1]:443', token), 403, 'egress.address', /IPv4-compatible/],
  ['NAT64 literal embedding a private address', () => connectHead('[64:ff9b::10.0.0.1]:443', token), 403, 'egress.address', /NAT64, embedding 10\.0\.0\.1/],
  ['6to4 literal embedding a private address', () => connectHead('[2002:a00:1::]:443', token), 403, 'egress.address', /6to4, embedding 10\.0\.0\.1/],
  ['Teredo literal embedding a private client', () => connectHead('[2001:0:4136:e378:8000:63bf:f5ff:fffe]:443', token), 403, 'egress.address', /Teredo, embedding 10\.0\.0\.1/],
  ['a public IP literal no grant names', () => connectHead('203.0.113.8:443', token), 403, 'egress.hosts', /an IP address is reached only when .* names that address/],
  ['a zone id', () => connectHead('[fe80::1%25eth0]:443', token), 400, 'unknown', /zone identifiers/],
  ['a numeric-looking name that is no address', () => connectHead('1.2.3.256:443', token), 400, 'unknown', /not a valid one/],
  ['a CONNECT target without a port', () => connectHead('en.wikipedia.org', token), 400, 'unknown', /expected host:port/],
  ['a port not granted', () => connectHead('public.test.example:22', token), 403, 'egress.hosts', /port 22 of public\.test\.example is not granted/],
  ...Object.entries(NAMES).map(([name, answers]): [string, () => string, number, string, RegExp] =>
    [`${name} → ${answers.join(', ')}`, () => connectHead(`${name}:80`, token), 403, 'egress.address', new RegExp(`${name.replace(/\./g, '\\.')} resolves to`)]),
  ['a name that does not resolve', () => connectHead('nowhere.test.example:80', token), 502, 'egress.dns', /cannot be resolved/],
  // Plain HTTP: the same decisions, and the framing tricks a plain request could carry.
  ['plain: loopback in hex', () => plain('http://0x7f.1/', 'Host: 0x7f.1\r\n'), 403, 'egress.address', /127\.0\.0\.1 is loopback/],
  ['plain: metadata', () => plain('http://169.254.169.254/latest/meta-data/'), 403, 'egress.address', /metadata/],
  ['plain: mapped loopback', () => plain('http://[::ffff:127.0.0.1]:80/'), 403, 'egress.address', /loopback/],
  ['plain: a name resolving to a private address', () => plain('http://private.test.example/'), 403, 'egress.address', /resolves to 10\.0\.0\.1/],
  ['plain: a Host header naming another site', () => plain('http://public.test.example/', 'Host: private.test.example\r\n'), 400, 'unknown', /Host header/],
  ['plain: credentials in the URL', () => plain('http://public.test.example@private.test.example/'), 400, 'unknown', /credentials/],
  ['plain: https:// as a plain request', () => plain('https://public.test.example/'), 400, 'unknown', /CONNECT/],
  ['plain: origin-form', () => plain('/admin', 'Host: public.test.example\r\n'), 400, 'unknown', /forward proxy/],
  ['plain: Content-Length with Transfer-Encoding', () => plain('http://public.test.example/', 'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n'), 400, 'HPE_INVALID_TRANSFER_ENCODING', /smuggling/],
  ['plain: Content-Length twice', () => plain('http://public.test.example/', 'Content-Length: 0\r\nContent-Length: 0\r\n'), 400, 'HPE_UNEXPECTED_CONTENT_LENGTH', /smuggling/],
  ['plain: Transfer-Encoding other than chunked', () => plain('http://public.test.example/', 'Transfer-Encoding: gzip, chunked\r\n'), 400, 'request.framing', /only "chunked"/],
  ['plain: obsolete line folding', () => plain('http://public.test.example/', 'X-A: 1\r\n  folded\r\n'), 400, 'HPE_INVALID_HEADER_TOKEN', /folding/],
  ['plain: a lower-case method', () => plain('http://public.test.example/').replace(/^GET/, 'get'), 400, 'HPE_INVALID_METHOD', /case-sensitive/],
  ['plain: TRACE', () => plain('http://public.test.example/').replace(/^GET/, 'TRACE'), 405, 'request.method', /not proxied/],
  ['plain: a WebSocket upgrade', () => plain('http://public.test.example/', 'Upgrade: websocket\r\nConnection: Upgrade\r\n'), 501, 'request.upgrade', /through CONNECT/],
  ['CONNECT: Content-Length twice', () => connectHead('en.wikipedia.org:443', token, 'Content-Length: 0\r\nContent-Length: 0\r\n'), 400, 'HPE_UNEXPECTED_CONTENT_LENGTH', /smuggling/],
  ['CONNECT: a giant header', () => connectHead('en.wikipedia.org:443', token, `X-Big: ${'a'.repeat(40_000)}\r\n`), 431, 'HPE_HEADER_OVERFLOW', /too large/],
];

for (const [what, head, status, code, message] of REFUSED) {
  test(`refused: ${what}`, async () => {
    const dials = network.dials.length;
    const r = await askProxy(gw.proxyAddress, head());
    assert.equal(r.status, status, `${r.head}\n${r.body}`);
    const error = JSON.parse(r.body).error;
    assert.equal(error.code, code);
    assert.match(error.message, message);
    assert.deepEqual(network.dials.slice(dials), [], 'nothing was dialled');
  });
}

/** The twins that must pass: each dials exactly the address the proxy checked. */
const ALLOWED: [string, () => string, string][] = [
  ['a granted public IP literal', () => connectHead('203.0.113.7:443', token), '203.0.113.7:443'],
  ['the same literal spelled in decimal', () => connectHead('3405803783:80', token), '203.0.113.7:80'],
  ['the same literal IPv4-mapped', () => connectHead('[::ffff:203.0.113.7]:80', token), '203.0.113.7:80'],
  ['a name resolving to a public address', () => connectHead('public.test.example:80', token), '203.0.113.22:80'],
  ['a name resolving to a public IPv6 address', () => connectHead('public6.test.example:80', token), '[2001:db8::22]:80'],
  ['NAT64 embedding a public address', () => connectHead('nat64public.test.example:80', token), '[64:ff9b::cb00:7116]:80'],
  ['plain: a name resolving to a public address', () => plain('http://public.test.example/echo'), '203.0.113.22:80'],
];

for (const [what, head, dialled] of ALLOWED) {
  test(`allowed: ${what}`, async () => {
    const dials = network.dials.length;
    const r = await askProxy(gw.proxyAddress, head());
    assert.equal(r.status, 200, `${r.head}\n${r.body}`);
    r.socket.destroy();
    assert.deepEqual(network.dials.slice(dials), [dialled]);
  });
}

test('a name whose second lookup would differ: resolved once, the checked address dialled', async () => {
  let lookups = 0;
  network.names.set('rebind.test.example', () => (lookups++ === 0 ? ['203.0.113.21'] : ['127.0.0.1']));
  const dials = network.dials.length;
  const r = await askProxy(gw.proxyAddress, plain('http://rebind.test.example/echo'));
  assert.equal(r.status, 200);
  assert.equal(lookups, 1);
  assert.deepEqual(network.dials.slice(dials), ['203.0.113.21:80']);
});

/** A TLS client over an open tunnel; `write` decides how its first flight (the ClientHello) reaches the proxy. */
function tlsThrough(tunnel: import('node:net').Socket, servername: string, firstFlight: (hello: Buffer, send: (b: Buffer) => void) => Promise<void> = async (h, send) => send(h)): TLSSocket {
  tunnel.setNoDelay(true);
  let first = true;
  const duplex = new Duplex({
    read() { tunnel.resume(); },
    write(chunk: Buffer, _encoding, done) {
      if (!first) return void tunnel.write(chunk, () => done());
      first = false;
      firstFlight(chunk, (b) => tunnel.write(b)).then(() => done(), done);
    },
    final(done) { tunnel.end(); done(); },
    destroy(err, done) { tunnel.destroy(); done(err); },
  });
  tunnel.on('data', (c: Buffer) => { if (!duplex.push(c)) tunnel.pause(); });
  tunnel.on('end', () => duplex.push(null));
  tunnel.on('error', (e) => duplex.destroy(e));
  return tlsConnect({ socket: duplex, servername, ca: pki.ca });
}

function handshake(tls: TLSSocket): Promise<'ok' | string> {
  return new Promise((resolve) => {
    tls.once('secureConnect', () => resolve('ok'));
    tls.once('error', (err) => resolve(err.message));
    tls.once('close', () => resolve('closed'));
  });
}

async function fetchOver(tls: TLSSocket): Promise<string> {
  tls.write('GET /echo HTTP/1.1\r\nHost: en.wikipedia.org\r\nConnection: close\r\n\r\n');
  let text = '';
  for await (const chunk of tls) text += chunk;
  return text;
}

test('SNI: a ClientHello naming another host than the CONNECT target is refused before any byte reaches the upstream', async () => {
  const handshakes = https.handshakes;
  const r = await askProxy(gw.proxyAddress, connectHead('en.wikipedia.org:443', token));
  assert.equal(r.status, 200);
  const tls = tlsThrough(r.socket, 'evil.example');
  assert.match(await handshake(tls), /unrecognized name|alert/i);
  assert.equal(https.handshakes, handshakes, 'the upstream never saw a handshake');
  const result = await waitFor(async () => (await auditRecords(gw)).find((x) => x.kind === 'result' && x.data.rule === 'egress.sni'));
  assert.match(String(result.data.error), /names evil\.example, but the tunnel was granted for en\.wikipedia\.org:443/);
  assert.equal(result.data.up, 0);
});

test('SNI: a ClientHello without a server name is refused on a tunnel to a name', async () => {
  const handshakes = https.handshakes;
  const r = await askProxy(gw.proxyAddress, connectHead('en.wikipedia.org:443', token));
  const tls = tlsThrough(r.socket, '');
  assert.notEqual(await handshake(tls), 'ok');
  assert.equal(https.handshakes, handshakes);
  await waitFor(async () => (await auditRecords(gw)).find((x) => x.kind === 'result' && /names no server/.test(String(x.data.error))));
});

test('SNI: a ClientHello split across many TCP segments is reassembled, checked and passed on', async () => {
  const r = await askProxy(gw.proxyAddress, connectHead('en.wikipedia.org:443', token));
  const tls = tlsThrough(r.socket, 'en.wikipedia.org', async (hello, send) => {
    for (let at = 0; at < hello.length; at += 16) {
      send(hello.subarray(at, at + 16));
      await sleep(2);
    }
  });
  assert.equal(await handshake(tls), 'ok');
  assert.match(await fetchOver(tls), /"sni":"en\.wikipedia\.org"/);
});

test('SNI: a ClientHello fragmented over several TLS records is reassembled, checked and passed on', async () => {
  const r = await askProxy(gw.proxyAddress, connectHead('en.wikipedia.org:443', token));
  const tls = tlsThrough(r.socket, 'en.wikipedia.org', async (hello, send) => {
    const message = hello.subarray(5, 5 + hello.readUInt16BE(3));
    const records: Buffer[] = [];
    for (let at = 0; at < message.length; at += 60) {
      const piece = message.subarray(at, at + 60);
      records.push(Buffer.from([22, 3, 1, 0, piece.length]), piece);
    }
    send(Buffer.concat([...records, hello.subarray(5 + hello.readUInt16BE(3))]));
  });
  assert.equal(await handshake(tls), 'ok');
  assert.match(await fetchOver(tls), /"sni":"en\.wikipedia\.org"/);
});

test('slow clients: a request head that never completes gets 408 (audited), so does a body that stalls; a tunnel whose ClientHello never comes is closed', async () => {
  const started = performance.now();
  const head = await askProxy(gw.proxyAddress, `CONNECT en.wikipedia.org:443 HTTP/1.1\r\nProxy-Authorization: Bearer ${token}\r\nX-Slow: `, 5000);
  assert.equal(head.status, 408);
  assert.ok(performance.now() - started < 2500, `answered after ${Math.round(performance.now() - started)} ms`);
  await waitFor(async () => (await auditRecords(gw)).find((x) => x.kind === 'request.timeout' && x.connection === 'internet'));
  const body = await askProxy(gw.proxyAddress, plain('http://public.test.example/echo', 'Content-Length: 100\r\n').replace('Connection: close\r\n', '') + 'only a few bytes', 5000);
  assert.equal(body.status, 408);
  assert.equal(JSON.parse(body.body).error.code, 'request.timeout');
  assert.match(JSON.parse(body.body).error.message, /the request body did not arrive within 400 ms/);
  const tunnel = await askProxy(gw.proxyAddress, connectHead('en.wikipedia.org:443', token));
  assert.equal(tunnel.status, 200);
  const closedAfter = await new Promise<number>((resolve) => { const t0 = performance.now(); tunnel.socket.once('close', () => resolve(performance.now() - t0)); });
  assert.ok(closedAfter >= 300 && closedAfter < 2500, `closed after ${Math.round(closedAfter)} ms`);
  await waitFor(async () => (await auditRecords(gw)).find((x) => x.kind === 'result' && x.data.rule === 'egress.handshake'));
});

test('a non-TLS protocol on a granted port other than 443 is spliced as is, and its client may wait for the server', async () => {
  const r = await askProxy(gw.proxyAddress, connectHead('smtp.test.example:25', token));
  assert.equal(r.status, 200);
  const next = () => new Promise<string>((resolve) => r.socket.once('data', (c: Buffer) => resolve(c.toString())).resume());
  assert.equal(await next(), '220 ready\r\n');
  await sleep(600); // longer than header_timeout_ms: only a ClientHello is timed
  r.socket.write('EHLO agent\r\n');
  assert.equal(await next(), 'EHLO agent\r\n');
  r.socket.destroy();
});

/** A port the OS just handed out and took back: the gateway's own ports must be known to the grant that names them. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

test('allow_private opens named ranges (audited), never the gateway itself', async () => {
  const local = new TestNetwork();
  local.allowed.add('127.0.0.1');
  local.route('intranet.corp.example', ['127.0.0.1'], 80, http.port);
  local.names.set('self.corp.example', ['127.0.0.1']);
  const [adminPort, proxyPort] = [await freePort(), await freePort()];
  const g = await startGateway(parseConfig(`
admin: { listen: "127.0.0.1:${adminPort}" }
store: "sqlite::memory:"
connections:
  internet: { kind: egress, listen: "127.0.0.1:${proxyPort}", allow_private: ["127.0.0.0/8"] }
roles:
  ops:
    internet: { hosts: ["*.corp.example", "self.corp.example:${adminPort}", "self.corp.example:${proxyPort}"] }
`, 'test', {}), { log: silent, network: local });
  try {
    const t = (await g.services.tokens.mint({ role: 'ops', label: 'ops', ttlSeconds: 60, createdBy: 'test' })).token;
    const proxy = `127.0.0.1:${proxyPort}`;
    const ok = await askProxy(proxy, plain('http://intranet.corp.example/echo').replace(token, t));
    assert.equal(ok.status, 200);
    const record = await waitFor(async () => (await auditRecords(g)).find((x) => x.kind === 'request' && x.verdict === 'allow'));
    assert.match(String(record.data.grant), /127\.0\.0\.1 \(loopback: 127\.0\.0\.0\/8\) allowed by allow_private 127\.0\.0\.0\/8/);
    for (const port of [proxyPort, adminPort]) {
      const self = await askProxy(proxy, plain(`http://self.corp.example:${port}/`).replace(token, t));
      assert.equal(self.status, 403, `port ${port}: ${self.body}`);
      assert.match(JSON.parse(self.body).error.message, /127\.0\.0\.1 is this gateway's own listener/);
    }
    assert.deepEqual(local.dials, ['127.0.0.1:80']);
    local.assertClean();
  } finally {
    await g.close();
  }
});
