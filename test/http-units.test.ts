// Pure pieces of the HTTP path: target normalisation (the bypass table), glob rules, constraints, rate limits, scrubbing, headers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { httpGrant } from '../src/config/schema.ts';
import { decideHttp, httpFacts, needsBody } from '../src/adapters/http/policy.ts';
import { RateLimiter, parseRate } from '../src/pipeline/rate.ts';
import { compileGrant } from '../src/adapters/http/rules.ts';
import { clientResponseHeaders, credentialValues, upstreamRequestHeaders } from '../src/adapters/kit/http/hop.ts';
import { CredentialScrubber, scrubBuffer, scrubbed } from '../src/adapters/kit/http/scrub.ts';
import { normaliseTarget } from '../src/adapters/kit/http/target.ts';

test('request targets normalise to one canonical path', () => {
  const ok: [string, string, string | null][] = [
    ['/invoices/42', '/invoices/42', null],
    ['/invoices//42', '/invoices/42', null],
    ['//invoices///42/', '/invoices/42/', null],
    ['/invoices/./42', '/invoices/42', null],
    ['/invoices/x/../42', '/invoices/42', null],
    ['/invoices/%34%32', '/invoices/42', null],
    ['/a/%7euser/%7E', '/a/~user/~', null],
    ['/a/%2e%2E/b', '/b', null],
    ['/a/.%2e/b', '/b', null],
    ['/a/b/..', '/a/', null],
    ['/a/%c3%a9', '/a/%C3%A9', null],
    ['/search?q=a%2Fb&x=1', '/search', 'q=a%2Fb&x=1'],
    ['/', '/', null],
    ['/?', '/', ''],
  ];
  for (const [raw, path, query] of ok) assert.deepEqual(normaliseTarget(raw), { ok: true, path, query }, raw);
});

test('ambiguous or escaping targets are refused with a reason (bypass table)', () => {
  const refused: [string, RegExp][] = [
    ['/../admin', /climbs above the root/],
    ['/invoices/../../admin', /climbs above the root/],
    ['/%2e%2e/admin', /climbs above the root/],
    ['/invoices/%2F..%2Fadmin', /encoded slash/],
    ['/invoices%2f42', /encoded slash/],
    ['/invoices/%5c42', /encoded backslash/],
    ['/invoices\\..\\admin', /backslash/],
    ['/invoices/%00', /NUL/],
    ['/invoices/%252e%252e/admin', /double percent-encoding/],
    ['/invoices/%252f', /double percent-encoding/],
    ['/invoices/..;/admin', /path parameters/],
    ['/admin;x=1', /path parameters/],
    ['/invoices/%zz', /invalid percent-encoding/],
    ['/invoices/%4', /invalid percent-encoding/],
    ['/a#frag', /fragment/],
    ['http://evil.example/admin', /origin-form/],
    ['*', /asterisk-form/],
    ['/a b', /must be percent-encoded/],
    ['/a"b', /must be percent-encoded/],
    ['/q?x=%00', /NUL/],
  ];
  for (const [raw, reason] of refused) {
    const t = normaliseTarget(raw);
    assert.equal(t.ok, false, raw);
    assert.match((t as { reason: string }).reason, reason, raw);
  }
});

const grantOf = (g: unknown) => {
  const raw = httpGrant.parse(g);
  return { raw, compiled: compileGrant(raw) };
};
const decide = (g: ReturnType<typeof grantOf>, method: string, target: string, body?: unknown) => {
  const t = normaliseTarget(target);
  assert.ok(t.ok);
  return decideHttp(httpFacts({ role: 'r', connection: 'c', method, path: t.path, query: t.query, ...(body === undefined ? {} : { body: { json: body } }) }), g.compiled, g.raw);
};

test('glob rules: * is one segment, ** any number, methods are exact, a trailing slash is another resource', () => {
  const g = grantOf({ allow: ['GET /invoices/*', 'POST /refunds', 'GET /files/**', 'GET /reports/*.csv', 'DELETE /tmp/*/x', 'GET /dirs/*/'] });
  const allowed = ['GET /invoices/42', 'POST /refunds', 'GET /files', 'GET /files/', 'GET /files/a/b/c', 'GET /files/a/b/', 'GET /reports/q1.csv', 'DELETE /tmp/a/x', 'GET /dirs/a/'];
  const refused = ['GET /invoices', 'GET /invoices/', 'GET /invoices/42/', 'GET /refunds/', 'GET /dirs/a', 'GET /invoices/42/lines', 'POST /invoices/42', 'HEAD /invoices/42', 'PUT /refunds', 'GET /refunds', 'GET /reports/q1.json', 'GET /filesx', 'DELETE /tmp/x'];
  for (const r of allowed) { const [m, p] = r.split(' '); assert.equal(decide(g, m, p).kind, 'allow', r); }
  for (const r of refused) {
    const [m, p] = r.split(' ');
    const v = decide(g, m, p);
    assert.equal(v.kind, 'deny', r);
    assert.match((v as { message: string }).message, new RegExp(`${m} ${p.replace(/\/$/, '/?')}`), r);
  }
  assert.equal(decide(grantOf({ allow: ['* /any/*'] }), 'PATCH', '/any/1').kind, 'allow');
  assert.throws(() => grantOf({ allow: ['get /x'] }).compiled, /METHOD/);
  assert.throws(() => grantOf({ allow: ['GET /x/../../y'] }).compiled, /climbs/);
});

test('query and body constraints (the extended rule form)', () => {
  const g = grantOf({ allow: [
    { rule: 'GET /invoices', query: { status: ['open', 'paid'], limit: { max: 50 } } },
    { rule: 'POST /refunds', body: { '$.amount': { max: 100 }, '$.currency': ['EUR', 'USD'], '$.note': { pattern: '[a-z ]*', optional: true } } },
  ] });
  assert.equal(decide(g, 'GET', '/invoices').kind, 'allow');
  assert.equal(decide(g, 'GET', '/invoices?status=open&limit=10').kind, 'allow');
  assert.match((decide(g, 'GET', '/invoices?status=void') as { message: string }).message, /status" must be one of "open", "paid"/);
  assert.match((decide(g, 'GET', '/invoices?limit=500') as { message: string }).message, /at most 50/);
  assert.match((decide(g, 'GET', '/invoices?expand=customer') as { message: string }).message, /no query parameter "expand"/);
  assert.match((decide(g, 'GET', '/invoices?status=open&status=void') as { message: string }).message, /at most once/);
  assert.equal(decide(g, 'POST', '/refunds', { amount: 20, currency: 'EUR' }).kind, 'allow');
  assert.equal(decide(g, 'POST', '/refunds', { amount: 20, currency: 'EUR', note: 'late' }).kind, 'allow');
  assert.match((decide(g, 'POST', '/refunds', { amount: 2000, currency: 'EUR' }) as { message: string }).message, /\$\.amount that must be at most 100/);
  assert.match((decide(g, 'POST', '/refunds', { currency: 'EUR' }) as { message: string }).message, /body field \$\.amount/);
  assert.match((decide(g, 'POST', '/refunds', { amount: '20', currency: 'EUR' }) as { message: string }).message, /must be a number/);
  assert.match((decide(g, 'POST', '/refunds', { amount: 1, currency: 'EUR', note: 'DROP TABLE;' }) as { message: string }).message, /must match/);
  assert.match((decide(g, 'POST', '/refunds') as { message: string }).message, /requires a JSON body/);
  const t = normaliseTarget('/refunds');
  assert.ok(t.ok);
  assert.equal(needsBody(httpFacts({ role: 'r', connection: 'c', method: 'POST', path: t.path, query: null }), g.compiled), true);
  assert.equal(needsBody(httpFacts({ role: 'r', connection: 'c', method: 'GET', path: '/invoices', query: null }), g.compiled), false);
});

test('approve rules hold; masks ride on the allow verdict', () => {
  const g = grantOf({ allow: ['POST /refunds', 'GET /invoices/*'], approve: ['POST /refunds'], mask: { '$.customer.email': 'partial' } });
  assert.equal(decide(g, 'POST', '/refunds').kind, 'hold');
  assert.deepEqual(decide(g, 'GET', '/invoices/1'), { kind: 'allow', grant: 'GET /invoices/*', obligations: { mask: { '$.customer.email': 'partial' } } });
});

test('approve entries read "METHOD /glob" in the shared grammar, over the allow rules\' path globs', () => {
  const g = grantOf({ allow: ['* /**'], approve: ['POST /refunds/*/approve', 'DELETE /invoices/**', '* /admin/*', '/keys/*'] });
  const held = ['POST /refunds/7/approve', 'DELETE /invoices', 'DELETE /invoices/7/lines', 'GET /admin/users', 'PUT /keys/k1'];
  const free = ['GET /refunds/7/approve', 'POST /refunds/7/approve/', 'POST /refunds/approve', 'GET /invoices/7', 'GET /admin', 'GET /keys/k1/'];
  for (const r of held) { const [m, p] = r.split(' '); assert.equal(decide(g, m, p).kind, 'hold', r); }
  for (const r of free) { const [m, p] = r.split(' '); assert.equal(decide(g, m, p).kind, 'allow', r); }
  assert.match((decide(g, 'DELETE', '/invoices/7') as { reason: string }).reason, /approve rule "DELETE \/invoices\/\*\*"/);
  assert.throws(() => grantOf({ approve: ['FETCH /x'] }).compiled, /"FETCH" is not one of GET/);
  assert.throws(() => grantOf({ approve: ['POST /a /b'] }).compiled, /not "VERB TARGET"/);
  assert.throws(() => grantOf({ approve: ['POST /x/../../y'] }).compiled, /climbs/);
});

test('rate limits: a burst up to the limit, then Retry-After until a slot refills', () => {
  const { limit, periodMs } = parseRate('3/min');
  const r = new RateLimiter(limit, periodMs);
  const t0 = 1_000_000;
  assert.deepEqual([r.take('a', t0), r.take('a', t0), r.take('a', t0)].map((x) => x.ok), [true, true, true]);
  assert.deepEqual(r.take('a', t0), { ok: false, retryAfter: 20 });
  assert.equal(r.take('b', t0).ok, true, 'buckets are per token');
  assert.equal(r.take('a', t0 + 20_000).ok, true);
  assert.throws(() => parseRate('0/min'));
});

test('credential scrubbing survives any chunk split and keeps lengths', () => {
  const secret = 'sk-live-abcdefghijklmnop';
  // `sk-` repeats inside the secret's own text and near its ends, so held-back tails start in several places.
  const text = `{"echo":"Bearer ${secret}","again":"${secret}","near":"sk-live-abc sk-"}`;
  const values = credentialValues({ Authorization: `Bearer ${secret}` });
  const whole = scrubBuffer(Buffer.from(text), values.map((v) => Buffer.from(v))).toString();
  for (let a = 1; a < text.length; a++) {
    for (let b = a; b < text.length; b++) {
      const scrubber = new CredentialScrubber(values.map((v) => Buffer.from(v)));
      const chunks = [text.slice(0, a), text.slice(a, b), text.slice(b)].map((s) => Buffer.from(s));
      const result = Buffer.concat([...chunks.map((c) => scrubber.push(c)), scrubber.end()]).toString();
      assert.ok(!result.includes(secret), `cut at ${a}, ${b}`);
      assert.equal(result, whole, `cut at ${a}, ${b}`);
    }
  }
  assert.equal(scrubbed(24).length, 24);
  assert.deepEqual(credentialValues({ 'x-api-key': 'abcdefgh1234', 'anthropic-version': '2023-06-01' }), ['abcdefgh1234']);
});

test('hop-by-hop headers never cross; the agent token and forwarding claims are replaced', () => {
  const token = 'gth_' + 'a'.repeat(43);
  const out = upstreamRequestHeaders({
    host: 'attacker.example', connection: 'keep-alive, x-secret-hop', 'keep-alive': 'timeout=5', 'x-secret-hop': '1', te: 'trailers', trailer: 'x',
    upgrade: 'h2c', 'proxy-authorization': 'Basic x', 'proxy-connection': 'close', authorization: `Bearer ${token}`, 'x-api-key': token,
    'x-smuggled': `prefix ${token}`, 'x-forwarded-for': '6.6.6.6', forwarded: 'for=6.6.6.6', 'x-gatehouse-run-id': 'r1', accept: 'application/json',
  }, { token, upstreamHost: 'billing:9000', inject: { Authorization: 'Bearer real' }, clientAddress: '127.0.0.1', forwardedHost: 'gw:8081' });
  assert.deepEqual(out, {
    accept: 'application/json', authorization: 'Bearer real', host: 'billing:9000',
    'x-forwarded-for': '127.0.0.1', 'x-forwarded-proto': 'http', 'x-forwarded-host': 'gw:8081',
  }, "X-Forwarded-Host is the gateway's own address, never the agent's Host header");
  assert.deepEqual(clientResponseHeaders({ connection: 'x-a', 'x-a': '1', 'transfer-encoding': 'chunked', 'content-type': 'text/plain', 'content-length': '3' }, { length: true }), { 'content-type': 'text/plain' });
});
