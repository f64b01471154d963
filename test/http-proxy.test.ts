// The HTTP API gateway end to end: real clients → Gatehouse → the demo billing API, with grants, masking, limits and failures.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import { after, before, test } from 'node:test';
import { startBillingApi, type BillingApi } from '../src/demo/upstreams/billing.ts';
import { renderReplay } from '../src/cli/sessions.ts';
import { TokenSessions } from '../src/adapters/kit/http/token-sessions.ts';
import { auditRecords, gateway, send, waitFor } from './helpers/gateway.ts';
import { breakAuditWrites } from './support/audit.ts';

const BILLING_KEY = 'billing-upstream-key-7f3a9c';
let billing: BillingApi;
let gw: Awaited<ReturnType<typeof gateway>>;
let closedPort: number;

before(async () => {
  billing = await startBillingApi({ key: BILLING_KEY });
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  closedPort = (probe.address() as { port: number }).port;
  await new Promise((r) => probe.close(r));
  gw = await gateway(`
connections:
  billing:
    kind: http
    listen: 127.0.0.1:0
    upstream: ${billing.url}
    headers: { Authorization: "Bearer \${BILLING_KEY}" }
  tight:
    kind: http
    listen: 127.0.0.1:0
    upstream: ${billing.url}
    headers: { Authorization: "Bearer \${BILLING_KEY}" }
    timeout_ms: 300
    max_inspect_bytes: 2048
  down:
    kind: http
    listen: 127.0.0.1:0
    upstream: http://127.0.0.1:${closedPort}
roles:
  support:
    billing:
      allow:
        - GET /invoices/*
        - GET /invoices
        - { rule: POST /refunds, body: { $.amount: { max: 100 }, $.currency: [EUR, USD] } }
        - GET /echo
        - GET /notes
      approve: [POST /refunds/*/approve]
      mask: { $.customer.email: partial, $.customer.card: redact, $.customer.phone: hash }
  streamer:
    billing:
      allow: [POST /upload, GET /big, GET /events]
  approver:
    billing:
      allow: [POST /refunds]
      approve: [POST /refunds]
  notes:
    billing:
      allow: [GET /notes]
      guards: { pii: redact }
  rag:
    billing:
      allow: [POST /collections/docs/points/search]
  limited:
    billing:
      allow: [GET /invoices/*]
      rate: 2/min
  edge:
    tight:
      allow: [GET /slow, GET /reset, GET /big.json, { rule: POST /upload, body: { $.name: "*" } }]
      mask: { "$.items[*].email": redact }
    down:
      allow: [GET /**]
  holder:
    tight:
      allow: [POST /upload]
      approve: [POST /upload, POST /elsewhere]
  nobilling:
    down:
      allow: [GET /x]
`, { BILLING_KEY });
});

after(async () => {
  await gw.close();
  await billing.close();
});

const auth = (token: string, extra: Record<string, string> = {}) => ({ authorization: `Bearer ${token}`, ...extra });

test('an allowed request is forwarded with the upstream key injected, the agent token stripped, and PII masked', async () => {
  const { token } = await gw.mint('support');
  const r = await send(gw.url('billing'), 'GET', '/invoices/42', auth(token));
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json.customer.email, 'a***@example.com');
  assert.equal(r.json.customer.card, '[REDACTED]', 'a field mask says nothing about the value');
  assert.notEqual(r.json.customer.phone, '+44 20 7946 0958');
  assert.equal(r.json.customer.name, 'Ada Lovelace');
  const seen = billing.requests.at(-1)!;
  assert.equal(seen.url, '/invoices/42');
  assert.equal(seen.headers.authorization, `Bearer ${BILLING_KEY}`);
  assert.equal(seen.headers.host, new URL(billing.url).host);
  assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
  assert.equal(seen.headers['x-forwarded-proto'], 'http');
  assert.equal(seen.headers['x-forwarded-host'], new URL(gw.url('billing')).host);
  assert.ok(!JSON.stringify(seen.headers).includes(token), 'the upstream must never see the Gatehouse token');
});

test('paths and methods not granted are refused with 403 naming the missing grant', async () => {
  const { token } = await gw.mint('support');
  const before = billing.requests.length;
  for (const [method, path] of [['GET', '/admin'], ['POST', '/invoices/42'], ['DELETE', '/invoices/42'], ['GET', '/invoices/42/lines'], ['HEAD', '/invoices/42']]) {
    const r = await send(gw.url('billing'), method, path, auth(token));
    assert.equal(r.status, 403, `${method} ${path}`);
    if (method !== 'HEAD') {
      assert.equal(r.json.error.code, 'http.allow');
      assert.equal(r.json.error.needed, `${method} ${path}`);
      assert.match(r.json.error.message, new RegExp(`no grant for ${method} ${path}`));
    }
  }
  assert.equal(billing.requests.length, before, 'nothing refused reaches the upstream');
});

test('path tricks are normalised before matching, and exactly the normalised path is forwarded', async () => {
  const { token } = await gw.mint('support');
  const cases: [string, number, string?][] = [
    ['/invoices/../admin', 403],
    ['/invoices/%2e%2e/admin', 403],
    ['/invoices/.%2E/admin', 403],
    ['/invoices/x/../42', 200, '/invoices/42'],
    ['//invoices///42', 200, '/invoices/42'],
    ['/invoices/%34%32', 200, '/invoices/42'],
    ['/invoices/./42', 200, '/invoices/42'],
    ['/invoices/..%2Fadmin', 400],
    ['/invoices%2F42', 400],
    ['/invoices/%2e%2e/%2e%2e/admin', 400],
    ['/../admin', 400],
    ['/invoices/..;/admin', 400],
    ['/invoices/%252e%252e/admin', 400],
    ['/invoices/%5c..%5cadmin', 400],
  ];
  for (const [path, status, forwarded] of cases) {
    const n = billing.requests.length;
    const r = await send(gw.url('billing'), 'GET', path, auth(token));
    assert.equal(r.status, status, path);
    if (forwarded) assert.equal(billing.requests.at(-1)!.url, forwarded, path);
    else assert.equal(billing.requests.length, n, `${path} must not reach the upstream`);
    if (status === 400) assert.equal(r.json.error.code, 'unknown');
  }
  const audit = (await auditRecords(gw)).filter((a) => a.kind === 'request' && a.data.summary === 'GET /admin');
  assert.ok(audit.length >= 3, 'the resolved path is what the audit shows');
});

test('tokens: missing, unknown, expired and revoked get 401 with the reason; a role without a grant gets 403', async () => {
  const base = gw.url('billing');
  let r = await send(base, 'GET', '/invoices/42');
  assert.equal(r.status, 401);
  assert.equal(r.json.error.code, 'token.missing');
  assert.match(String(r.headers['www-authenticate']), /Bearer/);
  r = await send(base, 'GET', '/invoices/42', auth('gth_' + 'x'.repeat(43)));
  assert.deepEqual([r.status, r.json.error.code], [401, 'token.unknown']);
  const expired = await gw.mint('support', 'old', 1);
  await new Promise((res) => setTimeout(res, 1100));
  r = await send(base, 'GET', '/invoices/42', auth(expired.token));
  assert.deepEqual([r.status, r.json.error.code], [401, 'token.expired']);
  const revoked = await gw.mint('support');
  await gw.services.tokens.revoke(revoked.id);
  r = await send(base, 'GET', '/invoices/42', auth(revoked.token));
  assert.deepEqual([r.status, r.json.error.code], [401, 'token.revoked']);
  r = await send(base, 'GET', '/invoices/42', auth((await gw.mint('nobilling')).token));
  assert.deepEqual([r.status, r.json.error.code], [403, 'grant.none']);
});

test('the upstream credential never reaches the client or the audit log, even when the upstream echoes it', async () => {
  const { token } = await gw.mint('support', 'echo');
  const r = await send(gw.url('billing'), 'GET', '/echo', auth(token, { 'x-note': 'hello' }));
  assert.equal(r.status, 200);
  assert.equal(billing.requests.at(-1)!.headers.authorization, `Bearer ${BILLING_KEY}`, 'the upstream did get its key');
  assert.ok(!r.body.includes(BILLING_KEY), 'echoed key must be scrubbed from the response');
  assert.match(r.json.headers.authorization, /^\[gatehouse:redacted\**\]$|^Bearer \*+$|gatehouse:redacted/);
  const all = JSON.stringify(await gw.services.audit.read(0, 100_000));
  assert.ok(!all.includes(BILLING_KEY), 'the audit table must not hold the upstream key');
  assert.ok(!all.includes(token), 'the audit table must not hold the Gatehouse token');
});

test('query and body constraints are enforced on the JSON body before anything is forwarded', async () => {
  const { token } = await gw.mint('support');
  const post = (body: unknown) => send(gw.url('billing'), 'POST', '/refunds', auth(token, { 'content-type': 'application/json' }), JSON.stringify(body));
  let r = await post({ invoice: 42, amount: 20, currency: 'EUR' });
  assert.equal(r.status, 201);
  assert.deepEqual(JSON.parse(billing.requests.at(-1)!.body), { invoice: 42, amount: 20, currency: 'EUR' });
  const n = billing.requests.length;
  r = await post({ invoice: 42, amount: 5000, currency: 'EUR' });
  assert.equal(r.status, 403);
  assert.equal(r.json.error.code, 'http.constraint');
  assert.match(r.json.error.message, /\$\.amount that must be at most 100/);
  r = await post({ invoice: 42, currency: 'EUR' });
  assert.equal(r.status, 403);
  r = await send(gw.url('billing'), 'POST', '/refunds', auth(token, { 'content-type': 'text/plain' }), 'amount=1');
  assert.equal(r.status, 403);
  assert.match(r.json.error.message, /JSON body/);
  assert.equal(billing.requests.length, n);
});

test('a vector-store grant can allow only the search endpoint of one collection', async () => {
  const { token } = await gw.mint('rag');
  const search = { vector: [0.1, 0.2, 0.3], limit: 2 };
  const ok = await send(gw.url('billing'), 'POST', '/collections/docs/points/search', auth(token, { 'content-type': 'application/json' }), JSON.stringify(search));
  assert.equal(ok.status, 200);
  assert.equal(ok.json.result.length, 2);
  for (const [method, path] of [['POST', '/collections/secrets/points/search'], ['DELETE', '/collections/docs'], ['PUT', '/collections/docs/points'],
    ['POST', '/collections/docs/points/delete'], ['GET', '/collections/docs/points/1'], ['POST', '/collections/docs/points/search/../delete']]) {
    const r = await send(gw.url('billing'), method, path, auth(token, { 'content-type': 'application/json' }), '{}');
    assert.equal(r.status, 403, `${method} ${path}`);
  }
});

const alice = { name: 'alice', key: 'alice-approver-key-0123456789', roles: ['approver' as const] };

/** The newest pending approval, once the held request has reached it. */
const pendingApproval = () => waitFor(async () => (await gw.services.approvals.list('pending'))[0]);

test('approve rules hold the request until a person decides; approved requests go through exactly as asked', async () => {
  const token = (await gw.mint('approver')).token;
  const held = send(gw.url('billing'), 'POST', '/refunds', auth(token, { 'content-type': 'application/json' }), '{"amount":7}');
  const pending = await pendingApproval();
  assert.equal(pending.summary, 'POST /refunds');
  assert.equal(pending.protocol, 'http');
  await gw.services.approvals.decide(pending.id, alice, 'approve', 'refund is fine');
  const r = await held;
  assert.equal(r.status, 201);
  assert.equal(r.json.amount, 7, 'the body the agent sent is the body forwarded');
  const kinds = (await auditRecords(gw)).map((a) => a.kind);
  assert.ok(kinds.includes('approval.forwarded'));

  const denied = send(gw.url('billing'), 'POST', '/refunds', auth(token, { 'content-type': 'application/json' }), '{"amount":8}');
  const second = await pendingApproval();
  await gw.services.approvals.decide(second.id, alice, 'deny', 'too many refunds today');
  const d = await denied;
  assert.equal(d.status, 403);
  assert.equal(d.json.error.code, 'approval.denied');
  assert.equal(d.json.error.approval, second.id);
  assert.match(d.json.error.message, /denied by alice: too many refunds today/);
});

test('a request an approval would hold has its body read first: too large to bind is 413; one no rule allows stays 403', async () => {
  const { token } = await gw.mint('holder');
  const big = JSON.stringify({ pad: 'y'.repeat(4000) });
  const asked = (await gw.services.approvals.list('pending')).length;
  let r = await send(gw.url('tight'), 'POST', '/upload', auth(token, { 'content-type': 'application/json' }), big);
  assert.deepEqual([r.status, r.json.error.code], [413, 'max_inspect_bytes']);
  r = await send(gw.url('tight'), 'POST', '/elsewhere', auth(token, { 'content-type': 'application/json' }), big);
  assert.deepEqual([r.status, r.json.error.code], [403, 'http.allow']);
  assert.equal((await gw.services.approvals.list('pending')).length, asked, 'nobody is asked to approve a request that cannot be forwarded');
});

test('redirects to the upstream are pointed back at the gateway', async () => {
  const r = await send(gw.url('billing'), 'GET', '/invoices/latest', auth((await gw.mint('support')).token));
  assert.equal(r.status, 302);
  assert.equal(r.headers.location, `${gw.url('billing')}/invoices/43`);
});

test('hop-by-hop request headers, including those named in Connection, are not forwarded', async () => {
  const { token } = await gw.mint('support');
  const r = await send(gw.url('billing'), 'GET', '/invoices/43', auth(token, { connection: 'keep-alive, x-hop', 'x-hop': 'secret', 'keep-alive': 'timeout=5', te: 'trailers', 'proxy-authorization': 'Basic abc', 'x-end-to-end': 'yes' }));
  assert.equal(r.status, 200);
  const h = billing.requests.at(-1)!.headers;
  for (const name of ['x-hop', 'keep-alive', 'te', 'proxy-authorization']) assert.equal(h[name], undefined, name);
  assert.equal(h['x-end-to-end'], 'yes');
});

test('large bodies stream both ways without being buffered (uninspected), chunked included', async () => {
  const { token } = await gw.mint('streamer');
  const size = 8 * 1024 * 1024;
  const payload = Buffer.alloc(size, 7);
  const up = await fetch(`${gw.url('billing')}/upload`, {
    method: 'POST', headers: auth(token), duplex: 'half',
    body: new ReadableStream({ start(c) { for (let i = 0; i < size; i += 1 << 20) c.enqueue(payload.subarray(i, i + (1 << 20))); c.close(); } }),
  } as RequestInit);
  assert.equal(up.status, 200);
  assert.deepEqual(await up.json(), { bytes: size, sha256: createHash('sha256').update(payload).digest('hex') });
  const down = await fetch(`${gw.url('billing')}/big?bytes=${size}`, { headers: auth(token) });
  assert.equal(down.status, 200);
  assert.equal(down.headers.get('content-length'), String(size));
  assert.equal((await down.arrayBuffer()).byteLength, size);
});

test('a grant with field masks withholds responses it cannot mask (fail closed)', async () => {
  const r = await send(gw.url('billing'), 'GET', '/notes', auth((await gw.mint('support')).token));
  assert.equal(r.status, 502);
  assert.equal(r.json.error.code, 'http.inspect');
  assert.match(r.json.error.message, /text\/plain.*cannot mask/);
  assert.ok(!r.body.includes('ada@example.com'));
});

test('inspected bodies are limited by max_inspect_bytes: 413 for requests, 502 for responses', async () => {
  const { token } = await gw.mint('edge');
  const big = JSON.stringify({ name: 'x', pad: 'y'.repeat(4000) });
  let r = await send(gw.url('tight'), 'POST', '/upload', auth(token, { 'content-type': 'application/json' }), big);
  assert.equal(r.status, 413);
  assert.equal(r.json.error.code, 'max_inspect_bytes');
  r = await send(gw.url('tight'), 'POST', '/upload', auth(token, { 'content-type': 'application/json' }), JSON.stringify({ name: 'ok' }));
  assert.equal(r.status, 200);
  r = await send(gw.url('tight'), 'GET', '/big.json?items=200', auth(token));
  assert.equal(r.status, 502);
  assert.equal(r.json.error.code, 'max_inspect_bytes');
  r = await send(gw.url('tight'), 'GET', '/big.json?items=3', auth(token));
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.items.map((i: { email: string }) => i.email), ['[REDACTED]', '[REDACTED]', '[REDACTED]']);
});

test('content detectors redact PII in text responses', async () => {
  const r = await send(gw.url('billing'), 'GET', '/notes', auth((await gw.mint('notes')).token));
  assert.equal(r.status, 200);
  assert.ok(!r.body.includes('ada@example.com') && !r.body.includes('7946 0958'), r.body);
  assert.match(r.body, /REDACTED/);
});

test('per-token rate limits answer 429 with Retry-After', async () => {
  const a = await gw.mint('limited');
  const b = await gw.mint('limited');
  assert.equal((await send(gw.url('billing'), 'GET', '/invoices/42', auth(a.token))).status, 200);
  assert.equal((await send(gw.url('billing'), 'GET', '/invoices/42', auth(a.token))).status, 200);
  const r = await send(gw.url('billing'), 'GET', '/invoices/42', auth(a.token));
  assert.equal(r.status, 429);
  assert.equal(r.json.error.code, 'http.rate');
  assert.ok(Number(r.headers['retry-after']) >= 1 && Number(r.headers['retry-after']) <= 30, String(r.headers['retry-after']));
  assert.equal((await send(gw.url('billing'), 'GET', '/invoices/42', auth(b.token))).status, 200, 'another token has its own bucket');
});

test('upstream down → 502, slow → 504, reset → 502, each as clear JSON', async () => {
  const { token } = await gw.mint('edge');
  let r = await send(gw.url('down'), 'GET', '/anything', auth(token));
  assert.equal(r.status, 502);
  assert.equal(r.json.error.code, 'upstream.refused');
  assert.match(r.json.error.message, /refused the connection/);
  const t0 = Date.now();
  r = await send(gw.url('tight'), 'GET', '/slow?ms=3000', auth(token));
  assert.equal(r.status, 504);
  assert.equal(r.json.error.code, 'upstream.timeout');
  assert.ok(Date.now() - t0 < 2000, 'the timeout is the connection\'s timeout_ms');
  r = await send(gw.url('tight'), 'GET', '/reset', auth(token));
  assert.equal(r.status, 502);
  assert.equal(r.json.error.code, 'upstream.reset');
  const outcomes = (await auditRecords(gw)).filter((a) => a.kind === 'result' && a.data.error);
  assert.ok(outcomes.some((o) => o.data.status === 504));
});

test('server-sent events pass through event by event, not buffered', async () => {
  const { token } = await gw.mint('streamer');
  let release!: () => void;
  const firstSeen = new Promise<void>((r) => { release = r; });
  billing.hold = () => firstSeen;
  try {
    const res = await fetch(`${gw.url('billing')}/events?n=3&gap=10`, { headers: auth(token) });
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    assert.match(first, /data: \{"n":1\}/);
    assert.doesNotMatch(first, /"n":2/);
    release(); // the upstream sends event 2 only after the agent has event 1: a buffering proxy would deadlock here
    let rest = '';
    for (let c = await reader.read(); !c.done; c = await reader.read()) rest += new TextDecoder().decode(c.value);
    assert.match(rest, /"n":3/);
  } finally {
    billing.hold = undefined;
  }
});

test('revoking a token cuts its in-flight stream at once and closes its session', async () => {
  const t = await gw.mint('streamer', 'streamer');
  const res = await fetch(`${gw.url('billing')}/events?n=100&gap=50`, { headers: auth(t.token) });
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  assert.match(new TextDecoder().decode((await reader.read()).value), /"n":1/);
  const t0 = Date.now();
  await gw.services.tokens.revoke(t.id);
  let got = '';
  let failed = false;
  try {
    for (let c = await reader.read(); !c.done; c = await reader.read()) got += new TextDecoder().decode(c.value);
  } catch {
    failed = true;
  }
  assert.ok(failed || !got.includes('"n":100'), 'the stream must not run to its end');
  assert.ok(Date.now() - t0 < 1000, 'cut at once');
  // The session's end is written just after the cut.
  const session = await waitFor(async () => (await gw.services.store.listSessions({ tokenId: t.id }))[0]?.endReason ?? undefined);
  assert.equal(session, 'token revoked');
});

test('one session per token per connection, replayable with HTTP outcomes', async () => {
  const t = await gw.mint('support', 'replayer');
  await send(gw.url('billing'), 'GET', '/invoices/42', auth(t.token));
  await send(gw.url('billing'), 'GET', '/admin', auth(t.token));
  const sessions = await gw.services.store.listSessions({ tokenId: t.id });
  assert.equal(sessions.length, 1);
  assert.equal(sessions[0].protocol, 'http');
  const events = await gw.services.audit.read(0, 10_000, sessions[0].id);
  const text = renderReplay(sessions[0], events);
  assert.match(text, /ALLOW\s+GET \/invoices\/42/);
  assert.match(text, /200 — \d+ bytes, \d+ ms, 3 value\(s\) masked/);
  assert.match(text, /DENY\s+GET \/admin/);
});

test('a failed audit write refuses the request: nothing reaches the upstream', async () => {
  const store = gw.services.store;
  const t = await gw.mint('support', 'auditfail');
  assert.equal((await send(gw.url('billing'), 'GET', '/invoices/42', auth(t.token))).status, 200, 'session opened while the audit works');
  const n = billing.requests.length;
  const restore = breakAuditWrites(store);
  try {
    let r = await send(gw.url('billing'), 'GET', '/invoices/42', auth(t.token));
    assert.equal(r.status, 503);
    assert.equal(r.json.error.code, 'audit.unavailable');
    r = await send(gw.url('billing'), 'GET', '/invoices/42', auth((await gw.mint('support', 'newcomer')).token));
    assert.equal(r.status, 503, 'a session the audit cannot record never starts');
    assert.equal(r.json.error.code, 'session.unavailable');
  } finally {
    restore();
  }
  assert.equal(billing.requests.length, n);
});

test('a token\'s session closes after it has been idle', async () => {
  const t = await gw.mint('support', 'idler');
  const sessions = new TokenSessions(gw.services.gate, 'billing', 'http', 50);
  const token = (await gw.services.tokens.byId(t.id))!;
  const first = await sessions.begin(token, { headers: {} } as never, '127.0.0.1', () => {});
  const second = await sessions.begin(token, { headers: {} } as never, '127.0.0.1', () => {});
  assert.equal(first.ctx.sessionId, second.ctx.sessionId, 'one session per token per connection');
  first.done();
  await new Promise((r) => setTimeout(r, 120));
  assert.equal((await gw.services.store.sessionById(first.ctx.sessionId))!.endedAt, null, 'not idle while a request is in flight');
  second.done();
  await new Promise((r) => setTimeout(r, 120));
  assert.equal((await gw.services.store.sessionById(first.ctx.sessionId))!.endReason, 'idle');
});
