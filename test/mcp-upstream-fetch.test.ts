// The upstream MCP transports' fetch (node:http behind the fetch interface): what the SDK relies on, against a real server.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { nodeFetch } from '../src/adapters/mcp/upstream/http-fetch.ts';

async function serve(handler: (req: IncomingMessage, res: ServerResponse, body: string) => void) {
  const sockets = new Set<unknown>();
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    handler(req, res, Buffer.concat(chunks).toString());
  });
  server.on('connection', (s) => sockets.add(s));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`, sockets, close: () => { server.closeAllConnections(); server.close(); } };
}

test('a POST carries its headers and body; the answer reads as JSON; keep-alive reuses one connection', async () => {
  const srv = await serve((req, res, body) => {
    res.setHeader('content-type', 'application/json');
    res.setHeader('mcp-session-id', 's1');
    res.end(JSON.stringify({ method: req.method, session: req.headers['mcp-session-id'], type: req.headers['content-type'], body }));
  });
  try {
    for (let i = 0; i < 3; i++) {
      const headers = new Headers({ 'content-type': 'application/json', 'mcp-session-id': 'abc' });
      const r = await nodeFetch(srv.url, { method: 'POST', headers, body: JSON.stringify({ n: i }) });
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('mcp-session-id'), 's1');
      assert.deepEqual(await r.json(), { method: 'POST', session: 'abc', type: 'application/json', body: `{"n":${i}}` });
    }
    assert.equal(srv.sockets.size, 1, 'the three requests shared one connection');
  } finally {
    srv.close();
  }
});

test('an empty 202 has no body to read and frees its connection; an error status keeps its text', async () => {
  let n = 0;
  const srv = await serve((_req, res) => {
    if (n++ === 0) { res.statusCode = 202; res.end(); return; }
    res.statusCode = 404;
    res.end('no such session');
  });
  try {
    const accepted = await nodeFetch(srv.url, { method: 'POST', body: '{}' });
    assert.equal(accepted.status, 202);
    assert.equal(accepted.body, null);
    const missing = await nodeFetch(srv.url, { method: 'POST', body: '{}' });
    assert.equal(missing.ok, false);
    assert.equal(await missing.text(), 'no such session');
    assert.equal(srv.sockets.size, 1);
  } finally {
    srv.close();
  }
});

test('a redirect is returned as it came, never followed (the SDK decides what to follow)', async () => {
  const srv = await serve((_req, res) => { res.writeHead(307, { location: 'http://127.0.0.2:1/elsewhere' }); res.end(); });
  try {
    const r = await nodeFetch(srv.url, { method: 'POST', body: '{}', redirect: 'manual' });
    assert.equal(r.status, 307);
    assert.equal(r.headers.get('location'), 'http://127.0.0.2:1/elsewhere');
  } finally {
    srv.close();
  }
});

test('aborting ends a streamed body being read; an aborted signal refuses at once; no listener stays behind', async () => {
  const srv = await serve((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: {"a":1}\n\n');
  });
  try {
    const controller = new AbortController();
    const r = await nodeFetch(srv.url, { method: 'GET', signal: controller.signal });
    const reader = r.body!.getReader();
    assert.match(new TextDecoder().decode((await reader.read()).value), /data: \{"a":1\}/);
    controller.abort(new Error('session closed'));
    await assert.rejects(reader.read());
    await assert.rejects(nodeFetch(srv.url, { signal: controller.signal }), /session closed/);
  } finally {
    srv.close();
  }
  const done = await serve((_req, res) => res.end('ok'));
  try {
    const signal = new AbortController().signal;
    let listeners = 0;
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    signal.addEventListener = ((...a: Parameters<typeof add>) => { listeners++; add(...a); }) as typeof add;
    signal.removeEventListener = ((...a: Parameters<typeof remove>) => { listeners--; remove(...a); }) as typeof remove;
    for (let i = 0; i < 5; i++) assert.equal(await (await nodeFetch(done.url, { method: 'POST', body: '{}', signal })).text(), 'ok');
    await new Promise((r) => setImmediate(r));
    assert.equal(listeners, 0, 'each exchange took its abort listener away');
  } finally {
    done.close();
  }
});
