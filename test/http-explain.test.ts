// `gatehouse policy explain` for HTTP requests and LLM calls, run as the real CLI against a config file.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-explain-'));
const config = join(dir, 'gatehouse.yaml');
writeFileSync(config, `
connections:
  billing: { kind: http, listen: 127.0.0.1:18081, upstream: "http://127.0.0.1:9000" }
  openai: { kind: llm, listen: 127.0.0.1:18082, upstream: "https://api.openai.com/v1" }
roles:
  support:
    billing:
      allow: ["GET /invoices/*", { rule: POST /refunds, body: { $.amount: { max: 100 } } }]
      mask: { $.customer.email: partial }
    openai: { models: [gpt-4o-mini], tools: [lookup], max_tokens: 100, max_tokens_mode: reject }
`);
after(() => rmSync(dir, { recursive: true, force: true }));

const explain = async (...args: string[]) => {
  try {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'policy', 'explain', '--config', config, '--role', 'support', ...args]);
    return { code: 0, stdout };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout + e.stderr };
  }
};

test('http: --request shows the verdict and the rule, with the path normalised first', async () => {
  let r = await explain('--connection', 'billing', '--request', 'GET /invoices/42');
  assert.equal(r.code, 0, r.stdout);
  assert.match(r.stdout, /ALLOW {2}GET \/invoices\/42\n {7}by GET \/invoices\/\*; obligations: \{"mask"/);
  r = await explain('--connection', 'billing', '--request', 'GET /invoices/../admin');
  assert.equal(r.code, 1);
  assert.match(r.stdout, /DENY .*no grant for GET \/admin .*\[http\.allow\]/s);
  r = await explain('--connection', 'billing', '--request', 'POST /refunds', '--body', '{"amount":500}');
  assert.match(r.stdout, /at most 100 \[http\.constraint\]/);
  r = await explain('--connection', 'billing', '--request', 'get /invoices/1');
  assert.match(r.stdout, /case-sensitive/);
  r = await explain('--connection', 'billing');
  assert.equal(r.code, 2);
  assert.match(r.stdout, /--request "METHOD \/path" is required/);
});

test('llm: --model (and --tool, --max-tokens) show the verdict', async () => {
  let r = await explain('--connection', 'openai', '--model', 'gpt-4o-mini', '--tool', 'lookup');
  assert.equal(r.code, 0, r.stdout);
  assert.match(r.stdout, /ALLOW {2}gpt-4o-mini with tools lookup\n {7}by model gpt-4o-mini/);
  r = await explain('--connection', 'openai', '--model', 'gpt-4o');
  assert.equal(r.code, 1);
  assert.match(r.stdout, /model "gpt-4o" is not granted .*\[llm\.models\]/);
  r = await explain('--connection', 'openai', '--model', 'gpt-4o-mini', '--max-tokens', '500', '--json');
  assert.equal(JSON.parse(r.stdout).statements[0].verdict.rule, 'llm.max_tokens');
});
