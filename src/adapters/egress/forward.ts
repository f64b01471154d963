// Plain HTTP through the proxy: an absolute-form request (`GET http://host/path`) is re-framed and sent over a socket
// to the checked address; the response comes back re-framed too, so neither side's framing reaches the other.
import { request, type ClientRequest, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { clientResponseHeaders, connectionNamed, isHop } from '../kit/http/hop.ts';
import { bodyDeadline, bodyTimeoutReason } from '../kit/http/deadline.ts';
import { sendJson } from '../kit/http/reply.ts';
import { Relay } from '../kit/http/relay.ts';
import type { Cutoff } from '../kit/http/upstream.ts';
import { formatEndpoint, parseAuthority, type Endpoint, type Parsed } from './host.ts';
import { errorBody } from './reply.ts';

export interface AbsoluteTarget {
  target: Endpoint;
  /** Origin-form path and query, as sent upstream. */
  path: string;
}

/**
 * Reads an absolute-form request target. Only `http://` (HTTPS goes through CONNECT); no credentials in the authority
 * (`http://allowed.example@other.example/` reads differently to different parsers), no fragment.
 */
export function parseAbsoluteTarget(raw: string): Parsed<AbsoluteTarget> {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(raw);
  if (!scheme) {
    return { ok: false, reason: raw.startsWith('/') ? 'this is a forward proxy: send absolute-form requests (http://host/path), as clients do with HTTP_PROXY set' : 'the request target is not an absolute http:// URL' };
  }
  if (scheme[1].toLowerCase() !== 'http') return { ok: false, reason: `${scheme[1]}:// is not proxied as a plain request (HTTPS goes through CONNECT, as clients do with HTTPS_PROXY set)` };
  const rest = raw.slice(scheme[0].length);
  const cut = rest.search(/[/?#]/);
  const authority = cut < 0 ? rest : rest.slice(0, cut);
  let path = cut < 0 ? '/' : rest.slice(cut);
  if (authority.includes('@')) return { ok: false, reason: 'credentials in a proxied URL (user@host) are refused' };
  if (path.includes('#')) return { ok: false, reason: 'a request target must not contain a fragment (#)' };
  if (path.startsWith('?')) path = '/' + path;
  const endpoint = parseAuthority(authority, 80);
  return endpoint.ok ? { ok: true, value: { target: endpoint.value, path } } : endpoint;
}

/**
 * A Host header that disagrees with the target (the absolute URL's, or the tunnel's) would let a server route the request
 * to another site. `port` is the scheme's own: what a Host header without one means.
 */
export function hostHeaderProblem(host: string | undefined, target: Endpoint, port = 80): string | undefined {
  if (host === undefined) return undefined;
  const parsed = parseAuthority(host, port);
  if (parsed.ok && parsed.value.host.name === target.host.name && parsed.value.port === target.port) return undefined;
  return `the Host header ("${host}") does not name the request target (${formatEndpoint(target)})`;
}

/** The request headers sent on: hop-by-hop ones, proxy credentials, Gatehouse's own and any carrying the token dropped. */
export function plainRequestHeaders(incoming: IncomingHttpHeaders, target: Endpoint, secret: string, port = 80): OutgoingHttpHeaders {
  const named = connectionNamed(incoming);
  const out: OutgoingHttpHeaders = {};
  for (const name in incoming) {
    const value = incoming[name];
    if (value === undefined || isHop(name, named) || name === 'host' || name === 'expect' || name.startsWith('x-gatehouse-')) continue;
    if (typeof value === 'string' ? value.includes(secret) : value.some((v) => v.includes(secret))) continue;
    out[name] = value;
  }
  const shown = formatEndpoint(target);
  out.host = target.port === port ? shown.slice(0, shown.lastIndexOf(':')) : shown;
  return out;
}

export interface PlainForward {
  req: IncomingMessage;
  res: ServerResponse;
  to: AbsoluteTarget;
  /** The agent's token: never sent on, whatever header carries it. */
  secret: string;
  dial(): Promise<Socket>;
  meter(bytes: number): void;
  cutoff: Cutoff;
  /** The upstream's answer, and each later byte, must come within this. */
  idleMs: number;
  /** The request body must have arrived this long after the head. */
  bodyMs: number;
}

export interface PlainOutcome {
  status?: number;
  up: number;
  down: number;
  error?: string;
}

export async function forwardPlain(f: PlainForward): Promise<PlainOutcome> {
  const clearDeadline = bodyDeadline(f.req, f.bodyMs, f.cutoff);
  try {
    return await exchange(f);
  } finally {
    clearDeadline();
  }
}

async function exchange(f: PlainForward): Promise<PlainOutcome> {
  const outcome: PlainOutcome = { up: 0, down: 0 };
  const { req, res } = f;
  const shown = formatEndpoint(f.to.target);
  let upstream: ClientRequest | undefined;
  // A cut (revocation, the client gone, max_bytes, a body too slow) ends both sides; only a slow body is answered, 408.
  f.cutoff.onCut(() => {
    upstream?.destroy();
    if (f.cutoff.reason !== bodyTimeoutReason(f.bodyMs) || res.headersSent) return void res.destroy();
    res.shouldKeepAlive = false;
    sendJson(res, 408, errorBody('request.timeout', f.cutoff.reason));
  });
  res.once('close', () => { if (!res.writableFinished) f.cutoff.cut('the client went away'); });
  const fail = (status: 502 | 504, code: string, message: string) => {
    outcome.error = f.cutoff.reason !== undefined ? `cut: ${f.cutoff.reason}` : message;
    if (f.cutoff.reason === undefined) sendJson(res, status, errorBody(code, message));
    return outcome;
  };
  let socket: Socket;
  try {
    socket = await f.dial();
  } catch (err) {
    return fail(502, 'upstream.connect', `cannot connect to ${shown}: ${(err as Error).message}`);
  }
  if (f.cutoff.reason !== undefined) {
    socket.destroy();
    return fail(502, 'aborted', 'cut');
  }
  const headers = plainRequestHeaders(req.headers, f.to.target, f.secret);
  const hasBody = req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined;
  if (hasBody && req.headers['content-length'] === undefined) headers['transfer-encoding'] = 'chunked';
  const up = request({ method: req.method, path: f.to.path, headers, setHost: false, createConnection: () => socket });
  upstream = up;
  socket.setTimeout(f.idleMs, () => up.destroy(Object.assign(new Error(`${shown} sent nothing for ${f.idleMs} ms`), { code: 'ETIMEDOUT' })));
  const answered = new Promise<IncomingMessage>((resolve, reject) => {
    up.once('response', resolve);
    up.once('error', reject);
  });
  req.on('data', (chunk: Buffer) => { outcome.up += chunk.length; f.meter(chunk.length); });
  if (hasBody) pipeline(req, up).catch((err: Error) => up.destroy(err));
  else up.end();

  let answer: IncomingMessage;
  try {
    answer = await answered;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return fail(e.code === 'ETIMEDOUT' ? 504 : 502, e.code === 'ETIMEDOUT' ? 'upstream.timeout' : 'upstream.error', `${shown} failed: ${e.message}`);
  }
  outcome.status = answer.statusCode;
  res.writeHead(answer.statusCode ?? 502, clientResponseHeaders(answer.headers));
  const relay = new Relay(answer, res, {
    steps: [{ push: (chunk) => { f.meter(chunk.length); return chunk; }, end: () => '' }],
    idleMs: f.idleMs,
    onIdle: () => new Error(`${shown} stalled for ${f.idleMs} ms`),
  });
  try {
    await relay.done;
  } catch (err) {
    outcome.error = f.cutoff.reason !== undefined ? `cut: ${f.cutoff.reason}` : (err as Error).message;
    up.destroy();
    res.destroy();
  }
  outcome.down = relay.bytes;
  return outcome;
}
