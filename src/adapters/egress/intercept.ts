// TLS interception, the tunnel handler that takes the splice's place on an intercepting connection: it answers the
// CONNECT, presents a leaf minted for the CONNECT host (the ClientHello must name that host), offers only http/1.1, and
// hands the decrypted stream to a strict HTTP/1.1 server whose every request is judged on its own (see inner.ts).
import { createServer, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { answerClientError } from '../kit/http/server.ts';
import type { Ca } from './ca.ts';
import { formatEndpoint } from './host.ts';
import { serveInner, type InnerDeps, type TunnelState, type TunnelContext } from './inner.ts';
import { answerRaw } from './reply.ts';
import { checkServerName, type TunnelHandler, type TunnelOutcome } from './tunnel.ts';
import { TunnelAgent } from './upstream-tls.ts';

const ESTABLISHED = 'HTTP/1.1 200 Connection established\r\n\r\n';
/** The largest request head accepted inside a tunnel, as at the proxy's front door. */
const MAX_HEAD_BYTES = 32 * 1024;
/** setTimeout's ceiling: a token that lives longer is cut by a later check, not this timer. */
const MAX_TIMER = 2 ** 31 - 1;

export interface Interceptor {
  /** The handler for one allowed tunnel of this token's step. */
  handler(ctx: TunnelContext): TunnelHandler;
  close(): void;
}

export function interceptor(ca: Ca, roots: string[] | undefined, deps: InnerDeps): Interceptor {
  const tunnels = new WeakMap<Socket, TunnelState>();
  // One parser for every tunnel: decrypted streams are handed to it as connections.
  const inner = createServer({ insecureHTTPParser: false, joinDuplicateHeaders: false, requireHostHeader: true, maxHeaderSize: MAX_HEAD_BYTES, requestTimeout: 0 }, (req, res) => {
    const state = tunnels.get(req.socket);
    if (!state) return void res.destroy();
    serveInner(state, req, res, deps).catch((err: Error) => {
      deps.log.error({ err, connection: deps.connection }, 'intercepted request failed');
      res.destroy();
    });
  });
  inner.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => answerClientError(err, socket));
  // Inside a tunnel the agent speaks to one site: no nested tunnels, no protocol switch nobody judged.
  inner.on('connect', (_req: IncomingMessage, socket: Socket) => answerRaw(socket, 405, 'request.method', 'CONNECT inside an intercepted tunnel is refused'));
  inner.on('upgrade', (_req: IncomingMessage, socket: Socket) => answerRaw(socket, 501, 'request.upgrade', 'protocol upgrades (WebSockets) inside an intercepted tunnel are not inspected, so they are refused; list the host in pass_through to tunnel it uninspected'));

  return {
    close: () => inner.close(),
    handler: (ctx) => async (t) => {
      const outcome: TunnelOutcome = { up: 0, down: 0, detail: { inspected: true, requests: 0 } };
      const { host } = t.target;
      let context;
      try {
        context = await ca.contextFor(host.name, host.kind === 'ip');
      } catch (err) {
        outcome.error = `no certificate for ${host.name}: ${(err as Error).message}`;
        answerRaw(t.client, 500, 'internal', 'the interception certificate could not be made');
        return outcome;
      }
      const agent = new TunnelAgent(t.target, t.dial, roots, deps.connectTimeoutMs);
      const state: TunnelState = { ctx, tunnel: t, agent, requests: 0, base: new URL(`https://${formatEndpoint(t.target)}`) };
      t.client.write(ESTABLISHED);
      if (t.head.length) t.client.unshift(t.head);
      const refuse = (rule: string, message: string) => {
        outcome.refused ??= { rule, message };
        tls.destroy();
      };
      const tls = new TLSSocket(t.client, {
        isServer: true, secureContext: context, ALPNProtocols: ['http/1.1'],
        // The name the agent's TLS asks for must be the CONNECT host: no fronting through an allowed host.
        SNICallback: (name, done) => {
          const problem = checkServerName({ kind: 'hello', sni: name, ech: false }, t.target);
          if (!problem) return done(null, context);
          outcome.refused ??= { rule: 'egress.sni', message: problem };
          done(new Error(problem));
        },
      });
      return new Promise<TunnelOutcome>((resolve) => {
        const handshake = setTimeout(() => refuse('egress.handshake', `no TLS handshake within ${t.helloMs} ms`), t.helloMs);
        const left = ctx.token.expiresAt - Date.now();
        const expiry = left < MAX_TIMER ? setTimeout(() => t.cutoff.cut('the token expired'), Math.max(0, left)) : undefined;
        tls.once('secure', () => {
          clearTimeout(handshake);
          outcome.sni = tls.servername || undefined;
          if (host.kind === 'name' && !tls.servername) return refuse('egress.sni', `the ClientHello names no server (SNI) on a tunnel to ${formatEndpoint(t.target)}: refused`);
          // Offered only http/1.1; a client that insisted on another protocol (h2) is not understood, so refused.
          if (tls.alpnProtocol && tls.alpnProtocol !== 'http/1.1') return refuse('egress.alpn', `the agent negotiated ${tls.alpnProtocol}; only http/1.1 is spoken inside an intercepted tunnel`);
          tls.setTimeout(t.idleMs, () => tls.destroy());
          tunnels.set(tls, state);
          inner.emit('connection', tls);
        });
        tls.on('error', (err) => {
          outcome.error ??= `tls: ${err.message}`;
          tls.destroy();
        });
        t.cutoff.onCut(() => {
          outcome.error ??= `cut: ${t.cutoff.reason}`;
          tls.destroy();
          t.client.destroy();
          agent.destroy();
        });
        t.client.once('close', () => {
          clearTimeout(handshake);
          clearTimeout(expiry);
          agent.destroy();
          outcome.up = t.client.bytesRead;
          outcome.down = t.client.bytesWritten;
          outcome.detail = { inspected: true, requests: state.requests, ...(tls.alpnProtocol ? { alpn: tls.alpnProtocol } : {}) };
          resolve(outcome);
        });
      });
    },
  };
}
