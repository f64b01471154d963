// `gatehouse mcp-stdio`: a client that only launches stdio servers reaches the MCP gateway, the token never on a command line.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { gateway } from './helpers/gateway.ts';
import { run } from './support/run.ts';

const SERVER = fileURLToPath(new URL('./support/mcp-tools-server.mjs', import.meta.url));
let gw: Awaited<ReturnType<typeof gateway>>;

before(async () => {
  gw = await gateway(`
connections:
  tools:
    kind: mcp
    listen: 127.0.0.1:0
    servers:
      a: { command: [node, ${JSON.stringify(SERVER)}] }
roles:
  agent:
    tools:
      call: [a__echo, { tool: a__add, args: { $.a: { max: 10 } } }]
`);
});
after(() => gw.close());

test('the bridge relays a whole session; the token comes from GATEHOUSE_TOKEN and is not on its command line', async () => {
  const { token } = await gw.mint('agent');
  const transport = new StdioClientTransport({
    command: process.execPath, args: ['bin/gatehouse.js', 'mcp-stdio', '--url', `${gw.url('tools')}/mcp`],
    env: { GATEHOUSE_TOKEN: token }, stderr: 'pipe',
  });
  const client = new Client({ name: 'stdio-only', version: '1' });
  await client.connect(transport);
  try {
    assert.deepEqual((await client.listTools()).tools.map((t) => t.name), ['a__echo', 'a__add']);
    assert.equal((((await client.callTool({ name: 'a__echo', arguments: { text: 'over stdio' } })) as CallToolResult).content[0] as { text: string }).text, 'echo: over stdio');
    const refused = await client.callTool({ name: 'a__add', arguments: { a: 11, b: 1 } }) as CallToolResult;
    assert.equal(refused.isError, true);
    await assert.rejects(client.callTool({ name: 'a__env', arguments: {} }), /unknown tool: a__env/);
    const cmdline = readFileSync(`/proc/${transport.pid}/cmdline`, 'utf8');
    assert.match(cmdline, /mcp-stdio/);
    assert.equal(cmdline.includes(token), false);
  } finally {
    await client.close();
  }
});

test('without GATEHOUSE_TOKEN the bridge refuses to start, and says where the token goes', async () => {
  const r = await run(process.execPath, ['bin/gatehouse.js', 'mcp-stdio', '--url', `${gw.url('tools')}/mcp`], { GATEHOUSE_TOKEN: '' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /set GATEHOUSE_TOKEN to the token \(it is never taken from the command line\)/);
  const flag = await run(process.execPath, ['bin/gatehouse.js', 'mcp-stdio', '--url', `${gw.url('tools')}/mcp`, '--token', 'x']);
  assert.equal(flag.status, 2, 'there is no --token option');
});

test('a revoked token: the agent\'s requests fail with the gateway\'s reason instead of hanging', async () => {
  const minted = await gw.mint('agent');
  await gw.services.tokens.revoke(minted.id);
  const transport = new StdioClientTransport({
    command: process.execPath, args: ['bin/gatehouse.js', 'mcp-stdio', '--url', `${gw.url('tools')}/mcp`], env: { GATEHOUSE_TOKEN: minted.token }, stderr: 'pipe',
  });
  const client = new Client({ name: 'stdio-only', version: '1' });
  await assert.rejects(client.connect(transport), /Gatehouse: .*401|revoked/);
  await client.close();
});
