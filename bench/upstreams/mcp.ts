// A small local MCP tool server for the MCP bench: one `lookup` tool answering a short JSON text, over streamable HTTP.
// Usage: node --import tsx bench/upstreams/mcp.ts <port>
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';

const answer = JSON.stringify({ id: 42, amount: 129.0, currency: 'EUR', status: 'paid', note: 'thank you for your business' });
const sessions = new Map<string, StreamableHTTPServerTransport>();

function server() {
  const s = new Server({ name: 'bench', version: '1' }, { capabilities: { tools: {} } });
  s.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: [{ name: 'lookup', description: 'Looks an invoice up.', inputSchema: { type: 'object', properties: { id: { type: 'number' } }, required: ['id'] } }],
  }));
  s.setRequestHandler(CallToolRequestSchema, async () => ({ content: [{ type: 'text', text: answer }] }));
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
