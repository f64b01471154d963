// Egress TLS interception end to end with real clients (curl, undici's ProxyAgent, Python requests when present): each
// request inside a tunnel judged by the grant's allow rules, credentials injected that the agent never sees, guards on
// what leaves, upstream certificates verified (a local HTTPS upstream with its own test CA, via upstream_ca).
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { ProxyAgent, fetch as undiciFetch } from 'undici';
import { verifyAudit } from '../src/services/audit/log.ts';
import { auditRecords, waitFor } from './helpers/gateway.ts';
import { egressGateway, httpsUpstream, makePki, TestNetwork, type Pki, type Upstream } from './support/egress.ts';
import { innerExchange, tunnelTls } from './support/intercept.ts';

const run = promisify(execFile);
const KEY = 'ghp_0123456789abcdefABCDEF0123456789abcd';

let pki: Pki;
let rogue: Pki;
let dir: string;
let api: Upstream;
let pinned: Upstream;
let badCert: Upstream;
let network: TestNetwork;
let gw: Awaited<ReturnType<typeof egressGateway>>;
let gatehouseCa: string;

before(async () => {
  pki = makePki(['api.github.com', 'gist.github.com', 'pinned.example.com']);
  rogue = makePki(['badcert.example.com']); // signed by a CA the gateway does not trust
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-intercept-'));
  api = await httpsUpstream(pki);
  pinned = await httpsUpstream(pki);
  badCert = await httpsUpstream(rogue);
  network = new TestNetwork();
  network.route('api.github.com', ['203.0.113.20'], 443, api.port);
  network.route('gist.github.com', ['203.0.113.21'], 443, api.port);
  network.route('pinned.example.com', ['203.0.113.22'], 443, pinned.port);
  network.route('badcert.example.com', ['203.0.113.23'], 443, badCert.port);
  gw = await egressGateway(network, `
  researcher:
    internet:
      hosts: ["api.github.com", "gist.github.com", "pinned.example.com", "badcert.example.com"]
      allow:
        - "GET api.github.com/repos/acme/*"
        - "POST api.github.com/repos/acme/docs/issues"
        - { rule: "POST api.github.com/search", body: { $.q: { pattern: "^[a-z ]+$" } } }
        - "GET badcert.example.com/**"
      headers: { api.github.com: { Authorization: "Bearer ${KEY}" } }
      guards: { secrets: block, pii: redact }
  browser:
    internet:
      hosts: ["api.github.com"]
`, `intercept: true
ca: { cert: "${join(dir, 'ca.pem')}", key: "${join(dir, 'ca.key')}" }
upstream_ca: "${join(pki.dir, 'ca.pem')}"
pass_through: ["pinned.example.com"]
header_timeout_ms: 2000`);
  gatehouseCa = readFileSync(join(dir, 'ca.pem'), 'utf8');
});

after(async () => {
  await gw?.close();
  await Promise.all([api?.close(), pinned?.close(), badCert?.close()]);
  pki?.close();
  rogue?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  network?.assertClean();
});

async function curl(args: string[], proxy: string, ca = join(dir, 'ca.pem')) {
  try {
    const { stdout, stderr } = await run('curl', ['-sS', '--proxy', proxy, '--cacert', ca, '-w', '\n%{http_code}', ...args], { env: { PATH: process.env.PATH ?? '' }, timeout: 10_000 });
    const cut = stdout.lastIndexOf('\n');
    return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut), stderr };
  } catch (err) {
    const e = err as { stdout: string; stderr: string };
    const cut = e.stdout.lastIndexOf('\n');
    return { status: Number(e.stdout.slice(cut + 1)) || 0, body: e.stdout.slice(0, cut), stderr: e.stderr };
  }
}

test('the CA is made on first start: its key is written 0600 and the certificate is a CA agents can trust', () => {
  assert.equal(statSync(join(dir, 'ca.key')).mode & 0o777, 0o600);
  assert.match(gatehouseCa, /^-----BEGIN CERTIFICATE-----/);
});

test('gatehouse ca export prints the certificate agents trust (and makes one, as the first start would, when absent)', async () => {
  const config = join(dir, 'export.yaml');
  writeFileSync(config, `connections:\n  internet: { kind: egress, listen: 127.0.0.1:0, intercept: true, ca: { cert: "${join(dir, 'ca.pem')}", key: "${join(dir, 'ca.key')}" } }\n`);
  const { stdout } = await run(process.execPath, ['bin/gatehouse.js', 'ca', 'export', '--config', config], { timeout: 30_000 });
  assert.equal(stdout.trim(), gatehouseCa.trim());
  const fresh = join(dir, 'fresh.yaml');
  writeFileSync(fresh, `connections:\n  internet: { kind: egress, listen: 127.0.0.1:0, intercept: true, ca: { cert: "${join(dir, 'new.pem')}", key: "${join(dir, 'new.key')}" } }\n`);
  const made = await run(process.execPath, ['bin/gatehouse.js', 'ca', 'export', '--config', fresh], { timeout: 30_000 });
  assert.equal(made.stdout.trim(), readFileSync(join(dir, 'new.pem'), 'utf8').trim());
  assert.equal(statSync(join(dir, 'new.key')).mode & 0o777, 0o600);
});

test('curl with the exported CA: an allowed request gets the injected key upstream, the agent never sees it, the audit never holds it', async () => {
  const { token, id } = (await gw.mint('researcher'));
  const before = api.seen.length;
  const r = await curl(['-H', 'Authorization: Bearer agent-made-this-up', 'https://api.github.com/repos/acme/docs'], gw.proxyUrl(token));
  assert.equal(r.status, 200, r.stderr + r.body);
  const seen = api.seen.slice(before);
  assert.equal(seen.length, 1);
  assert.equal(seen[0].headers.authorization, `Bearer ${KEY}`, 'the grant\'s header replaces whatever the agent sent');
  assert.equal(seen[0].host, 'api.github.com');
  assert.equal(seen[0].headers['proxy-authorization'], undefined);
  assert.ok(!JSON.stringify(seen[0].headers).includes(token), 'the Gatehouse token never reaches the site');
  // The echo upstream repeats the key in its body: scrubbed on the way back, Content-Length intact.
  assert.ok(!r.body.includes(KEY), 'the agent never sees the key');
  assert.match(JSON.parse(r.body).headers.authorization, /gatehouse:redacted/);

  const request = await waitFor(async () => (await auditRecords(gw)).find((x) => x.kind === 'request' && x.tokenId === id && x.data.summary === 'GET https://api.github.com:443/repos/acme/docs'));
  assert.equal(request.verdict, 'allow');
  assert.equal(request.data.grant, 'GET api.github.com/repos/acme/*');
  assert.deepEqual(request.data.injected, ['authorization']);
  const tunnel = await waitFor(async () => (await auditRecords(gw)).find((x) => x.kind === 'result' && x.tokenId === id && x.data.inspected === true));
  assert.equal(tunnel.data.requests, 1);
  assert.ok(!JSON.stringify(auditRecords(gw)).includes(KEY), 'the key never reaches the audit');
  assert.equal((await verifyAudit(gw.services.store)).ok, true);
});

test('undici ProxyAgent: allowed and refused requests inside one tunnel, each judged on its own', async () => {
  const { token, id } = (await gw.mint('researcher'));
  const agent = new ProxyAgent({ uri: gw.proxyUrl(token), requestTls: { ca: gatehouseCa } });
  const before = api.seen.length;
  try {
    const ok = await undiciFetch('https://api.github.com/repos/acme/docs', { dispatcher: agent });
    assert.equal(ok.status, 200);
    await ok.text();
    const del = await undiciFetch('https://api.github.com/repos/acme/docs', { method: 'DELETE', dispatcher: agent });
    assert.equal(del.status, 403);
    const refusal = await del.json() as { error: { code: string; message: string } };
    assert.equal(refusal.error.code, 'egress.allow');
    assert.match(refusal.error.message, /no rule for DELETE api\.github\.com\/repos\/acme\/docs/);
    const issue = await undiciFetch('https://api.github.com/repos/acme/docs/issues', { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, body: '{"title":"typo"}' });
    assert.equal(issue.status, 200);
    await issue.text();
    const bad = await undiciFetch('https://api.github.com/search', { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, body: '{"q":"DROP; --"}' });
    assert.equal(bad.status, 403);
    assert.equal((await bad.json() as { error: { code: string } }).error.code, 'egress.constraint');
  } finally {
    await agent.close();
  }
  assert.deepEqual(api.seen.slice(before).map((s) => `${s.method} ${s.path}`), ['GET /repos/acme/docs', 'POST /repos/acme/docs/issues']);
  // undici may open a second connection; whatever it did, the tunnels' records account for every request judged inside.
  const tunnels = await waitFor(async () => {
    const found = (await auditRecords(gw)).filter((x) => x.kind === 'result' && x.tokenId === id && x.data.inspected === true);
    return found.reduce((n, x) => n + Number(x.data.requests), 0) === 4 ? found : undefined;
  });
  assert.ok(tunnels.some((x) => Number(x.data.requests) > 1), 'a tunnel carried several requests');
});

test('guards on what leaves: a secret in a body is blocked before any byte goes upstream; personal data is redacted', async () => {
  const { token } = (await gw.mint('researcher'));
  const before = api.seen.length;
  const secret = await curl(['-X', 'POST', '-H', 'content-type: application/json', '--data', '{"title":"creds","body":"aws AKIAZ7QWERTYUJ3KL4MN here"}', 'https://api.github.com/repos/acme/docs/issues'], gw.proxyUrl(token));
  assert.equal(secret.status, 403, secret.body);
  assert.match(JSON.parse(secret.body).error.message, /must not leave/);
  assert.equal(api.seen.length, before, 'nothing reached the site');
  const pii = await curl(['-X', 'POST', '-H', 'content-type: application/json', '--data', '{"title":"contact","body":"write to jane.doe@example.com"}', 'https://api.github.com/repos/acme/docs/issues'], gw.proxyUrl(token));
  assert.equal(pii.status, 200, pii.body);
  assert.equal(api.seen.length, before + 1);
  const url = await curl(['https://api.github.com/repos/acme/AKIAZ7QWERTYUJ3KL4MN'], gw.proxyUrl(token));
  assert.equal(url.status, 403, 'a secret in the URL is refused too');
});

test('an upstream whose certificate does not verify is a clear 502, never a silent downgrade', async () => {
  const { token } = (await gw.mint('researcher'));
  const r = await curl(['https://badcert.example.com/echo'], gw.proxyUrl(token));
  assert.equal(r.status, 502, r.body);
  const error = JSON.parse(r.body).error;
  assert.equal(error.code, 'upstream.tls');
  assert.match(error.message, /badcert\.example\.com:443: .*failed TLS verification/);
  assert.equal(badCert.seen.length, 0);
});

test('a pass_through host is tunnelled uninspected (the site\'s own certificate), and the audit says so', async () => {
  const { token, id } = (await gw.mint('researcher'));
  const r = await curl(['https://pinned.example.com/echo'], gw.proxyUrl(token), join(pki.dir, 'ca.pem'));
  assert.equal(r.status, 200, r.stderr);
  assert.equal(JSON.parse(r.body).sni, 'pinned.example.com');
  const result = await waitFor(async () => (await auditRecords(gw)).find((x) => x.kind === 'result' && x.tokenId === id));
  assert.deepEqual([result.data.inspected, result.data.pass_through], [false, 'pinned.example.com']);
  // The interception CA is not what that site presents: a client trusting only it cannot connect.
  const intercepted = await curl(['https://pinned.example.com/echo'], gw.proxyUrl(token));
  assert.notEqual(intercepted.status, 200);
});

test('a grant without allow rules: every request to its hosts passes, each one audited', async () => {
  const { token, id } = (await gw.mint('browser'));
  const r = await curl(['-X', 'DELETE', 'https://api.github.com/anything'], gw.proxyUrl(token));
  assert.equal(r.status, 200);
  const request = await waitFor(async () => (await auditRecords(gw)).find((x) => x.kind === 'request' && x.tokenId === id && x.data.summary === 'DELETE https://api.github.com:443/anything'));
  assert.equal(request.verdict, 'allow');
});

test('revoking the token ends its intercepted tunnel at once', async () => {
  const { token, id } = (await gw.mint('researcher'));
  const t = await tunnelTls(gw.proxyAddress, token, 'api.github.com', gatehouseCa);
  const first = await innerExchange(t, 'GET /repos/acme/docs HTTP/1.1\r\nHost: api.github.com\r\n\r\n');
  assert.match(first, /^HTTP\/1\.1 200/);
  const closed = new Promise((resolve) => t.once('close', resolve));
  await gw.services.tokens.revoke(id);
  await closed;
  assert.equal(t.destroyed, true);
});

test('an expired token gets a 407 inside the tunnel and the tunnel ends', async () => {
  const { token } = (await gw.mint('researcher', 'agent', 1));
  const t = await tunnelTls(gw.proxyAddress, token, 'api.github.com', gatehouseCa);
  await new Promise((resolve) => t.once('close', resolve));
  assert.equal(t.destroyed, true, 'the tunnel is cut when the token expires');
});

test('Python requests with REQUESTS_CA_BUNDLE, when Python and requests are present', async (t) => {
  const probe = spawnSync('python3', ['-c', 'import requests'], { encoding: 'utf8' });
  if (probe.status !== 0) return t.diagnostic('python3 with requests is not installed: covered by curl and undici');
  const { token } = (await gw.mint('researcher'));
  const script = 'import requests,sys\nr=requests.get("https://api.github.com/repos/acme/docs")\nd=requests.delete("https://api.github.com/repos/acme/docs")\nprint(r.status_code, d.status_code, "ghp_" in r.text)';
  const proxy = gw.proxyUrl(token);
  const { stdout } = await run('python3', ['-c', script], { env: { PATH: process.env.PATH ?? '', HTTPS_PROXY: proxy, REQUESTS_CA_BUNDLE: join(dir, 'ca.pem') }, timeout: 15_000 });
  assert.equal(stdout.trim(), '200 403 False');
});
