// Units of egress interception: the CA's files (made, reloaded, refused when unsafe or wrong), leaf minting and caching,
// and the inspection rules compiled from a grant (what stops the start, what a request needs).
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadCa } from '../src/adapters/egress/ca.ts';
import { compileEgressGrant } from '../src/adapters/egress/grant.ts';
import { parseAuthority } from '../src/adapters/egress/host.ts';
import { compileInspection, decideInner, headersFor, type InnerFacts } from '../src/adapters/egress/inspection.ts';
import type { EgressRules } from '../src/adapters/egress/policy.ts';
import { egressFacts } from '../src/adapters/egress/facts.ts';
import { egressGrant } from '../src/config/schema.ts';
import { lintConfig } from '../src/config/lint.ts';
import { parseConfig } from '../src/config/load.ts';
import { makePki } from './support/egress.ts';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-ca-units-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const files = (name: string) => ({ cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) });

test('the CA is made once, reloaded after, and refused when its key is readable by others, missing its pair, or not its key', async () => {
  const f = files('ca');
  const made = await loadCa(f, 'connections.internet.ca');
  assert.equal(made.created, true);
  const cert = new X509Certificate(readFileSync(f.cert));
  assert.equal(cert.ca, true);
  const again = await loadCa(f, 'connections.internet.ca');
  assert.deepEqual([again.created, again.certPem], [false, made.certPem]);

  chmodSync(f.key, 0o644);
  await assert.rejects(loadCa(f, 'connections.internet.ca'), /connections\.internet\.ca\.key: .* is readable by others \(mode 644\): chmod 600 it/);
  chmodSync(f.key, 0o600);

  const lonely = files('lonely');
  writeFileSync(lonely.cert, made.certPem);
  await assert.rejects(loadCa(lonely, 'connections.internet.ca'), /lonely\.pem exists but .*lonely\.key does not/);

  const other = files('other');
  await loadCa(other, 'x');
  const mixed = { cert: f.cert, key: other.key };
  await assert.rejects(loadCa(mixed, 'connections.internet.ca'), /connections\.internet\.ca\.key: .* is not the private key of/);

  const pki = makePki(['leaf.example']);
  try {
    const leaf = files('leaf');
    writeFileSync(leaf.cert, pki.cert);
    writeFileSync(leaf.key, pki.key, { mode: 0o600 });
    await assert.rejects(loadCa(leaf, 'connections.internet.ca'), /connections\.internet\.ca\.cert: .* is not a CA certificate/);
    // A CA of the operator's own (an RSA or ECDSA key made elsewhere) is used as it is.
    const own = files('own');
    writeFileSync(own.cert, pki.ca);
    writeFileSync(own.key, readFileSync(join(pki.dir, 'ca.key')), { mode: 0o600 });
    const loaded = await loadCa(own, 'connections.internet.ca');
    assert.equal(loaded.created, false);
    assert.ok(await loaded.contextFor('api.example.com', false));
  } finally {
    pki.close();
  }
});

test('leaves are minted per host and cached: the same host gets the same context, another host its own', async () => {
  const ca = await loadCa(files('mint'), 'x');
  const a = ca.contextFor('a.example', false);
  assert.equal(ca.contextFor('a.example', false), a, 'cached while fresh');
  assert.notEqual(ca.contextFor('b.example', false), a);
  assert.ok(await ca.contextFor('203.0.113.9', true), 'an IP literal gets an IP subjectAltName');
});

const grant = (yaml: object) => egressGrant.parse(yaml);
const rulesFor = (raw: ReturnType<typeof grant>): EgressRules => ({ role: 'researcher', connection: 'internet', raw, grant: compileEgressGrant(raw), addresses: { allowPrivate: [], isSelf: () => false } });
const facts = (method: string, target: string, path: string, query: string | null = null): InnerFacts => {
  const t = parseAuthority(target, 443);
  assert.ok(t.ok);
  return { ...egressFacts('internet', method, t.value, path, 'https'), path, query };
};

test('inspection rules: an allow rule names METHOD host/path, its host must be granted, the first matching one decides', () => {
  const raw = grant({
    hosts: ['api.github.com', '*.example.com'],
    allow: ['GET api.github.com/repos/acme/*', { rule: 'POST api.github.com/search', query: { q: { max_length: 5 } } }, 'GET docs.example.com/**'],
    headers: { 'api.github.com': { Authorization: 'Bearer k' }, '*.example.com': { 'X-Key': 'w' } },
  });
  const rules = rulesFor(raw);
  const inspection = compileInspection(raw, rules.grant);
  assert.equal(decideInner(facts('GET', 'api.github.com:443', '/repos/acme/docs'), rules, inspection, 't').kind, 'allow');
  const del = decideInner(facts('DELETE', 'api.github.com:443', '/repos/acme/docs'), rules, inspection, 't');
  assert.equal(del.kind === 'deny' && del.rule, 'egress.allow');
  assert.match(del.kind === 'deny' ? del.message : '', /roles\.researcher\.internet\.allow needs one covering "DELETE api\.github\.com\/repos\/acme\/docs"/);
  const long = decideInner(facts('POST', 'api.github.com:443', '/search', 'q=toolong'), rules, inspection, 't');
  assert.equal(long.kind === 'deny' && long.rule, 'egress.constraint');
  assert.equal(decideInner(facts('GET', 'docs.example.com:443', '/a/b/c'), rules, inspection, 't').kind, 'allow');
  assert.equal(decideInner(facts('GET', 'gist.github.com:443', '/repos/acme/docs'), rules, inspection, 't').kind, 'deny', 'a rule is for its own host only');
  assert.deepEqual(headersFor(inspection, facts('GET', 'api.github.com:443', '/').target), { Authorization: 'Bearer k' });
  assert.deepEqual(headersFor(inspection, facts('GET', 'docs.example.com:443', '/').target), { 'X-Key': 'w' });
  assert.deepEqual(headersFor(inspection, facts('GET', 'example.com:443', '/').target), {}, 'a wildcard names subdomains only');

  assert.throws(() => compileInspection(grant({ hosts: ['api.github.com'], allow: ['GET gist.github.com/x'] }), compileEgressGrant(grant({ hosts: ['api.github.com'] }))), /names gist\.github\.com, which hosts does not grant/);
  assert.throws(() => compileInspection(grant({ hosts: ['api.github.com'], allow: ['GET /repos'] }), compileEgressGrant(grant({ hosts: ['api.github.com'] }))), /is not "METHOD host\/path"/);
  assert.throws(() => compileInspection(grant({ hosts: ['api.github.com'], allow: ['FETCH api.github.com/x'] }), compileEgressGrant(grant({ hosts: ['api.github.com'] }))), /METHOD one of/);
  const open = compileInspection(grant({ hosts: ['api.github.com'] }), compileEgressGrant(grant({ hosts: ['api.github.com'] })));
  assert.equal(decideInner(facts('DELETE', 'api.github.com:443', '/anything'), rulesFor(grant({ hosts: ['api.github.com'] })), open, 't').kind, 'allow', 'no allow rules: the host grant covers every request');
});

test('policy check: an intercepting grant without allow rules, and headers or rules for a pass_through host, are flagged', () => {
  const config = parseConfig(`
connections:
  internet: { kind: egress, listen: 127.0.0.1:3128, intercept: true, pass_through: [pinned.example.com] }
roles:
  open:
    internet: { hosts: [api.github.com] }
  pinned:
    internet:
      hosts: [pinned.example.com]
      allow: ["GET pinned.example.com/**"]
      headers: { pinned.example.com: { Authorization: "Bearer k" } }
`);
  const findings = lintConfig(config).map((f) => `${f.path}: ${f.message}`).join('\n');
  assert.match(findings, /roles\.open\.internet\.allow: no allow rules on an intercepting connection: every request to a granted host passes/);
  assert.match(findings, /roles\.pinned\.internet\.headers\.pinned\.example\.com: .* in pass_through: .* never sent/);
  assert.match(findings, /roles\.pinned\.internet\.hosts\.0: "pinned\.example\.com" is in pass_through: requests there are not judged/);
});
