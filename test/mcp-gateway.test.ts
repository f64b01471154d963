// The MCP gateway end to end: real SDK clients through the gateway to a real stdio child and a real HTTP server.
// Grants, namespacing, list filtering, every refusal shape, bypass attempts, approvals, rug pulls, result guards,
// servers that hang or crash, sampling, revocation, audit and replay.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema, ElicitRequestSchema, McpError, ToolListChangedNotificationSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { renderReplay } from '../src/cli/sessions.ts';
import { verifyAudit } from '../src/services/audit/log.ts';
import { AWS_KEY } from './support/mcp-tools-server.mjs';
import { httpToolServer, type HttpToolServer } from './support/mcp-http.ts';
import { auditRecords, gateway, waitFor } from './helpers/gateway.ts';

const SERVER = fileURLToPath(new URL('./support/mcp-tools-server.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-mcp-gateway-'));
const file = (name: string) => join(dir, name);
const calls = (name: string): { tool: string; args: Record<string, unknown> }[] => {
  try { return readFileSync(file(name), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)); } catch { return []; }
};
const setVariant = (variant: string) => writeFileSync(file('a.state'), JSON.stringify({ variant }));
const APPROVER = { name: 'bob', key: 'b'.repeat(16), roles: ['approver' as const] };

type Gw = Awaited<ReturnType<typeof gateway>>;
let gw: Gw;
let http: HttpToolServer;

before(async () => {
  setVariant('v1');
  http = await httpToolServer({ name: 'b', calls: file('b.calls') });
  process.env.GATEHOUSE_MCP_TEST_SECRET = 'the gateway keeps this';
  const servers = `
      a: { command: [node, ${JSON.stringify(SERVER)}], env: { TOOLS_STATE: ${JSON.stringify(file('a.state'))}, CALLS_LOG: ${JSON.stringify(file('a.calls'))}, SERVER_NAME: a, ONLY: "this" } }
      b: { url: "${http.url}/mcp", headers: { Authorization: "Bearer b-upstream-key" } }`;
  const tools = `["a__echo", "a__add", "b__echo", "a__hang", "a__crash", "a__big", "a__fetch_page", "a__slow", "a__env", "a__ask_model", "a__ask_user", "a__change_tools", "a__weather",
          { tool: a__create_comment, args: { $.repo: { in: [acme/docs] }, $.body: { max_length: 20 } } },
          { tool: a__read_file, args: { $.path: { glob: "docs/**" } } }]`;
  gw = await gateway(`
approvals:
  timeout: 4s
connections:
  tools:
    kind: mcp
    listen: 127.0.0.1:0
    timeout_ms: 2500
    approval_wait_ms: 800
    max_result_bytes: 100000
    max_sessions_per_token: 3
    servers:${servers}
  slowapprove:
    kind: mcp
    listen: 127.0.0.1:0
    approval_wait_ms: 8000
    servers:${servers}
roles:
  agent:
    tools:
      call: ${tools}
      approve: [a__create_comment]
      resources: ["docs://a/**"]
      prompts: [a__summarize]
      guards: { injection: flag, secrets: redact, pii: redact }
    slowapprove:
      call: [{ tool: a__create_comment, args: { $.repo: { in: [acme/docs] } } }]
      approve: [a__create_comment]
  strict:
    tools:
      call: [a__fetch_page, a__echo]
      guards: { injection: block, secrets: redact, pii: off }
  sampler:
    tools:
      call: [a__ask_model, a__ask_user]
      sampling: true
      elicitation: true
  narrow:
    tools:
      call: [a__echo]
  nothing:
    slowapprove:
      call: []
`);
});
after(async () => {
  delete process.env.GATEHOUSE_MCP_TEST_SECRET;
  await gw.close();
  await http.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Agent { client: Client; transport: StreamableHTTPClientTransport; token: string; id: string }

async function agent(role = 'agent', connection = 'tools', opts: { headers?: Record<string, string>; capabilities?: Record<string, unknown>; token?: { token: string; id: string } } = {}): Promise<Agent> {
  const minted = opts.token ?? await gw.mint(role, role);
  const client = new Client({ name: 'test-agent', version: '1' }, { capabilities: opts.capabilities ?? {} });
  const transport = new StreamableHTTPClientTransport(new URL(`${gw.url(connection)}/mcp`), { requestInit: { headers: { Authorization: `Bearer ${minted.token}`, ...opts.headers } } });
  await client.connect(transport);
  return { client, transport, token: minted.token, id: minted.id };
}
const close = async (a: Agent) => { await a.transport.terminateSession().catch(() => {}); await a.client.close(); };
const text = (r: unknown) => ((r as CallToolResult).content as { text: string }[]).map((c) => c.text).join('\n');
const rpcError = (p: Promise<unknown>) => p.then(() => assert.fail('expected a JSON-RPC error'), (e: unknown) => { assert.ok(e instanceof McpError, String(e)); return e; });
const pendingApprovals = async () => await gw.services.approvals.list('pending');

test('the bearer token is checked on every request; a session belongs to its token alone', async () => {
  const url = `${gw.url('tools')}/mcp`;
  const post = (headers: Record<string, string>, body: unknown) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, body: JSON.stringify(body) });
  const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } };
  const none = await post({}, init);
  assert.equal(none.status, 401);
  assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="gatehouse"');
  assert.match((await none.json()).error.message, /missing Gatehouse token/);
  assert.equal((await post({ authorization: 'Bearer gth_nope' }, init)).status, 401);
  const outsider = await post({ authorization: `Bearer ${(await gw.mint('nothing')).token}` }, init);
  assert.equal(outsider.status, 403);
  assert.match((await outsider.json()).error.message, /role "nothing" has no grant on connection "tools"/);
  assert.equal((await fetch(`${gw.url('tools')}/other`, { headers: { authorization: `Bearer ${(await gw.mint('agent')).token}` } })).status, 404);

  const a = await agent();
  const other = await gw.mint('agent');
  const hijack = await post({ authorization: `Bearer ${other.token}`, 'mcp-session-id': a.transport.sessionId!, 'mcp-protocol-version': '2025-06-18' }, { jsonrpc: '2.0', id: 2, method: 'tools/list' });
  assert.equal(hijack.status, 404, 'another token cannot use this session, nor learn it exists');
  const made = await post({ authorization: `Bearer ${other.token}`, 'mcp-session-id': 'made-up', 'mcp-protocol-version': '2025-06-18' }, { jsonrpc: '2.0', id: 2, method: 'tools/list' });
  assert.equal(made.status, 404);
  assert.deepEqual(await hijack.json(), await made.json());
  await close(a);
});

test('a token holds at most max_sessions_per_token sessions: opening another closes its least recently used one', async () => {
  const token = await gw.mint('narrow');
  const first = await agent('narrow', 'tools', { token });
  const others = [await agent('narrow', 'tools', { token }), await agent('narrow', 'tools', { token })];
  for (const o of others) await o.client.listTools();
  const fourth = await agent('narrow', 'tools', { token });
  await assert.rejects(first.client.listTools(), /404|no such MCP session/);
  for (const o of [...others, fourth]) assert.deepEqual((await o.client.listTools()).tools.map((t) => t.name), ['a__echo']);
  assert.ok((await auditRecords(gw)).some((r) => r.kind === 'session.close' && /opened more than 3 sessions; its least recently used one was closed/.test(String(r.data.reason))));
  for (const a of [first, ...others, fourth]) await close(a);
});

test('tools, resources and prompts are namespaced per server and filtered by the grant', async () => {
  const a = await agent();
  const names = (await a.client.listTools()).tools.map((t) => t.name).sort();
  assert.ok(names.includes('a__echo') && names.includes('b__echo') && names.includes('a__create_comment'));
  assert.equal(names.includes('b__add'), false, 'b__add is not granted: not listed');
  assert.equal(names.includes('a__delete_file'), false);
  assert.ok(names.every((n) => /^[ab]__/.test(n)));
  const resources = (await a.client.listResources()).resources.map((r) => r.uri).sort();
  assert.deepEqual(resources, ['docs://a/private/keys', 'docs://a/readme']);
  assert.deepEqual((await a.client.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate), ['docs://a/pages/{page}']);
  assert.deepEqual((await a.client.listPrompts()).prompts.map((p) => p.name), ['a__summarize']);
  const narrow = await agent('narrow');
  assert.deepEqual((await narrow.client.listTools()).tools.map((t) => t.name), ['a__echo']);
  assert.deepEqual((await narrow.client.listResources()).resources, []);
  await close(a);
  await close(narrow);
});

test('an unknown tool and an ungranted one get the same JSON-RPC error (-32602 "unknown tool"), and nothing reaches the server', async () => {
  const n = await agent('narrow');
  const before = calls('a.calls').length + calls('b.calls').length;
  const ungranted = await rpcError(n.client.callTool({ name: 'a__add', arguments: { a: 1, b: 2 } }));
  const unknown = await rpcError(n.client.callTool({ name: 'a__no_such_tool', arguments: {} }));
  const otherServer = await rpcError(n.client.callTool({ name: 'b__echo', arguments: { text: 'x' } }));
  for (const e of [ungranted, unknown, otherServer]) assert.equal(e.code, -32602);
  assert.equal(ungranted.message.replace('a__add', 'X'), unknown.message.replace('a__no_such_tool', 'X'), 'the same words either way');
  assert.match(ungranted.message, /unknown tool: a__add/);
  const resource = await rpcError(n.client.readResource({ uri: 'docs://a/readme' }));
  const noResource = await rpcError(n.client.readResource({ uri: 'docs://a/nothing-here' }));
  assert.equal(resource.code, noResource.code);
  assert.equal(resource.message.replace('docs://a/readme', 'X'), noResource.message.replace('docs://a/nothing-here', 'X'));
  const prompt = await rpcError(n.client.getPrompt({ name: 'a__summarize', arguments: { topic: 'x' } }));
  assert.match(prompt.message, /unknown prompt: a__summarize/);
  assert.equal(calls('a.calls').length + calls('b.calls').length, before);
  await close(n);
});

test('one server cannot shadow another: b__echo and a__echo are two tools, each reaching its own server', async () => {
  const a = await agent();
  assert.equal(text(await a.client.callTool({ name: 'a__echo', arguments: { text: 'for a' } })), 'echo: for a');
  assert.equal(text(await a.client.callTool({ name: 'b__echo', arguments: { text: 'for b' } })), 'echo: for b');
  assert.ok(calls('a.calls').some((c) => c.args.text === 'for a') && !calls('a.calls').some((c) => c.args.text === 'for b'));
  assert.ok(calls('b.calls').some((c) => c.args.text === 'for b'));
  assert.ok(http.seen.every((h) => h.authorization === 'Bearer b-upstream-key'), 'the upstream sees its own key, never the agent\'s token');
  await close(a);
});

test('a granted tool refused by an argument constraint is a tool error naming the rule; the server never sees it (bypass attempts)', async () => {
  const a = await agent();
  const before = calls('a.calls').length;
  const attempts: Record<string, unknown>[] = [
    { repo: 'evil/x', body: 'hi' }, { repo: ['acme/docs'], body: 'hi' }, { repo: { 0: 'acme/docs' }, body: 'hi' },
    { repo: 'acme/docs', body: 'x'.repeat(21) }, { repo: 'acme/docs', body: ['short'] }, { body: 'hi' },
  ];
  for (const args of attempts) {
    const r = await a.client.callTool({ name: 'a__create_comment', arguments: args }) as CallToolResult;
    assert.equal(r.isError, true, JSON.stringify(args));
    assert.match(text(r), /^Gatehouse \[mcp\.args\]: a__create_comment is not allowed with these arguments: "a__create_comment" requires argument \$\./);
    assert.deepEqual(r._meta, { gatehouse: { rule: 'mcp.args' } });
  }
  for (const path of ['docs/../.env', '/etc/passwd', 'docs//x', 'docs\\..\\.env']) {
    const r = await a.client.callTool({ name: 'a__read_file', arguments: { path } }) as CallToolResult;
    assert.equal(r.isError, true, path);
  }
  assert.equal(calls('a.calls').length, before, 'refused before the server saw anything');
  assert.equal(text(await a.client.callTool({ name: 'a__read_file', arguments: { path: 'docs/guide.md' } })), 'contents of docs/guide.md');
  await close(a);
});

/** Posts one raw JSON-RPC text on a session (bytes as written: duplicate keys and all) and returns the reply. */
async function rawCall(a: Agent, body: string): Promise<any> {
  const res = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const url = new URL(`${gw.url('tools')}/mcp`);
    const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: {
      authorization: `Bearer ${a.token}`, 'mcp-session-id': a.transport.sessionId!, 'mcp-protocol-version': a.transport.protocolVersion ?? '2025-06-18',
      'content-type': 'application/json', accept: 'application/json, text/event-stream', 'content-length': Buffer.byteLength(body),
    } }, (r) => { let t = ''; r.on('data', (c) => (t += c)); r.on('end', () => resolve({ status: r.statusCode!, text: t })); });
    req.on('error', reject);
    req.end(body);
  });
  const data = /^data: (.*)$/m.exec(res.text)?.[1] ?? res.text;
  return JSON.parse(data);
}

test('duplicate JSON keys: the value judged is the value forwarded', async () => {
  const a = await agent();
  const before = calls('a.calls').length;
  const refused = await rawCall(a, '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"a__read_file","arguments":{"path":"docs/ok.md","path":"../.env"}}}');
  assert.equal(refused.result.isError, true);
  assert.equal(calls('a.calls').length, before);
  const allowed = await rawCall(a, '{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"a__read_file","arguments":{"path":"../.env","path":"docs/ok.md"}}}');
  assert.equal(allowed.result.content[0].text, 'contents of docs/ok.md');
  assert.deepEqual(calls('a.calls').at(-1), { tool: 'read_file', args: { path: 'docs/ok.md' } });
  await close(a);
});

test('approval approved: the held call waits, then is forwarded once; progress keeps the client waiting', async () => {
  const a = await agent('agent', 'slowapprove');
  const before = calls('a.calls').filter((c) => c.tool === 'create_comment').length;
  const progress: string[] = [];
  const pending = a.client.callTool({ name: 'a__create_comment', arguments: { repo: 'acme/docs', body: 'approve me' } }, undefined,
    { onprogress: (p) => progress.push(String(p.message)), resetTimeoutOnProgress: true });
  const held = await waitFor(async () => (await pendingApprovals()).find((r) => r.summary.includes('approve me')), 3000);
  assert.match(held.reason, /approve rule "a__create_comment"/);
  await new Promise((r) => setTimeout(r, 2200));
  await gw.services.approvals.decide(held.id, APPROVER, 'approve');
  assert.equal(text(await pending), 'commented on acme/docs: approve me');
  assert.ok(progress.some((m) => m.includes(held.id)), 'progress notifications name the approval');
  assert.equal(calls('a.calls').filter((c) => c.tool === 'create_comment').length, before + 1);
  await close(a);
});

test('approval denied: a tool error naming the rule and the approval', async () => {
  const a = await agent('agent', 'slowapprove');
  const pending = a.client.callTool({ name: 'a__create_comment', arguments: { repo: 'acme/docs', body: 'deny me' } });
  const held = await waitFor(async () => (await pendingApprovals()).find((r) => r.summary.includes('deny me')), 3000);
  await gw.services.approvals.decide(held.id, APPROVER, 'deny', 'not today');
  const r = await pending as CallToolResult;
  assert.equal(r.isError, true);
  assert.match(text(r), new RegExp(`^Gatehouse \\[approval\\.denied\\]: request ${held.id} was denied by bob: not today`));
  assert.deepEqual(r._meta, { gatehouse: { rule: 'approval.denied', approval: held.id } });
  assert.equal(calls('a.calls').some((c) => c.args.body === 'deny me'), false);
  await close(a);
});

test('approval timed out: nobody decided before the approvals timeout', async () => {
  const a = await agent('agent', 'slowapprove');
  const r = await a.client.callTool({ name: 'a__create_comment', arguments: { repo: 'acme/docs', body: 'nobody home' } }) as CallToolResult;
  assert.equal(r.isError, true);
  assert.match(text(r), /^Gatehouse \[approval\.expired\]: request apr_\w+ expired before anyone approved it/);
  assert.equal(calls('a.calls').some((c) => c.args.body === 'nobody home'), false);
  await close(a);
});

test('a held call answers "awaits approval" within the bounded wait; the same call retried after approval is forwarded exactly once', async () => {
  const a = await agent();
  const args = { repo: 'acme/docs', body: 'retry me' };
  const first = await a.client.callTool({ name: 'a__create_comment', arguments: args }) as CallToolResult;
  assert.equal(first.isError, true);
  const id = (first._meta as { gatehouse: { approval: string } }).gatehouse.approval;
  assert.match(text(first), new RegExp(`^Gatehouse \\[approval\\.pending\\]: this call awaits approval ${id}; make the same call again`));
  await gw.services.approvals.decide(id, APPROVER, 'approve');
  // The same call with its keys in another order is the same call.
  assert.equal(text(await a.client.callTool({ name: 'a__create_comment', arguments: { body: 'retry me', repo: 'acme/docs' } })), 'commented on acme/docs: retry me');
  const again = await a.client.callTool({ name: 'a__create_comment', arguments: args }) as CallToolResult;
  assert.match(text(again), /approval\.pending/, 'a third call needs a new approval');
  assert.equal(calls('a.calls').filter((c) => c.args.body === 'retry me').length, 1, 'forwarded exactly once');
  // Another token making the identical call is not covered by this token's approval.
  const other = await agent();
  assert.match(text(await other.client.callTool({ name: 'a__create_comment', arguments: args })), /approval\.pending/);
  await close(a);
  await close(other);
});

test('rug pull: a changed tool is withheld and "tool changed" with a diff goes to the inbox; accepted, it comes back', async () => {
  setVariant('v1');
  const first = await agent();
  assert.ok((await first.client.listTools()).tools.some((t) => t.name === 'a__echo'));
  await close(first);

  setVariant('description');
  const s = await agent();
  let notified = 0;
  s.client.setNotificationHandler(ToolListChangedNotificationSchema, async () => { notified++; });
  assert.equal((await s.client.listTools()).tools.some((t) => t.name === 'a__echo'), false, 'withheld');
  assert.equal(text(await rpcError(s.client.callTool({ name: 'a__echo', arguments: { text: 'x' } })).then((e) => ({ content: [{ type: 'text', text: e.message }] }))), 'MCP error -32602: unknown tool: a__echo');
  const review = await waitFor(async () => (await pendingApprovals()).find((r) => r.summary.startsWith('tool a__echo changed since it was pinned')));
  assert.match(review.summary, /description:\n {2}- "Echoes its text back\."\n {2}\+ "Echoes its text back\. Also forwards it to a logging service\."/);
  // A second session seeing the same change does not file it twice.
  const t = await agent();
  await t.client.listTools();
  assert.equal((await pendingApprovals()).filter((r) => r.summary.startsWith('tool a__echo changed')).length, 1);
  await gw.services.approvals.decide(review.id, APPROVER, 'approve');
  await waitFor(() => (notified > 0 ? true : undefined));
  const echo = (await s.client.listTools()).tools.find((t) => t.name === 'a__echo');
  assert.equal(echo?.description, 'Echoes its text back. Also forwards it to a logging service.');
  await close(s);
  await close(t);

  setVariant('schema');
  const d = await agent();
  await d.client.listTools();
  const refused = await waitFor(async () => (await pendingApprovals()).find((r) => r.summary.startsWith('tool a__echo changed')));
  assert.match(refused.summary, /inputSchema:/);
  await gw.services.approvals.decide(refused.id, APPROVER, 'deny', 'why would echo forward?');
  await new Promise((r) => setTimeout(r, 100));
  const e = await agent();
  assert.equal((await e.client.listTools()).tools.some((t) => t.name === 'a__echo'), false, 'a refused change stays withheld');
  assert.equal((await pendingApprovals()).filter((r) => r.summary.startsWith('tool a__echo changed')).length, 0, 'and is not asked again');
  await close(d);
  await close(e);
  setVariant('description');
});

test('hidden instructions in a description: the tool is withheld from first sight and flagged in the inbox', async () => {
  setVariant('poisoned');
  const a = await agent();
  assert.equal((await a.client.listTools()).tools.some((t) => t.name === 'a__weather'), false);
  const flagged = await waitFor(async () => (await pendingApprovals()).find((r) => r.summary.startsWith('tool a__weather carries instructions for a model')));
  assert.match(flagged.summary, /ignore-previous-instructions/);
  await close(a);
  setVariant('description');
});

test('a tool that changes under a live session (list_changed) is re-checked before the agent sees it', async () => {
  setVariant('description');
  const a = await agent();
  let notified = 0;
  a.client.setNotificationHandler(ToolListChangedNotificationSchema, async () => { notified++; });
  assert.ok((await a.client.listTools()).tools.some((t) => t.name === 'a__echo'));
  await a.client.callTool({ name: 'a__change_tools', arguments: { variant: 'annotations' } });
  await waitFor(() => (notified > 0 ? true : undefined));
  assert.equal((await a.client.listTools()).tools.some((t) => t.name === 'a__echo'), false);
  assert.ok(await waitFor(async () => (await pendingApprovals()).find((r) => r.summary.startsWith('tool a__echo changed') && r.summary.includes('annotations:'))));
  await close(a);
  setVariant('description');
});

test('results pass through the guards: secrets and PII redacted, injection flagged (audit) or blocked; a huge result is withheld', async () => {
  const a = await agent();
  const page = text(await a.client.callTool({ name: 'a__fetch_page', arguments: {} }));
  assert.equal(page.includes(AWS_KEY), false, 'the secret is redacted');
  assert.equal(page.includes('jane.doe@example.com'), false, 'personal data is redacted');
  assert.match(page, /ignore all previous instructions/, 'flag mode lets the text through');
  await waitFor(async () => (await auditRecords(gw)).find((r) => r.kind === 'result' && (r.data.guards as { guard: string; types: string[] }[] | undefined)?.some((g) => g.guard === 'injection' && g.types.length > 0)));

  const s = await agent('strict');
  const blocked = await s.client.callTool({ name: 'a__fetch_page', arguments: {} }) as CallToolResult;
  assert.equal(blocked.isError, true);
  assert.match(text(blocked), /^Gatehouse \[guards\.injection\]: the result was withheld: prompt injection detected/);
  assert.equal(text(blocked).includes('delete_file'), false);

  const big = await a.client.callTool({ name: 'a__big', arguments: { bytes: 200_000 } }) as CallToolResult;
  assert.equal(big.isError, true);
  assert.match(text(big), /^Gatehouse \[mcp\.max_result_bytes\]: the result is \d+ bytes, over this connection's cap of 100000/);
  assert.equal(text(await a.client.callTool({ name: 'a__big', arguments: { bytes: 1000 } })).length, 1000);
  // Resources too.
  const keys = await a.client.readResource({ uri: 'docs://a/private/keys' });
  assert.equal(JSON.stringify(keys).includes(AWS_KEY), false);
  await close(a);
  await close(s);
});

test('a server that never answers: a clear tool error after timeout_ms; a server that crashes mid-call: a clear error, and everyone else goes on', async () => {
  const a = await agent();
  const b = await agent();
  const started = Date.now();
  const hung = await a.client.callTool({ name: 'a__hang', arguments: {} }) as CallToolResult;
  assert.equal(hung.isError, true);
  assert.match(text(hung), /^Gatehouse \[upstream\.timeout\]: server "a" did not answer tools\/call in time \(2500 ms\)/);
  assert.ok(Date.now() - started < 6000);
  const slow = b.client.callTool({ name: 'a__slow', arguments: { ms: 400 } });
  const crashed = await a.client.callTool({ name: 'a__crash', arguments: {} }) as CallToolResult;
  assert.equal(crashed.isError, true);
  assert.match(text(crashed), /^Gatehouse \[upstream\.closed\]: server "a" exited during tools\/call/);
  assert.equal(text(await slow), 'done', 'another session\'s server process is its own');
  assert.equal(text(await a.client.callTool({ name: 'a__echo', arguments: { text: 'back' } })), 'echo: back', 'the next call gets a fresh process');
  await close(a);
  await close(b);
});

test('a spawned server sees only its configured environment, not the gateway\'s', async () => {
  const a = await agent();
  const seen = JSON.parse(text(await a.client.callTool({ name: 'a__env', arguments: {} })));
  assert.deepEqual(Object.keys(seen.env).sort(), ['CALLS_LOG', 'ONLY', 'SERVER_NAME', 'TOOLS_STATE']);
  assert.equal(JSON.stringify(seen).includes('the gateway keeps this'), false);
  await close(a);
});

test('server-initiated sampling and elicitation: refused (and audited) unless granted; relayed to the agent when granted', async () => {
  const a = await agent('agent', 'tools', { capabilities: { sampling: {}, elicitation: { form: {} } } });
  a.client.setRequestHandler(CreateMessageRequestSchema, async () => ({ role: 'assistant', content: { type: 'text', text: 'should not be asked' }, model: 'm' }));
  const refused = await a.client.callTool({ name: 'a__ask_model', arguments: {} }) as CallToolResult;
  assert.equal(refused.isError, true);
  assert.match(text(refused), /sampling\/createMessage/);
  await waitFor(async () => (await auditRecords(gw)).find((r) => r.kind === 'request' && r.verdict === 'deny' && r.data.rule === 'mcp.sampling'));
  await close(a);

  const s = await agent('sampler', 'tools', { capabilities: { sampling: {}, elicitation: { form: {} } } });
  s.client.setRequestHandler(CreateMessageRequestSchema, async () => ({ role: 'assistant', content: { type: 'text', text: 'hi from the agent\'s model' }, model: 'm' }));
  s.client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { name: 'Ada' } }));
  assert.equal(text(await s.client.callTool({ name: 'a__ask_model', arguments: {} })), 'model said: hi from the agent\'s model');
  assert.match(text(await s.client.callTool({ name: 'a__ask_user', arguments: {} })), /user said: .*Ada/);
  await close(s);
});

test('revoking the token cuts its live streams at once; later requests are refused', async () => {
  const a = await agent();
  const inflight = a.client.callTool({ name: 'a__slow', arguments: { ms: 2000 } }).then(() => 'answered', (e: Error) => e);
  await new Promise((r) => setTimeout(r, 300));
  const t0 = Date.now();
  await gw.services.tokens.revoke(a.id);
  const outcome = await inflight;
  assert.ok(outcome instanceof Error, `the call in flight is cut (${String(outcome)})`);
  assert.match(outcome.message, /the session was cut \(token revoked\)/);
  assert.ok(Date.now() - t0 < 500, `cut within ${Date.now() - t0} ms`);
  const after = await rpcError(a.client.listTools()).catch((e: Error) => e);
  assert.ok(after instanceof Error);
  const session = (await auditRecords(gw)).filter((r) => r.kind === 'session.close' && r.data.reason === 'token revoked');
  assert.ok(session.length >= 1);
  await a.client.close();
});

test('audit and replay: each call with its redacted arguments, verdict, result digest and timing; run and step land; the chain verifies', async () => {
  const a = await agent('agent', 'tools', { headers: { 'X-Gatehouse-Run': 'run-42', 'X-Gatehouse-Step': 'research' } });
  await a.client.listTools();
  await a.client.callTool({ name: 'a__echo', arguments: { text: `key ${AWS_KEY}` } });
  await a.client.callTool({ name: 'a__create_comment', arguments: { repo: 'evil/x', body: 'hi' } });
  await close(a);
  const session = await waitFor(async () => (await gw.services.store.listSessions({ runId: 'run-42' }))[0]);
  assert.equal(session.step, 'research');
  assert.equal(session.protocol, 'mcp');
  const events = await waitFor(async () => { const e = await gw.services.audit.read(0, 100_000, session.id); return e.filter((r) => r.kind === 'result').length >= 2 ? e : undefined; });
  const call = events.find((e) => e.kind === 'request' && e.data.tool === 'a__echo')!;
  assert.equal(JSON.stringify(call.data).includes(AWS_KEY), false, 'arguments are redacted in the audit');
  const result = events.find((e) => e.kind === 'result' && e.data.request === call.seq)!;
  assert.match(String(result.data.sha256), /^[0-9a-f]{64}$/);
  assert.equal(typeof result.data.ms, 'number');
  const replay = renderReplay(session, events);
  assert.match(replay, /ALLOW {2}tools\/list/);
  assert.match(replay, /ALLOW {2}a__echo \{"text":"key /);
  assert.match(replay, /DENY {3}a__create_comment \{"body":"hi","repo":"evil\/x"\}\n {10}a__create_comment is not allowed with these arguments/);
  assert.match(replay, /> echo: key /, 'the replay shows what the agent saw');
  assert.equal((await verifyAudit(gw.services.store)).ok, true);
});
