// The agent-facing MCP endpoint answers a POST in one write: headers, the SSE event and the stream's end together; a
// stream with nothing to say yet still sends its headers promptly (a call held for approval, progress to come).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { coalesceWrites } from '../src/adapters/kit/mcp/coalesce.ts';

async function rawExchange(respond: (res: ServerResponse) => void): Promise<{ chunks: { at: number; text: string }[] }> {
  const server = createServer((_req, res) => respond(coalesceWrites(res)));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
  const started = performance.now();
  const chunks: { at: number; text: string }[] = [];
  socket.on('data', (c: Buffer) => chunks.push({ at: performance.now() - started, text: c.toString() }));
  socket.write('POST /mcp HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}');
  await new Promise<void>((resolve) => socket.on('data', () => { if (chunks.map((c) => c.text).join('').endsWith('0\r\n\r\n')) resolve(); }));
  socket.destroy();
  server.close();
  return { chunks };
}

test('headers flushed early, one event and the end leave in a single write', async () => {
  const { chunks } = await rawExchange((res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.flushHeaders();
    // The answer comes a moment later (the upstream call), as the SDK writes it: one event, then the stream closes.
    setTimeout(() => {
      res.write('event: message\ndata: {"jsonrpc":"2.0","id":1,"result":{}}\n\n');
      void Promise.resolve().then(() => res.end());
    }, 5);
  });
  assert.equal(chunks.length, 1, `arrived in ${chunks.length} pieces: ${JSON.stringify(chunks.map((c) => c.text))}`);
  assert.match(chunks[0].text, /^HTTP\/1\.1 200 OK\r\n[\s\S]*content-type: text\/event-stream[\s\S]*data: \{"jsonrpc"[\s\S]*0\r\n\r\n$/);
});

test('a stream with nothing to say yet sends its headers within a short while, and its events after', async () => {
  const { chunks } = await rawExchange((res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.flushHeaders();
    setTimeout(() => {
      res.write('event: message\ndata: {"progress":1}\n\n');
      res.end();
    }, 400);
  });
  assert.ok(chunks.length >= 2, 'headers first, the rest later');
  assert.match(chunks[0].text, /^HTTP\/1\.1 200 OK/);
  assert.doesNotMatch(chunks[0].text, /progress/);
  assert.ok(chunks[0].at < 300, `headers came after ${chunks[0].at.toFixed(0)} ms`);
  assert.match(chunks.slice(1).map((c) => c.text).join(''), /"progress":1[\s\S]*0\r\n\r\n$/);
});
