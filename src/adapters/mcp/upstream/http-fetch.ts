// The fetch the upstream MCP transports use: Node's own HTTP client behind the fetch interface the SDK asks for.
//
// The global fetch (undici's fetch algorithm: Request objects, header validation, an async-iterable body written in
// several socket writes, a listener left on the session's signal per request) cost more CPU per tools/call than the
// rest of the upstream leg. node:http with keep-alive sockets does one write per request and nothing the SDK does not
// read. The SDK calls it with `redirect: 'manual'` and follows redirects itself (within the origin only), so this never
// follows one: a 3xx is returned as it came.
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';

/**
 * Idle keep-alive sockets are closed after this long, before the usual server keep-alive timeout (Node's 5 s), so a
 * request is not written onto a socket the server is closing.
 */
const IDLE_SOCKET_MS = 4000;
const agents = {
  'http:': new http.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS }),
  'https:': new https.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS }),
};

export const nodeFetch: FetchLike = (input, init = {}) => new Promise<Response>((resolve, reject) => {
  const url = new URL(input);
  const signal = init.signal ?? undefined;
  if (signal?.aborted) return reject(signal.reason);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return reject(new TypeError(`cannot fetch ${url.protocol} URLs`));
  const method = (init.method ?? 'GET').toUpperCase();
  const body = requestBody(init.body);
  const headers: Record<string, string> = {};
  new Headers(init.headers).forEach((value, name) => { headers[name] = value; });
  if (body !== undefined) headers['content-length'] = String(body.byteLength);

  const send = url.protocol === 'https:' ? https.request : http.request;
  const req = send(url, { method, headers, agent: agents[url.protocol] }, (res) => {
    const status = res.statusCode ?? 0;
    const received = new Headers();
    for (let i = 0; i < res.rawHeaders.length; i += 2) received.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
    // An empty answer (a 202 to a notification) is drained here, so its socket goes back to the pool.
    const empty = method === 'HEAD' || status === 204 || status === 304 || res.headers['content-length'] === '0';
    if (empty) res.resume();
    try {
      resolve(new Response(empty ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), { status, statusText: statusText(res.statusMessage), headers: received }));
    } catch (err) {
      res.destroy();
      reject(err);
    }
  });
  // Aborting (the session closed) ends the request, or the body being read; the listener goes with the exchange.
  const abort = () => req.destroy(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
  signal?.addEventListener('abort', abort, { once: true });
  req.once('close', () => signal?.removeEventListener('abort', abort));
  req.once('error', reject);
  req.end(body);
});

function requestBody(body: RequestInit['body']): Buffer | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  throw new TypeError('only string and byte bodies are sent upstream');
}

/** Response rejects a reason phrase that is not a token sequence; a server's odd phrase is dropped, not fatal. */
const statusText = (message: string | undefined) => (message && /^[\t\x20-\x7e\x80-\xff]*$/.test(message) ? message : '');
