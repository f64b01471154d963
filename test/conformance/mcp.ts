// The MCP gateway in the conformance suite: the test tool server over real HTTP as upstream, the SDK's own client as the agent.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { httpToolServer, type HttpToolServer } from '../support/mcp-http.ts';
import type { Agent, Answer, Driver } from './driver.ts';
import { until } from './http.ts';

let upstream: HttpToolServer;
let calls: string;
const seen = (): { tool: string }[] => {
  try { return readFileSync(calls, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)); } catch { return []; }
};

/** A tool result as the agent read it: a tool error carries the refusal (rule and message). */
const answer = (r: unknown): Answer => {
  const result = r as CallToolResult;
  return result.isError ? { ok: false, refusal: (result.content as { text: string }[]).map((c) => c.text).join('\n') } : { ok: true };
};

export const mcp: Driver = {
  name: 'mcp',
  async setup() {
    calls = join(mkdtempSync(join(tmpdir(), 'gatehouse-conformance-mcp-')), 'calls');
    upstream = await httpToolServer({ name: 'tools', calls });
    // The bounded wait outlasts the approvals timeout (2 s), so a held call ends as the approval does.
    return `
connections:
  tools:
    kind: mcp
    listen: 127.0.0.1:0
    approval_wait_ms: 5000
    servers:
      t: { url: "${upstream.url}/mcp" }
roles:
  agent:
    tools:
      call: [t__echo, t__slow, { tool: t__create_comment, args: { $.repo: { in: [acme/docs] } } }]
      approve: [t__create_comment]
`;
  },
  async teardown() {
    await upstream.close();
    rmSync(dirname(calls), { recursive: true, force: true });
  },
  async connect(address, token, tags) {
    const client = new Client({ name: 'conformance', version: '1' });
    const transport = new StreamableHTTPClientTransport(new URL(`http://${address}/mcp`), {
      requestInit: { headers: { Authorization: `Bearer ${token.token}`, 'X-Gatehouse-Run': tags.run, 'X-Gatehouse-Step': tags.step } },
    });
    await client.connect(transport);
    const call = (name: string, args: Record<string, unknown>) => client.callTool({ name, arguments: args }, undefined, { timeout: 20_000 });
    const agent: Agent = {
      async allowed() {
        const a = answer(await call('t__echo', { text: 'conformance' }));
        if (!a.ok) throw new Error(a.refusal);
      },
      held: async () => answer(await call('t__create_comment', { repo: 'acme/docs', body: 'conformance' })),
      live() {
        const before = seen().length;
        const ended = call('t__slow', { ms: 5000 }).then(answer, (err: Error) => ({ ok: false as const, refusal: err.message }));
        return { started: until(() => seen().slice(before).some((c) => c.tool === 'slow')), ended };
      },
      async close() {
        await transport.terminateSession().catch(() => undefined);
        await client.close();
      },
    };
    return agent;
  },
  authRefusal(outcome) {
    assert.ok(outcome instanceof StreamableHTTPError, `an HTTP refusal of the MCP request, got ${String(outcome)}`);
    assert.equal(outcome.code, 401);
    const body = JSON.parse(outcome.message.slice(outcome.message.indexOf('{')));
    assert.equal(body.error.code, -32000);
    assert.match(body.error.data.rule, /^token\./);
    return body.error.message;
  },
  forwardedHeld: async () => seen().filter((c) => c.tool === 'create_comment').length,
};
