// Request smuggling and parser edge cases over raw sockets: every ambiguous framing is refused with 400 and reaches no upstream.
// This file only ever grows: one row per trick.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startBillingApi, type BillingApi } from '../src/demo/upstreams/billing.ts';
import { gateway, rawRequest, statusOf } from './helpers/gateway.ts';

let billing: BillingApi;
let gw: Awaited<ReturnType<typeof gateway>>;
let token: string;
let address: string;

before(async () => {
  billing = await startBillingApi();
  gw = await gateway(`
connections:
  billing: { kind: http, listen: 127.0.0.1:0, upstream: ${billing.url} }
  openai: { kind: llm, listen: 127.0.0.1:0, upstream: ${billing.url}/v1 }
roles:
  r:
    billing: { allow: ["GET /invoices/*", "POST /refunds", "GET /admin/ok"] }
    openai: { models: [gpt-4o-mini] }
`);
  token = (await gw.mint('r')).token;
  address = gw.url('billing').slice('http://'.length);
});
after(async () => { await gw.close(); await billing.close(); });

/** Built when a test runs, so the token minted in before() is in it. */
const head = (first: string, extra = '') => `${first}\r\nHost: gw\r\nAuthorization: Bearer ${token}\r\n${extra}`;

const smuggling: [string, () => string, RegExp][] = [
  ['Transfer-Encoding + Content-Length', () => head('POST /refunds HTTP/1.1', 'Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: gw\r\n\r\n'), /smuggling/],
  ['Content-Length + Transfer-Encoding', () => head('POST /refunds HTTP/1.1', 'Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n'), /smuggling/],
  ['duplicate Content-Length (same value)', () => head('POST /refunds HTTP/1.1', 'Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}'), /smuggling|Content-Length/],
  ['duplicate Content-Length (different)', () => head('POST /refunds HTTP/1.1', 'Content-Length: 2\r\nContent-Length: 30\r\n\r\n{}'), /smuggling|Content-Length/],
  ['Content-Length list', () => head('POST /refunds HTTP/1.1', 'Content-Length: 2, 2\r\n\r\n{}'), /Content-Length/],
  ['non-numeric Content-Length', () => head('POST /refunds HTTP/1.1', 'Content-Length: 2x\r\n\r\n{}'), /Content-Length/],
  ['negative Content-Length', () => head('POST /refunds HTTP/1.1', 'Content-Length: -1\r\n\r\n{}'), /Content-Length/],
  ['Transfer-Encoding: gzip, chunked', () => head('POST /refunds HTTP/1.1', 'Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n'), /Transfer-Encoding/],
  ['Transfer-Encoding: chunked, identity', () => head('POST /refunds HTTP/1.1', 'Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n'), /Transfer-Encoding/],
  ['Transfer-Encoding: xchunked', () => head('POST /refunds HTTP/1.1', 'Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n'), /Transfer-Encoding/],
  ['Transfer-Encoding twice', () => head('POST /refunds HTTP/1.1', 'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'), /Transfer-Encoding/],
  ['space before the colon', () => head('POST /refunds HTTP/1.1', 'Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n'), /invalid header/],
  ['obsolete line folding', () => head('GET /invoices/42 HTTP/1.1', 'X-A: a\r\n b\r\n\r\n'), /invalid header/],
  ['bare LF line endings', () => `GET /invoices/42 HTTP/1.1\nHost: gw\nAuthorization: Bearer ${token}\n\n`, /line ending|version|malformed/],
  ['duplicate Host', () => head('GET /invoices/42 HTTP/1.1', 'Host: evil\r\n\r\n'), /Host/],
  ['bad chunk size', () => head('POST /refunds HTTP/1.1', 'Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n'), /chunk|malformed/],
];

for (const [name, bytes, reason] of smuggling) {
  test(`refused: ${name}`, async () => {
    const before = billing.requests.length;
    const answer = await rawRequest(address, bytes());
    assert.equal(statusOf(answer), 400, answer.slice(0, 600));
    assert.match(answer, reason);
    assert.match(answer, /connection: close/i);
    assert.equal(billing.requests.length, before, 'nothing reached the upstream');
  });
}

const methods: [string, number, RegExp][] = [
  ['get /invoices/42 HTTP/1.1', 400, /case-sensitive upper-case/],
  ['Get /invoices/42 HTTP/1.1', 400, /case-sensitive upper-case/],
  ['TRACE /invoices/42 HTTP/1.1', 405, /TRACE is not accepted/],
  ['PROPFIND /invoices/42 HTTP/1.1', 405, /PROPFIND is not accepted/],
  ['CONNECT billing:443 HTTP/1.1', 405, /CONNECT is not accepted/],
  ['GET http://evil.example/admin HTTP/1.1', 400, /origin-form/],
  ['GET /invoices\\..\\admin HTTP/1.1', 400, /backslash/],
  ['GET /invoices/42#x HTTP/1.1', 400, /fragment|invalid request target/],
  ['GET /invoices/\u00e9 HTTP/1.1', 400, /invalid request target|percent-encoded/],
];

for (const [line, status, reason] of methods) {
  test(`request line refused clearly: ${line}`, async () => {
    const before = billing.requests.length;
    const answer = await rawRequest(address, head(line, '\r\n'));
    assert.equal(statusOf(answer), status, answer.slice(0, 300));
    assert.match(answer, reason);
    assert.equal(billing.requests.length, before);
  });
}

test('a proper request on the same raw path is served (the harness can pass)', async () => {
  const answer = await rawRequest(address, head('GET /invoices/42 HTTP/1.1', 'Connection: close\r\n\r\n'));
  assert.equal(statusOf(answer), 200, answer.slice(0, 200));
});

test('a request smuggled after an allowed one in the same connection is judged on its own', async () => {
  const pipelined = head('GET /invoices/42 HTTP/1.1', '\r\n') + head('GET /admin HTTP/1.1', 'Connection: close\r\n\r\n');
  const answer = await rawRequest(address, pipelined);
  const statuses = [...answer.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
  assert.deepEqual(statuses, [200, 403]);
  assert.ok(!billing.requests.some((r) => r.url === '/admin'));
});

test('a chunked body on GET is framed explicitly upstream, never sent raw', async () => {
  const answer = await rawRequest(address, head('GET /invoices/42 HTTP/1.1', 'Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nGET /\r\n0\r\n\r\n'));
  assert.equal(statusOf(answer), 200);
  const seen = billing.requests.at(-1)!;
  assert.equal(seen.url, '/invoices/42');
  assert.equal(seen.body, 'GET /');
  assert.ok(!billing.requests.some((r) => r.url === '/admin'));
});

test('the LLM listener shares the same strict front door', async () => {
  const llm = gw.url('openai').slice('http://'.length);
  const answer = await rawRequest(llm, `POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${token}\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`);
  assert.equal(statusOf(answer), 400);
  assert.match(answer, /smuggling/);
});
