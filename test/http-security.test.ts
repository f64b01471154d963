// Security regressions on the HTTP path, each driven by a real client: compressed credential echoes, parser differentials
// in JSON bodies and query strings, method/URL override headers, trailing slashes, forwarding claims, the health answer.
// Every attack has its must-allow twin beside it; this file only ever grows.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { parseConfig } from '../src/config/load.ts';
import { startGateway } from '../src/main.ts';
import { startBillingApi, type BillingApi } from '../src/demo/upstreams/billing.ts';
import { auditRecords, gateway, send } from './helpers/gateway.ts';
import { silent } from './support/log.ts';

const KEY = 'billing-upstream-key-5e1d0c';
let billing: BillingApi;
let echo: Server;
let echoUrl: string;
const echoSeen: IncomingMessage[] = [];
let gw: Awaited<ReturnType<typeof gateway>>;

/** An upstream that echoes the request's headers in a body compressed as `?coding=` says, whatever the client accepted. */
function startEcho() {
  const server = createServer((req, res) => {
    echoSeen.push(req);
    const coding = new URL(req.url!, 'http://x').searchParams.get('coding') ?? 'identity';
    const plain = Buffer.from(JSON.stringify({ seen: req.headers }));
    const encoded = coding === 'gzip' ? gzipSync(plain) : coding === 'deflate' ? deflateSync(plain) : coding === 'br' ? brotliCompressSync(plain)
      : coding === 'gzip, br' ? brotliCompressSync(gzipSync(plain)) : plain;
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(encoded.length), ...(coding === 'identity' ? {} : { 'content-encoding': coding }) });
    res.end(encoded);
  });
  return new Promise<void>((r) => server.listen(0, '127.0.0.1', () => { echo = server; echoUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`; r(); }));
}

before(async () => {
  billing = await startBillingApi({ key: KEY });
  await startEcho();
  gw = await gateway(`
connections:
  billing: { kind: http, listen: 127.0.0.1:0, upstream: ${billing.url}, headers: { Authorization: "Bearer \${KEY}" } }
  echo: { kind: http, listen: 127.0.0.1:0, upstream: ${echoUrl}, headers: { Authorization: "Bearer \${KEY}" } }
  honouring: { kind: http, listen: 127.0.0.1:0, upstream: ${billing.url}, headers: { Authorization: "Bearer \${KEY}" }, override_headers: honour }
  stripping: { kind: http, listen: 127.0.0.1:0, upstream: ${billing.url}, headers: { Authorization: "Bearer \${KEY}" }, override_headers: strip }
roles:
  agent:
    billing:
      allow:
        - GET /invoices/*
        - GET /echo
        - { rule: GET /invoices, query: { status: [paid, open] } }
        - { rule: POST /refunds, body: { $.amount: { max: 100 }, $.currency: [EUR, USD] } }
    echo: { allow: [GET /echo] }
    honouring: { allow: [GET /invoices/*, GET /echo] }
    stripping: { allow: [GET /echo] }
`, { KEY });
});
after(async () => {
  await gw.close();
  await billing.close();
  echo.closeAllConnections();
  await new Promise((r) => echo.close(r));
});

const auth = async (extra: Record<string, string> = {}) => ({ authorization: `Bearer ${(await gw.mint('agent')).token}`, ...extra });

test('an upstream echoing its credential in a compressed body: what the agent decodes is scrubbed (gzip, deflate, br, stacked)', async () => {
  for (const coding of ['identity', 'gzip', 'deflate', 'br', 'gzip, br']) {
    // fetch (undici) decodes every coding it is sent, as an agent's client would.
    const r = await fetch(`${gw.url('echo')}/echo?coding=${encodeURIComponent(coding)}`, { headers: await auth({ 'accept-encoding': 'gzip, deflate, br' }) });
    assert.equal(r.status, 200, coding);
    const text = await r.text();
    assert.ok(!text.includes(KEY), `${coding}: the upstream key must not reach the agent`);
    assert.match(text, /gatehouse:redacted/, coding);
    assert.equal(r.headers.get('content-encoding'), null, `${coding}: the agent receives the decoded body`);
    assert.equal(echoSeen.at(-1)!.headers['accept-encoding'], 'identity', 'while scrubbing, the upstream is asked for an unencoded body');
  }
});

test('a content-coding Gatehouse cannot decode is withheld with 502 when credentials are scrubbed (zstd on Node 20, compress)', async () => {
  for (const coding of ['zstd', 'compress', 'constructor']) {
    const r = await send(gw.url('echo'), 'GET', `/echo?coding=${coding}`, await auth());
    assert.equal(r.status, 502, coding);
    assert.equal(r.json.error.code, 'upstream.encoding');
    assert.ok(!r.body.includes(KEY));
  }
  const result = (await auditRecords(gw)).filter((a) => a.kind === 'result').at(-1)!;
  assert.equal(result.data.rule, 'upstream.encoding');
});

test('duplicate JSON keys, and keys equal but for case, are refused in a body a rule judges; the plain body passes', async () => {
  const post = async (text: string) => send(gw.url('billing'), 'POST', '/refunds', await auth({ 'content-type': 'application/json' }), text);
  const before = billing.requests.length;
  for (const text of [
    '{"amount":10000,"amount":5,"currency":"EUR"}',
    '{"amount":5,"AMOUNT":10000,"currency":"EUR"}',
    '{"amount":5,"\\u0061mount":10000,"currency":"EUR"}',
    '{"amount":5,"currency":"EUR","Currency":"JPY"}',
    '{"amount":5,"currency":"EUR","meta":{"k":1,"\u212A":2}}',
  ]) {
    const r = await post(text);
    assert.equal(r.status, 403, text);
    assert.equal(r.json.error.code, 'http.constraint');
    assert.match(r.json.error.message, /appears twice|differ only in case/, text);
  }
  const charset = await send(gw.url('billing'), 'POST', '/refunds', await auth({ 'content-type': 'application/json; charset=utf-16' }), '{"amount":5,"currency":"EUR"}');
  assert.equal(charset.status, 403);
  assert.equal(billing.requests.length, before, 'nothing ambiguous reaches the upstream');
  const twin = await post('{"amount":5,"currency":"EUR","meta":{"amount":1},"items":[{"k":1},{"k":2}]}');
  assert.equal(twin.status, 201, 'the same key in different objects is no collision');
  assert.equal(billing.requests.at(-1)!.body, '{"amount":5,"currency":"EUR","meta":{"amount":1},"items":[{"k":1},{"k":2}]}', 'the judged bytes are forwarded as sent');
});

test('repeated query parameters, and names equal but for case, are refused where a rule reads the query', async () => {
  for (const q of ['status=paid&status=void', 'status=paid&STATUS=void', 'status=paid&%53tatus=void']) {
    const r = await send(gw.url('billing'), 'GET', `/invoices?${q}`, await auth());
    assert.equal(r.status, 403, q);
    assert.match(r.json.error.message, /at most once|differ only in case/, q);
  }
  assert.equal((await send(gw.url('billing'), 'GET', '/invoices?status=paid', await auth())).status, 200);
});

test('method and URL override headers are refused by default, stripped or honoured (and judged as overridden) on opt-in', async () => {
  const before = billing.requests.length;
  for (const [name, value] of [['X-HTTP-Method-Override', 'DELETE'], ['X-HTTP-Method', 'DELETE'], ['X-Method-Override', 'DELETE'], ['X-Original-URL', '/admin'], ['X-Rewrite-URL', '/admin']]) {
    const r = await send(gw.url('billing'), 'GET', '/invoices/42', await auth({ [name]: value }));
    assert.equal(r.status, 400, name);
    assert.equal(r.json.error.code, 'request.override');
    assert.match(r.json.error.message, new RegExp(name, 'i'));
  }
  assert.equal((await send(gw.url('billing'), 'GET', '/invoices/42?_method=DELETE', await auth())).status, 400);
  assert.equal(billing.requests.length, before, 'no override reaches the upstream');
  assert.equal((await send(gw.url('billing'), 'GET', '/invoices/42', await auth())).status, 200, 'the same request without an override passes');

  // honour: the override is what the grant judges.
  let r = await send(gw.url('honouring'), 'GET', '/invoices/42', await auth({ 'X-HTTP-Method-Override': 'DELETE' }));
  assert.equal(r.status, 403);
  assert.equal(r.json.error.needed, 'DELETE /invoices/42');
  r = await send(gw.url('honouring'), 'GET', '/invoices/42', await auth({ 'X-Original-URL': '/invoices/../admin' }));
  assert.deepEqual([r.status, r.json.error.needed], [403, 'GET /admin']);
  r = await send(gw.url('honouring'), 'GET', '/echo', await auth({ 'X-Original-URL': '/invoices/./42' }));
  assert.equal(r.status, 200);
  assert.equal(billing.requests.at(-1)!.headers['x-original-url'], '/invoices/42', 'an honoured URL override is forwarded as judged');
  // strip: the upstream never sees it.
  r = await send(gw.url('stripping'), 'GET', '/echo', await auth({ 'X-HTTP-Method-Override': 'DELETE' }));
  assert.equal(r.status, 200);
  assert.equal(billing.requests.at(-1)!.headers['x-http-method-override'], undefined);
});

test('a trailing slash is a different resource: /invoices/* does not match /invoices/42/', async () => {
  const r = await send(gw.url('billing'), 'GET', '/invoices/42/', await auth());
  assert.equal(r.status, 403);
  assert.equal(r.json.error.needed, 'GET /invoices/42/');
  assert.equal((await send(gw.url('billing'), 'GET', '/invoices/42', await auth())).status, 200);
});

test("X-Forwarded-Host is the gateway's own address, never the Host header the agent sent", async () => {
  const r = await send(gw.url('billing'), 'GET', '/echo', await auth({ host: 'attacker.example:8443' }));
  assert.equal(r.status, 200);
  assert.equal(billing.requests.at(-1)!.headers['x-forwarded-host'], new URL(gw.url('billing')).host);
});

test('/v1/health tells an unauthenticated caller only that the gateway is up; administrators see the listeners', async () => {
  const adminKey = 'health-admin-key-0123456789';
  const config = parseConfig(`
admin: { listen: 127.0.0.1:0, keys: [{ name: ops, key: "${adminKey}", roles: [admin] }] }
store: "sqlite::memory:"
connections:
  billing: { kind: http, listen: 127.0.0.1:0, upstream: ${billing.url} }
`, 'test', {});
  const g = await startGateway(config, { log: silent });
  try {
    const anonymous = await (await fetch(`${g.adminUrl}/v1/health`)).json();
    assert.deepEqual(anonymous, { ok: true });
    const admin = await (await fetch(`${g.adminUrl}/v1/health`, { headers: { authorization: `Bearer ${adminKey}` } })).json() as { listeners: { name: string; address: string }[] };
    assert.equal(admin.listeners[0].name, 'billing');
    assert.match(admin.listeners[0].address, /^127\.0\.0\.1:\d+$/);
  } finally {
    await g.close();
  }
});
