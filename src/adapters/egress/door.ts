// The proxy's front door: a strict HTTP/1.1 parser that takes CONNECT (HTTPS) and absolute-form requests (plain HTTP),
// refuses ambiguous framing, giant heads and slow clients, and hands each request on before any byte leaves.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { sendJson } from '../kit/http/reply.ts';
import { answerClientError, drainHttp, framingProblem, METHODS } from '../kit/http/server.ts';
import { answerRaw, errorBody } from './reply.ts';
import { listenOn } from '../kit/listen.ts';

export interface DoorHandlers {
  /** A CONNECT: `socket` has left the HTTP server; `head` holds bytes the agent sent after the request head. */
  tunnel(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void>;
  /** An absolute-form request with unambiguous framing. */
  request(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

export interface DoorTimeouts {
  /** For the request head (slow clients): answered 408. */
  headerMs: number;
  idleMs: number;
  /** Told of each head that came too slowly, for the audit: no token is known yet, only the client's address. */
  onHeaderTimeout(client: string): void;
}

export interface ProxyServer {
  server: Server;
  address: string;
  /** Stops accepting; requests in flight finish (with `Connection: close`), tunnels run until either side ends them. */
  drain(): Promise<void>;
  close(): Promise<void>;
}

/** The largest request head accepted; a bigger one is answered 431. */
const MAX_HEAD_BYTES = 32 * 1024;

export async function startProxyServer(listen: string, t: DoorTimeouts, handlers: DoorHandlers, onError: (err: Error) => void): Promise<ProxyServer> {
  const tunnels = new Set<Socket>();
  let draining = false;
  const server = createServer({
    insecureHTTPParser: false,
    joinDuplicateHeaders: false,
    // The target's authority is in the request line (CONNECT host:port, http://host/...); a Host header is checked, not needed.
    requireHostHeader: false,
    maxHeaderSize: MAX_HEAD_BYTES,
    headersTimeout: t.headerMs,
    // Bodies stream for as long as they move; the idle timeout, not a total, ends a stalled one.
    requestTimeout: 0,
    keepAliveTimeout: 5_000,
    // How often Node looks for heads that are too slow: often enough that `headersTimeout` means what it says.
    connectionsCheckingInterval: Math.max(50, Math.min(1000, t.headerMs / 4)),
  }, (req, res) => {
    if (draining) res.shouldKeepAlive = false;
    const problem = framingProblem(req);
    if (problem) {
      res.shouldKeepAlive = false;
      return sendJson(res, 400, errorBody('request.framing', problem), { connection: 'close' });
    }
    if (!METHODS.has(req.method ?? '')) {
      return sendJson(res, 405, errorBody('request.method', `method ${req.method} is not proxied (allowed: CONNECT, ${[...METHODS].join(', ')})`));
    }
    req.socket.setTimeout(t.idleMs);
    handlers.request(req, res).catch((err: Error) => {
      onError(err);
      if (!res.headersSent) sendJson(res, 500, errorBody('internal', 'internal error'), { connection: 'close' });
      else res.destroy();
    });
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') t.onHeaderTimeout(socket.remoteAddress ?? 'unknown');
    answerClientError(err, socket);
  });
  server.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    tunnels.add(socket);
    socket.once('close', () => tunnels.delete(socket));
    // The HTTP server drops its own error handling from a CONNECT's socket: a reset before the tunnel has handlers must
    // end this socket, not the process.
    socket.on('error', () => socket.destroy());
    const problem = framingProblem(req);
    if (problem) return answerRaw(socket, 400, 'request.framing', problem);
    handlers.tunnel(req, socket, head).catch((err: Error) => {
      onError(err);
      answerRaw(socket, 500, 'internal', 'internal error');
    });
  });
  // A protocol switch through a plain request would carry bytes no decision has seen; WebSockets go through CONNECT.
  server.on('upgrade', (_req: IncomingMessage, socket: Socket) => answerRaw(socket, 501, 'request.upgrade', 'protocol upgrades are not proxied as plain requests: clients tunnel WebSockets through CONNECT'));
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
      for (const socket of tunnels) socket.destroy();
    }),
  };
}
