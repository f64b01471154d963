// The served directory in the conformance suite: a temporary workspace as the "upstream", the SDK's own client as the
// agent. What reaches the disk is observed through the jail's seam (called just before a name is opened).
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { seams } from '../../src/adapters/filesystem/jail.ts';
import { makeWorkspace, type Workspace } from '../support/workspace.ts';
import type { Agent, Answer, Driver } from './driver.ts';
import { until } from './http.ts';

const HELD = 'out/reports/conformance.md';
const LIVE = 'docs/live.md';
let ws: Workspace;
let written = 0;
let liveStarted = 0;
/** Releases the calls parked in the seam (the live traffic) when the suite ends. */
let release: () => void = () => {};

const answer = (r: unknown): Answer => {
  const result = r as CallToolResult;
  return result.isError ? { ok: false, refusal: (result.content as { text: string }[]).map((c) => c.text).join('\n') } : { ok: true };
};

export const filesystem: Driver = {
  name: 'filesystem',
  async setup() {
    ws = makeWorkspace('gatehouse-conformance-fs-');
    writeFileSync(ws.at(LIVE), 'a read that is held open until the gateway cuts it');
    const parked = new Promise<void>((resolve) => { release = resolve; });
    seams.race = async (stage, path) => {
      if (stage === 'opening' && path === HELD) written++;
      // The live traffic: a read the gate let through, parked between its check and its use.
      if (stage === 'checked' && path === LIVE) {
        liveStarted++;
        await parked;
      }
    };
    return `
connections:
  workspace:
    kind: filesystem
    root: ${JSON.stringify(ws.root)}
    listen: 127.0.0.1:0
    approval_wait_ms: 5000
roles:
  agent:
    workspace:
      read: ["docs/**"]
      write: ["out/**"]
      approve: ["write out/reports/**"]
`;
  },
  async teardown() {
    release();
    seams.race = undefined;
    rmSync(ws.base, { recursive: true, force: true });
  },
  async connect(address, token, tags) {
    const client = new Client({ name: 'conformance', version: '1' });
    const transport = new StreamableHTTPClientTransport(new URL(`http://${address}/mcp`), {
      requestInit: { headers: { Authorization: `Bearer ${token.token}`, 'X-Gatehouse-Run': tags.run, 'X-Gatehouse-Step': tags.step } },
    });
    await client.connect(transport);
    const call = (name: string, args: Record<string, unknown>) => client.callTool({ name, arguments: args }, undefined, { timeout: 20_000 });
    return {
      async allowed() {
        const a = answer(await call('read_file', { path: 'docs/guide.md' }));
        if (!a.ok) throw new Error(a.refusal);
      },
      held: async () => answer(await call('write_file', { path: HELD, content: 'conformance' })),
      live() {
        const before = liveStarted;
        const ended = call('read_file', { path: LIVE }).then(answer, (err: Error) => ({ ok: false as const, refusal: err.message }));
        return { started: until(() => liveStarted > before), ended };
      },
      async close() {
        await transport.terminateSession().catch(() => undefined);
        await client.close();
      },
    } satisfies Agent;
  },
  authRefusal(outcome) {
    assert.ok(outcome instanceof StreamableHTTPError, `an HTTP refusal of the MCP request, got ${String(outcome)}`);
    assert.equal(outcome.code, 401);
    const body = JSON.parse(outcome.message.slice(outcome.message.indexOf('{')));
    assert.match(body.error.data.rule, /^token\./);
    return body.error.message;
  },
  forwardedHeld: async () => written,
};
