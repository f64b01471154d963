// The upstream client both adapters use: one request, a deadline for the answer, an idle limit on the body, clear failures.
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
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
  signal: AbortSignal;
}

/** Keep-alive agents, one pair per listener, so a hot path reuses upstream connections. */
export function upstreamAgents() {
  const http = new HttpAgent({ keepAlive: true, maxSockets: 256 });
  const https = new HttpsAgent({ keepAlive: true, maxSockets: 256 });
  return { http, https, destroy() { http.destroy(); https.destroy(); } };
}
export type UpstreamAgents = ReturnType<typeof upstreamAgents>;

/** Sends one request; resolves with the response head, rejects with an UpstreamFailure. */
export function callUpstream(call: UpstreamCall, agents: UpstreamAgents, connection: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const https = call.url.protocol === 'https:';
    const req = (https ? httpsRequest : httpRequest)(call.url, {
      path: call.path, method: call.method, headers: call.headers, agent: https ? agents.https : agents.http, signal: call.signal,
    }, (res) => {
      clearTimeout(timer);
      resolve(res);
    });
    const timer = setTimeout(() => req.destroy(new UpstreamFailure(504, `the upstream of connection "${connection}" did not answer within ${call.timeoutMs} ms`, 'upstream.timeout')), call.timeoutMs);
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
  if (e.name === 'AbortError') return new UpstreamFailure(502, 'request aborted', 'aborted');
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

/** Passes bytes through and fails the stream if none arrive for `ms`: a stalled upstream body must not hold a client forever. */
export class IdleLimit extends Transform {
  private timer: NodeJS.Timeout;
  /** Bytes passed through (for the audit). */
  bytes = 0;

  constructor(ms: number, private readonly onIdle: () => Error) {
    super();
    this.timer = setTimeout(() => this.destroy(this.onIdle()), ms);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
    this.timer.refresh();
    this.bytes += chunk.length;
    done(null, chunk);
  }

  override _flush(done: TransformCallback) {
    clearTimeout(this.timer);
    done();
  }

  override _destroy(err: Error | null, done: (err: Error | null) => void) {
    clearTimeout(this.timer);
    done(err);
  }
}

/** The upstream path for a normalised agent path: the upstream's own base path is kept as a prefix, the query as sent. */
export function upstreamPath(base: URL, path: string, query: string | null): string {
  return base.pathname.replace(/\/$/, '') + path + (query === null ? '' : `?${query}`);
}
