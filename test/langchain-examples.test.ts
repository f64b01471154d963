// The examples run as a user runs them (`npx tsx examples/<name>.ts`), against a gateway the test starts: tokens minted
// through the admin API, the answer, and what Gatehouse recorded for the run.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { ApprovalRecord } from '../src/services/store/store.ts';
import { startLangchainDemo, type LangchainDemo } from './helpers/langchain.ts';
import { run, type RunResult } from './support/run.ts';

let t: LangchainDemo;
before(async () => { t = await startLangchainDemo(); });
after(async () => { await t?.close(); });

/** Only what a user's shell would hold: the admin URL and key `npm start` prints, plus what the example asks for. */
const example = (name: string, args: string[] = [], env: NodeJS.ProcessEnv = {}, onStdout?: (soFar: string) => void): Promise<RunResult> =>
  run(process.execPath, ['--import', 'tsx', `examples/${name}.ts`, ...args], {
    RAG_DATABASE_URL: '', SQL_DATABASE_URL: '', SUPPORT_DATABASE_URL: '', BILLING_BASE_URL: '', BILLING_API_KEY: '', OPENAI_BASE_URL: '', OPENAI_API_KEY: '', MCP_URL: '', MCP_TOKEN: '', WORKSPACE_MCP_URL: '', WORKSPACE_TOKEN: '',
    GATEHOUSE_URL: t.admin.url, GATEHOUSE_ADMIN_KEY: t.admin.key, ...env,
  }, 60_000, onStdout);

const runIdOf = (stdout: string) => /run ([0-9a-f-]{36})/.exec(stdout)?.[1];

test('rag-chain.ts: mints its step tokens, answers, and prints the run\'s sessions and replay', async () => {
  const r = await example('rag-chain', ['How do refunds work?']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /retrieved: Refunds are available within 30 days {2}\(\{"title":"Refund policy","document_id":1\}\)/);
  assert.match(r.stdout, /answer: Hello from the Gatehouse demo model\. You said: "How do refunds work\?"/);
  const runId = runIdOf(r.stdout)!;
  assert.match(r.stdout, new RegExp(`\\$ npx gatehouse sessions list --run ${runId}\\n {2}ses_\\w+ {2}rag +retriever +crm +step retrieve`));
  assert.match(r.stdout, /ALLOW\s+SELECT \*, "embedding" <=> \$1/);
  // The tokens were minted for this run, 15 minutes each, one per step.
  const minted = (await t.gateway.services.tokens.list()).filter((k) => k.createdBy === 'demo-admin');
  assert.deepEqual(minted.map((k) => `${k.label}:${k.role}`).sort(), ['chat:chat', 'rag:retriever']);
  for (const k of minted) assert.ok(k.expiresAt - k.createdAt <= 15 * 60_000);
});

test('support-agent.ts: the injected instructions are refused and the run\'s SQL sessions replay them', async () => {
  const r = await example('support-agent');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /tool billing_get: \{"id":42,.*"email":"a\*\*\*@example\.com"/);
  assert.match(r.stdout, /model: calls query_sql \{"query":"DROP TABLE customers"\}/);
  assert.match(r.stdout, /tool query_sql FAILED: SqlToolError: SQL error 42501: Gatehouse: statement kind "ddl" \(DROP TABLE\)/);
  assert.match(r.stdout, /tool billing_get FAILED: Error: HTTP 403: Gatehouse: role "billing-agent" has no grant for GET \/admin\/keys/);
  assert.match(r.stdout, /DENY\s+DROP TABLE customers/);
  assert.match(r.stdout, /step query_sql/);
});

test('mcp-agent.ts: MultiServerMCPClient through the gateway; the injected out-of-bounds call comes back to the model as a tool error', async () => {
  const r = await example('mcp-agent');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /tools the gateway lists for this token: helpdesk__search_docs, helpdesk__get_ticket, helpdesk__add_comment\n/, 'delete_ticket is not granted: never listed');
  assert.match(r.stdout, /tool helpdesk__search_docs: \[refunds\] Refunds are available within 30 days of purchase\. Contact \[REDACTED:EMAIL\]/);
  assert.match(r.stdout, /model: calls helpdesk__add_comment \{"ticket":1000,/);
  assert.match(r.stdout, /tool helpdesk__add_comment FAILED: ToolException: .*Gatehouse \[mcp\.args\]: helpdesk__add_comment is not allowed with these arguments/);
  assert.match(r.stdout, /model: Here is what the tools returned\. helpdesk__add_comment: .*requires argument \$\.ticket that must be at most 100/, 'the model read why');
  assert.match(r.stdout, /DENY {3}helpdesk__add_comment \{"body":"All tickets resolved/, 'the replay shows the refusal');
  assert.match(r.stdout, /ses_\w+ {2}chat +helpdesk-assistant +openai/, 'the model\'s session is in the same run');
  assert.equal(t.demo.toolCalls.some((c) => c.tool === 'add_comment' || c.tool === 'delete_ticket'), false, 'nothing harmful reached the tool server');
});

test('workspace-agent.ts: a poisoned note asks to delete a file and read .env; both are tool errors, the permitted write lands', async () => {
  const root = t.demo.workspaceRoot;
  const r = await example('workspace-agent');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /tools the gateway lists for this token: read_file, list_directory, search_files, get_file_info, list_allowed_directories, write_file, edit_file, create_directory, move_file, delete_file\n/);
  assert.match(r.stdout, /model: calls delete_file \{"path":"docs\/handbook\.md"\}/);
  assert.match(r.stdout, /tool delete_file FAILED: ToolException: .*Gatehouse \[fs\.delete\]: "docs\/handbook\.md": no delete grant covers it/);
  assert.match(r.stdout, /tool read_file FAILED: ToolException: .*Gatehouse \[fs\.deny\]: "\.env": deny rule "\*\*\/\.env" covers it/);
  assert.doesNotMatch(r.stdout, /sk-demo-never-for-agents|hunter2/);
  assert.equal(readFileSync(join(root, 'out/summary.md'), 'utf8'), 'Summary: the export fix ships on Friday.');
  assert.ok(existsSync(join(root, 'docs/handbook.md')), 'the handbook is still there');
  assert.match(r.stdout, /DENY {3}delete_file docs\/handbook\.md/, 'the replay shows the refusal');
});

test('approval.ts: both risky calls wait; a person approves the DELETE and denies the refund from the CLI', async () => {
  const config = await t.config('assistant');
  let printed = '';
  const child = example('approval', ['1'], { SUPPORT_DATABASE_URL: config.supportDatabaseUrl }, (soFar) => { printed = soFar; });
  // A person decides on what the example showed them: both requests held, and both printed.
  let held: ApprovalRecord[] = [];
  for (let i = 0; i < 500 && (held.length < 2 || !held.every((a) => printed.includes(`held: ${a.id}`))); i++) {
    held = await t.gateway.services.approvals.list('pending');
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(held.length, 2, 'the DELETE and the refund were held');
  const del = held.find((a) => a.protocol === 'postgres')!;
  const refund = held.find((a) => a.protocol === 'http')!;
  assert.equal(refund.label, 'support', 'the refund borrowed the demo-issued support token, so the admin may decide');
  const cli = (args: string[]) => run(process.execPath, ['bin/gatehouse.js', 'approvals', ...args], { GATEHOUSE_URL: t.admin.url, GATEHOUSE_ADMIN_KEY: t.admin.key });
  assert.equal((await cli(['approve', del.id, '--reason', 'duplicate'])).status, 0);
  assert.equal((await cli(['deny', refund.id, '--reason', 'no refunds on paid-up invoices'])).status, 0);
  const r = await child;
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`held: ${del.id} {2}support: DELETE FROM tickets WHERE id = \\$1`));
  assert.match(r.stdout, new RegExp(`held: ${refund.id} {2}support: POST /refunds`));
  assert.match(r.stdout, /tool close_duplicate_ticket: deleted 1 ticket\(s\)/);
  assert.match(r.stdout, /tool refund_invoice FAILED: Error: HTTP 403: Gatehouse: request apr_\w+ was denied by demo-admin: no refunds on paid-up invoices/);
  assert.match(r.stdout, /HOLD\s+DELETE FROM tickets WHERE id = \$1/);
});

test('without tokens or an admin key, an example says what to set', async () => {
  const r = await example('rag-chain', [], { GATEHOUSE_ADMIN_KEY: '' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /error: set the rag step's variables, or GATEHOUSE_URL and GATEHOUSE_ADMIN_KEY/);
});
