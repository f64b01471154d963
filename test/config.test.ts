// The config contract: PRODUCT.md's example loads and means what it says; every mistake names its key and line.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lintConfig } from '../src/config/lint.ts';
import { ConfigError, lineOfPath, parseConfig } from '../src/config/load.ts';
import type { HttpGrant, LlmGrant, SqlGrant } from '../src/config/schema.ts';
import { parseDuration } from '../src/config/duration.ts';

export const productExample = `
admin:
  listen: 127.0.0.1:7070            # admin API + web console
  keys:                              # people and services that administer/approve
    - { name: alice, key: "\${GATEHOUSE_ADMIN_KEY}", roles: [admin, approver] }
store: sqlite:./gatehouse.db         # embedded default; postgres://... for several nodes

connections:
  crm:
    kind: postgres
    listen: 127.0.0.1:6432
    upstream: postgres://gatehouse:\${CRM_PASSWORD}@127.0.0.1:5432/crm
  billing:
    kind: http
    listen: 127.0.0.1:8081
    upstream: http://127.0.0.1:9000
    headers: { Authorization: "Bearer \${BILLING_KEY}" }
  openai:
    kind: llm                        # OpenAI-compatible; anthropic flavour too
    listen: 127.0.0.1:8082
    upstream: https://api.openai.com/v1
    headers: { Authorization: "Bearer \${OPENAI_API_KEY}" }

roles:
  retriever:
    crm:
      read: [documents, chunks]
      max_rows: 500
  support-writer:
    crm:
      read: [tickets, customers]
      write: [tickets]
      approve: [delete]              # a DELETE waits for a human
      mask: { customers.email: partial, customers.ssn: redact }
    billing:
      allow: ["GET /invoices/*", "POST /refunds"]
      approve: ["POST /refunds"]
  chat:
    openai:
      models: [gpt-4o-mini]
      max_tokens: 1024
      guards: { injection: block, secrets: redact, pii: redact }
`;

const env = { GATEHOUSE_ADMIN_KEY: 'k'.repeat(32), CRM_PASSWORD: 's3cret', BILLING_KEY: 'bill', OPENAI_API_KEY: 'sk-test' };

function problemsOf(yaml: string, e: NodeJS.ProcessEnv = env) {
  try {
    parseConfig(yaml, 'test.yaml', e);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${err}`);
    return err.problems;
  }
  assert.fail('config was accepted');
}

test('the PRODUCT.md example loads with secrets from the environment', () => {
  const c = parseConfig(productExample, 'g.yaml', env);
  assert.equal(c.admin.keys[0].key, env.GATEHOUSE_ADMIN_KEY);
  assert.equal(c.connections.crm.kind, 'postgres');
  assert.equal(c.connections.crm.upstream, 'postgres://gatehouse:s3cret@127.0.0.1:5432/crm');
  const writer = c.roles['support-writer'].crm as SqlGrant;
  assert.deepEqual(writer.read, ['tickets', 'customers']);
  assert.deepEqual(writer.approve, ['delete']);
  assert.deepEqual(writer.mask, { 'customers.email': 'partial', 'customers.ssn': 'redact' });
  assert.deepEqual((c.roles['support-writer'].billing as HttpGrant).allow, ['GET /invoices/*', 'POST /refunds']);
  assert.equal((c.roles.chat.openai as LlmGrant).max_tokens, 1024);
  assert.equal((c.roles.retriever.crm as SqlGrant).max_rows, 500);
  assert.deepEqual(lintConfig(c).filter((f) => f.severity === 'error'), []);
});

test('a missing environment variable names the key and line', () => {
  const problems = problemsOf(productExample, { ...env, CRM_PASSWORD: undefined });
  assert.deepEqual(problems, [{ path: 'connections.crm.upstream', line: 12, message: 'environment variable CRM_PASSWORD is not set' }]);
});

test('unknown keys, unknown connections and bad values each point at their line', () => {
  const yaml = productExample
    .replace('      max_rows: 500', '      max_rows: 500\n      raed: [x]')
    .replace('  chat:\n    openai:', '  chat:\n    opneai: {}\n    openai:')
    .replace('listen: 127.0.0.1:8081', 'listen: localhost');
  const problems = problemsOf(yaml);
  const byPath = Object.fromEntries(problems.map((p) => [p.path, p]));
  assert.match(byPath['roles.retriever.crm'].message, /unknown key: raed/);
  assert.equal(byPath['roles.retriever.crm'].line, 29);
  assert.match(byPath['roles.chat.opneai'].message, /unknown connection "opneai"/);
  assert.match(byPath['connections.billing.listen'].message, /host:port/);
  assert.equal(byPath['connections.billing.listen'].line, 15);
});

test('grant keys are validated against the connection kind', () => {
  const problems = problemsOf(productExample.replace('      models: [gpt-4o-mini]', '      read: [documents]'));
  assert.equal(problems[0].path, 'roles.chat.openai');
  assert.match(problems[0].message, /unknown key: read/);
});

test('YAML syntax errors carry a line', () => {
  const problems = problemsOf('admin:\n  listen: [unclosed\n');
  assert.ok(problems[0].line && problems[0].line >= 2, JSON.stringify(problems));
});

test('two listeners on one address are refused', () => {
  const problems = problemsOf(productExample.replace('listen: 127.0.0.1:8082', 'listen: 127.0.0.1:6432'));
  assert.equal(problems[0].path, 'connections.openai.listen');
  assert.match(problems[0].message, /already used by connections.crm.listen/);
});

test('lint finds grants that can never match', () => {
  const yaml = productExample
    .replace('      read: [documents, chunks]\n', '      read: [documents, chunks]\n      approve: [delete]\n      mask: { customers.email: hash }\n')
    .replace('"POST /refunds"]\n      approve', '"POST /refunds", "FETCH invoices"]\n      approve');
  const c = parseConfig(yaml, 'g.yaml', env);
  const findings = lintConfig(c);
  const paths = findings.map((f) => `${f.severity} ${f.path}`);
  assert.ok(paths.includes('error roles.retriever.crm.approve'), paths.join('\n'));
  assert.ok(paths.includes('warning roles.retriever.crm.mask.customers.email'), paths.join('\n'));
  assert.ok(paths.includes('error roles.support-writer.billing.allow.2'), paths.join('\n'));
  assert.equal(lineOfPath(yaml, 'roles.retriever.crm.approve'), 28);
});

test('durations', () => {
  assert.equal(parseDuration('15m'), 900);
  assert.equal(parseDuration('2h'), 7200);
  assert.equal(parseDuration('45'), 45);
  assert.throws(() => parseDuration('15 minutes'), /invalid duration/);
  assert.throws(() => parseDuration('0s'), /invalid duration/);
});
