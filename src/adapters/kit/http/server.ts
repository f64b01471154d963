// The HTTP front door both HTTP-speaking adapters share: a strict parser, refusals of ambiguous framing, clear 400s.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { listenOn } from '../listen.ts';

/** Methods Gatehouse forwards. TRACE (echoes credentials), CONNECT (tunnels) and WebDAV extensions are refused. */
export const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** Why llhttp refused a request, in words an agent developer can act on. */
const PARSER_ERRORS: Record<string, string> = {
  HPE_INVALID_METHOD: 'invalid method: methods are case-sensitive upper-case tokens (RFC 9110 §9.1), e.g. GET, not get',
  HPE_INVALID_TRANSFER_ENCODING: 'invalid or ambiguous Transfer-Encoding (with Content-Length, repeated, or chunked not last): refused to prevent request smuggling',
  HPE_UNEXPECTED_CONTENT_LENGTH: 'Content-Length repeated or sent with Transfer-Encoding: refused to prevent request smuggling',
  HPE_INVALID_CONTENT_LENGTH: 'invalid Content-Length: refused to prevent request smuggling',
  HPE_INVALID_HEADER_TOKEN: 'invalid header (bad character in a name, whitespace before the colon, or obsolete line folding)',
  HPE_INVALID_URL: 'invalid request target',
  HPE_INVALID_VERSION: 'invalid HTTP version or line ending',
  HPE_HEADER_OVERFLOW: 'request headers too large',
  HPE_INVALID_CHUNK_SIZE: 'invalid chunk size',
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 'chunk extensions too large',
};

/** Framing problems the parser lets through; any of them can desynchronise a chain of proxies, so all are refused. */
export function framingProblem(req: IncomingMessage): string | undefined {
  let cl = 0;
  let te = 0;
  let host = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i].toLowerCase();
    if (name === 'content-length') cl++;
    else if (name === 'transfer-encoding') te++;
    else if (name === 'host') host++;
  }
  if (cl > 1) return 'Content-Length appears more than once: refused to prevent request smuggling';
  if (te > 1) return 'Transfer-Encoding appears more than once: refused to prevent request smuggling';
  if (cl && te) return 'both Content-Length and Transfer-Encoding: refused to prevent request smuggling';
  if (host > 1) return 'Host appears more than once';
  const length = req.headers['content-length'];
  if (length !== undefined && !/^\d{1,15}$/.test(length)) return 'invalid Content-Length: refused to prevent request smuggling';
  const coding = req.headers['transfer-encoding'];
  if (coding !== undefined && coding.trim().toLowerCase() !== 'chunked') return `Transfer-Encoding "${coding}" is not accepted (only "chunked")`;
  return undefined;
}

function writeRaw(socket: Socket, status: string, body: object) {
  if (!socket.writable) return void socket.destroy();
  const text = JSON.stringify(body);
  socket.end(`HTTP/1.1 ${status}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`);
}

/** Answers a request the parser refused (malformed, headers too large, too slow) in words an agent developer can act on. */
export function answerClientError(err: NodeJS.ErrnoException, socket: Socket) {
  if (err.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
  writeRaw(socket, status, { error: { type: 'bad_request', code: err.code ?? 'parse', message: `Gatehouse: ${PARSER_ERRORS[err.code ?? ''] ?? 'malformed HTTP request'}` } });
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

export interface GatewayServer {
  server: Server;
  address: string;
  /** Stops accepting; requests in flight finish (answered with `Connection: close`); resolves once every connection closed. */
  drain(): Promise<void>;
  close(): Promise<void>;
}

/** While draining, how often connections that finished their request are closed (Node leaves them open for keep-alive). */
const DRAIN_SWEEP_MS = 100;

export interface ServerOptions {
  /** A request's headers must arrive within this (a slowloris that trickles headers gets 408). */
  headerTimeoutMs: number;
  /** Told of each header timeout, for the audit: no token is known yet, only the client address. */
  onHeaderTimeout(client: string): void;
}

/** Starts a strict HTTP/1.1 server on `listen`; requests reach `handler` only if their framing is unambiguous. */
export async function startServer(listen: string, handler: Handler, onError: (err: Error) => void, opts: ServerOptions): Promise<GatewayServer> {
  let draining = false;
  const server = createServer({
    insecureHTTPParser: false,
    requireHostHeader: true,
    joinDuplicateHeaders: false,
    headersTimeout: opts.headerTimeoutMs,
    // Node checks the header deadline on this interval (30 s by default), so it is checked often enough to mean it.
    connectionsCheckingInterval: Math.min(1_000, opts.headerTimeoutMs),
    // Streamed requests and responses can run long; the body deadline (deadline.ts), upstream timeouts and revocation bound them instead.
    requestTimeout: 0,
    keepAliveTimeout: 5_000,
    maxHeaderSize: 32 * 1024,
  }, (req, res) => {
    if (draining) res.shouldKeepAlive = false;
    const problem = framingProblem(req);
    if (problem) {
      res.shouldKeepAlive = false;
      const text = JSON.stringify({ error: { type: 'bad_request', code: 'request.framing', message: `Gatehouse: ${problem}` } });
      res.writeHead(400, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), connection: 'close' });
      return void res.end(text);
    }
    handler(req, res).catch((err: Error) => {
      onError(err);
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'application/json', connection: 'close' });
        res.end(JSON.stringify({ error: { type: 'internal', message: 'Gatehouse internal error' } }));
      } else res.destroy();
    });
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') opts.onHeaderTimeout(socket.remoteAddress ?? 'unknown');
    answerClientError(err, socket);
  });
  // Tunnels and protocol switches would carry bytes no grant has judged.
  server.on('connect', (_req, socket: Socket) => writeRaw(socket, '405 Method Not Allowed', { error: { type: 'bad_request', code: 'request.method', message: 'Gatehouse: CONNECT is not accepted' } }));
  server.on('upgrade', (_req, socket: Socket) => writeRaw(socket, '501 Not Implemented', { error: { type: 'bad_request', code: 'request.upgrade', message: 'Gatehouse: protocol upgrades (WebSocket, h2c) are not supported' } }));
  const address = await listenOn(server, listen);
  return {
    server,
    address,
    drain: () => {
      draining = true;
      return drainHttp(server);
    },
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

/** Stops accepting and lets requests in flight finish: keep-alive connections close as soon as they fall idle. */
export function drainHttp(server: Server): Promise<void> {
  return new Promise<void>((resolve) => {
    const sweep = setInterval(() => server.closeIdleConnections(), DRAIN_SWEEP_MS);
    server.close(() => {
      clearInterval(sweep);
      resolve();
    });
  });
}
