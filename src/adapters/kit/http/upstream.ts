// The upstream client both adapters use: one request, a deadline for the answer, a cutoff (revocation, client gone), clear failures.
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** Why an upstream call failed, already as the status the agent gets: 502 bad gateway, 504 timeout. */
export class UpstreamFailure extends Error {
  constructor(readonly status: 502 | 504, message: string, readonly code: string) {
    super(message);
  }
}

export interface UpstreamCall {
  /** The upstream base (scheme, host, port). */
  url: URL;
  /** The exact path and query to send (see upstreamPath): set verbatim, never re-encoded by a URL parser. */
  path: string;
  method: string;
  headers: OutgoingHttpHeaders;
  /** A whole (inspected, maybe rewritten) body, or the agent's request streamed through. */
  body?: Buffer | Readable;
  timeoutMs: number;
  cutoff: Cutoff;
}

/**
 * Cuts one request's upstream exchange: revocation, shutdown, or the agent going away. An AbortSignal would do, but it
 * costs an event target per request (and AbortSignal.any to combine two); this is one reason and one hook.
 */
export class Cutoff {
  reason: string | undefined;
  private hook: (() => void) | undefined;

  cut(reason: string) {
    if (this.reason !== undefined) return;
    this.reason = reason;
    const hook = this.hook;
    this.hook = undefined;
    hook?.();
  }

  /** Runs `hook` when the request is cut (at once if it already is); a later hook replaces an earlier one. */
  onCut(hook: () => void) {
    if (this.reason !== undefined) hook();
    else this.hook = hook;
  }
}

/**
 * Keep-alive agents, one pair per listener, so a hot path reuses upstream connections. `pool` is also the FairShare's
 * size, so requests wait in its round-robin line, never in the agent's first-come queue.
 */
export function upstreamAgents(pool: number) {
  const http = new HttpAgent({ keepAlive: true, maxSockets: pool });
  const https = new HttpsAgent({ keepAlive: true, maxSockets: pool });
  return { http, https, destroy() { http.destroy(); https.destroy(); } };
}
export type UpstreamAgents = ReturnType<typeof upstreamAgents>;

/** Sends one request; resolves with the response head, rejects with an UpstreamFailure. */
export function callUpstream(call: UpstreamCall, agents: UpstreamAgents, connection: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const https = call.url.protocol === 'https:';
    const { hostname, port } = call.url;
    const req = (https ? httpsRequest : httpRequest)({
      // Options rather than the URL: Node would convert the URL to these on every request.
      protocol: call.url.protocol, hostname: hostname.startsWith('[') ? hostname.slice(1, -1) : hostname, port,
      path: call.path, method: call.method, headers: call.headers, agent: https ? agents.https : agents.http,
    }, (res) => {
      clearTimeout(timer);
      resolve(res);
    });
    const timer = setTimeout(() => req.destroy(new UpstreamFailure(504, `the upstream of connection "${connection}" did not answer within ${call.timeoutMs} ms`, 'upstream.timeout')), call.timeoutMs);
    // Cutting the request also ends its response body, which fails whatever is relaying it.
    call.cutoff.onCut(() => req.destroy(new UpstreamFailure(502, 'request aborted', 'aborted')));
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(classify(err, connection));
    });
    if (call.body === undefined) req.end();
    else if (Buffer.isBuffer(call.body)) req.end(call.body);
    else pipeline(call.body, req).catch((err: Error) => req.destroy(err));
  });
}

export function classify(err: unknown, connection: string): UpstreamFailure {
  if (err instanceof UpstreamFailure) return err;
  const e = err as NodeJS.ErrnoException;
  const what = `the upstream of connection "${connection}"`;
  switch (e.code) {
    case 'ECONNREFUSED': return new UpstreamFailure(502, `${what} refused the connection (is it running?)`, 'upstream.refused');
    case 'ENOTFOUND': case 'EAI_AGAIN': return new UpstreamFailure(502, `${what} cannot be resolved (DNS)`, 'upstream.dns');
    case 'ECONNRESET': case 'EPIPE': return new UpstreamFailure(502, `${what} reset the connection`, 'upstream.reset');
    case 'ETIMEDOUT': return new UpstreamFailure(504, `${what} timed out while connecting`, 'upstream.timeout');
    case 'EHOSTUNREACH': case 'ENETUNREACH': return new UpstreamFailure(502, `${what} is unreachable`, 'upstream.unreachable');
    case 'HPE_INVALID_CONSTANT': case 'HPE_INVALID_VERSION': case 'HPE_INVALID_STATUS': case 'HPE_UNEXPECTED_CONTENT_LENGTH': case 'HPE_INVALID_TRANSFER_ENCODING': case 'HPE_INVALID_CONTENT_LENGTH':
      return new UpstreamFailure(502, `${what} sent a malformed HTTP response (${e.code})`, 'upstream.protocol');
    default:
      if (e.code?.startsWith('ERR_TLS') || e.code?.startsWith('CERT_') || e.code?.includes('SSL') || e.code === 'DEPTH_ZERO_SELF_SIGNED_CERT' || e.code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE') {
        return new UpstreamFailure(502, `${what} failed TLS verification (${e.code})`, 'upstream.tls');
      }
      if (e.message === 'socket hang up') return new UpstreamFailure(502, `${what} closed the connection without answering`, 'upstream.reset');
      return new UpstreamFailure(502, `${what} failed: ${e.code ?? e.message}`, 'upstream.error');
  }
}

/** The upstream path for a normalised agent path: the upstream's own base path is kept as a prefix, the query as sent. */
export function upstreamPath(base: URL, path: string, query: string | null): string {
  return base.pathname.replace(/\/$/, '') + path + (query === null ? '' : `?${query}`);
}
