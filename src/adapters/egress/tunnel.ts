// What happens to a tunnel once its CONNECT is allowed. `TunnelHandler` is the seam: the default checks the TLS server
// name and splices bytes both ways; a handler that terminates TLS (to judge the requests inside) can take its place.
import type { Socket } from 'node:net';
import type { Cutoff } from '../kit/http/upstream.ts';
import { readClientHello, type HelloRead } from './client-hello.ts';
import { formatEndpoint, parseHost, type Endpoint } from './host.ts';
import { answerRaw } from './reply.ts';

export interface Tunnel {
  /** The agent's socket, detached from the HTTP server, its CONNECT not yet answered. */
  client: Socket;
  /** Bytes the agent sent after the CONNECT head, already read. */
  head: Buffer;
  target: Endpoint;
  /** Connects to the address the decision checked (the proxy's one way out). */
  dial(): Promise<Socket>;
  /** Counts bytes against the token's budget (either way); the listener cuts the tunnel when it is used up. */
  meter(bytes: number): void;
  /** Revocation, shutdown, a budget used up: the handler ends everything at once when it fires. */
  cutoff: Cutoff;
  /** How long the agent may take to send its ClientHello. */
  helloMs: number;
  /** A tunnel with no byte either way for this long is closed. */
  idleMs: number;
}

export interface TunnelOutcome {
  /** Bytes agent → upstream and upstream → agent. */
  up: number;
  down: number;
  /** The server name the ClientHello asked for. */
  sni?: string;
  /** A refusal made inside the tunnel (after the CONNECT was allowed), e.g. a server name that is not the CONNECT host. */
  refused?: { rule: string; message: string };
  error?: string;
  /** More for the tunnel's result record (an intercepting handler: how many requests it judged). */
  detail?: Record<string, unknown>;
}

export type TunnelHandler = (tunnel: Tunnel) => Promise<TunnelOutcome>;

const ESTABLISHED = 'HTTP/1.1 200 Connection established\r\n\r\n';
const TLS_HANDSHAKE = 22;
/** TLS alerts (RFC 8446 §6): a fatal `unrecognized_name` tells a TLS client why in its own terms. */
const ALERT_UNRECOGNIZED_NAME = Buffer.from([21, 3, 3, 0, 2, 2, 112]);

/**
 * Whether a ClientHello may open a tunnel to `target`: its server name must be the CONNECT host (no fronting through an
 * allowed host), and present; a tunnel to an IP literal carries none, or that same address. Encrypted Client Hello is
 * refused, since it hides the name that would be checked.
 */
export function checkServerName(hello: HelloRead, target: Endpoint): string | undefined {
  if (hello.kind === 'more') return 'the ClientHello is incomplete';
  if (hello.kind === 'refuse') return hello.reason;
  if (hello.ech) return 'the ClientHello uses Encrypted Client Hello, which hides the server name from the check: refused';
  const shown = formatEndpoint(target);
  if (hello.sni === undefined) return target.host.kind === 'ip' ? undefined : `the ClientHello names no server (SNI) on a tunnel to ${shown}: refused`;
  const sni = parseHost(hello.sni);
  if (!sni.ok) return `the ClientHello's server name is invalid (${sni.reason})`;
  if (sni.value.name !== target.host.name) return `the ClientHello names ${sni.value.name}, but the tunnel was granted for ${shown}: refused (no fronting through an allowed host)`;
  return undefined;
}

/** The default handler: dial, answer 200, hold the agent's bytes until its server name is checked, then splice. */
export const spliceTunnel: TunnelHandler = async (t) => {
  const outcome: TunnelOutcome = { up: 0, down: 0 };
  const { client } = t;
  let upstream: Socket;
  try {
    upstream = await t.dial();
  } catch (err) {
    outcome.error = (err as Error).message;
    answerRaw(client, 502, 'upstream.connect', `cannot connect to ${formatEndpoint(t.target)}: ${outcome.error}`);
    return outcome;
  }
  return new Promise<TunnelOutcome>((resolve) => {
    let closed = 0;
    const finish = () => { if (++closed === 2) resolve(outcome); };
    const end = (why?: string) => {
      if (why && !outcome.error && !outcome.refused) outcome.error = why;
      client.destroy();
      upstream.destroy();
    };
    // One side gone: the other is ended gracefully (what is written still flushes); an idle timeout ends a half-open rest.
    client.once('close', () => { upstream.end(); finish(); });
    upstream.once('close', () => { client.end(); finish(); });
    client.on('error', (err) => end(`client: ${err.message}`));
    upstream.on('error', (err) => end(`upstream: ${err.message}`));
    for (const socket of [client, upstream]) socket.setTimeout(t.idleMs, () => end(`idle for ${t.idleMs} ms`));
    t.cutoff.onCut(() => end(`cut: ${t.cutoff.reason}`));
    if (t.cutoff.reason !== undefined) return;

    const count = (direction: 'up' | 'down') => (chunk: Buffer) => {
      outcome[direction] += chunk.length;
      t.meter(chunk.length);
    };
    client.write(ESTABLISHED);
    upstream.on('data', count('down'));
    upstream.pipe(client);

    // The agent's bytes wait here until they may go: a TLS ClientHello is read whole and its server name checked first.
    let held = t.head;
    let decided = false;
    // The ClientHello must come in time on port 443 (from the start) or once another port's first byte says TLS; a
    // non-TLS protocol on another granted port may wait for its server to speak first, for as long as it likes.
    let handshake: NodeJS.Timeout | undefined;
    const awaitHello = () => {
      handshake ??= setTimeout(() => refuse('egress.handshake', `no complete ClientHello within ${t.helloMs} ms`), t.helloMs);
    };
    const decide = () => {
      decided = true;
      clearTimeout(handshake);
      client.off('data', hold);
    };
    const refuse = (rule: string, message: string) => {
      decide();
      outcome.refused = { rule, message };
      if (held.length && held[0] === TLS_HANDSHAKE) client.write(ALERT_UNRECOGNIZED_NAME);
      client.end();
      upstream.destroy();
      client.setTimeout(1000, () => client.destroy()); // a client that never closes its side is not waited for
    };
    const release = () => {
      decide();
      count('up')(held);
      upstream.write(held);
      client.on('data', count('up'));
      client.pipe(upstream);
    };
    const judge = () => {
      if (decided || !held.length) return;
      // Port 443 carries TLS, whose server name is checked; another granted port may carry anything, TLS checked alike.
      if (t.target.port !== 443 && held[0] !== TLS_HANDSHAKE) return release();
      awaitHello();
      const hello = readClientHello(held);
      if (hello.kind === 'more') return;
      if (hello.kind === 'hello') outcome.sni = hello.sni;
      const problem = checkServerName(hello, t.target);
      if (problem) refuse('egress.sni', problem);
      else release();
    };
    const hold = (chunk: Buffer) => {
      held = held.length ? Buffer.concat([held, chunk]) : chunk;
      judge();
    };
    client.on('data', hold);
    if (t.target.port === 443) awaitHello();
    judge();
  });
};
