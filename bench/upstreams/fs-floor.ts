// The floor for the filesystem bench: a bare MCP server (the SDK, streamable HTTP) with read_file and write_file as
// plain fs calls on a directory — no token, no confinement, no audit. What MCP itself costs, for Gatehouse to be compared with.
// Usage: node --import tsx bench/upstreams/fs-floor.ts <port> <root>
import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';

const root = process.argv[3];
const sessions = new Map<string, StreamableHTTPServerTransport>();
const schema = { type: 'object' as const, properties: { path: { type: 'string' }, content: { type: 'string' } }, required: ['path'] };

function server() {
  const s = new Server({ name: 'fs-floor', version: '1' }, { capabilities: { tools: {} } });
  s.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: [{ name: 'read_file', inputSchema: schema }, { name: 'write_file', inputSchema: schema }],
  }));
  s.setRequestHandler(CallToolRequestSchema, async (req) => {
    const args = req.params.arguments as { path: string; content?: string };
    if (req.params.name === 'read_file') return { content: [{ type: 'text', text: await readFile(join(root, args.path), 'utf8') }] };
    await writeFile(join(root, args.path), args.content ?? '');
    return { content: [{ type: 'text', text: 'ok' }] };
  });
  return s;
}

createServer(async (req, res) => {
  const id = req.headers['mcp-session-id'];
  let transport = typeof id === 'string' ? sessions.get(id) : undefined;
  if (!transport) {
    const fresh: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID(), onsessioninitialized: (sid) => { sessions.set(sid, fresh); } });
    fresh.onclose = () => { if (fresh.sessionId) sessions.delete(fresh.sessionId); };
    await server().connect(fresh);
    transport = fresh;
  }
  await transport.handleRequest(req, res);
}).listen(Number(process.argv[2]), '127.0.0.1', () => process.send?.('ready'));
