// The test tool server over real HTTP on a free loopback port: streamable HTTP at /mcp, legacy SSE at /sse + /messages.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { toolsServer } from './mcp-tools-server.mjs';

export interface HttpToolServer {
  url: string;
  /** Headers of every request received (to check injected credentials). */
  seen: IncomingMessage['headers'][];
  close(): Promise<void>;
}

export async function httpToolServer(opts: { name?: string; state?: string; calls?: string } = {}): Promise<HttpToolServer> {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const sse = new Map<string, SSEServerTransport>();
  const sockets = new Set<Socket>();
  const seen: IncomingMessage['headers'][] = [];
  // `crash` over HTTP: every connection is cut, as when the server process dies.
  const onCrash = () => { for (const s of sockets) s.destroy(); };
  const make = () => toolsServer({ ...opts, onCrash });

  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    seen.push(req.headers);
    const url = new URL(req.url ?? '/', 'http://x');
    try {
      if (url.pathname === '/mcp') {
        const id = req.headers['mcp-session-id'];
        let transport = typeof id === 'string' ? sessions.get(id) : undefined;
        if (!transport) {
          if (id !== undefined) { res.writeHead(404).end(); return; }
          transport = new StreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID(), onsessioninitialized: (sid) => { sessions.set(sid, transport!); } });
          transport.onclose = () => { if (transport!.sessionId) sessions.delete(transport!.sessionId); };
          await make().connect(transport);
        }
        await transport.handleRequest(req, res);
      } else if (url.pathname === '/sse' && req.method === 'GET') {
        const transport = new SSEServerTransport('/messages', res);
        sse.set(transport.sessionId, transport);
        res.on('close', () => sse.delete(transport.sessionId));
        await make().connect(transport);
      } else if (url.pathname === '/messages' && req.method === 'POST') {
        const transport = sse.get(url.searchParams.get('sessionId') ?? '');
        if (!transport) { res.writeHead(404).end(); return; }
        await transport.handlePostMessage(req, res);
      } else res.writeHead(404).end();
    } catch (err) {
      if (!res.headersSent) res.writeHead(500).end(String(err));
    }
  });
  server.on('connection', (s: Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    async close() {
      for (const t of [...sessions.values(), ...sse.values()]) await t.close().catch(() => {});
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
