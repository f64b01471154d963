// The listener every HTTP-shaped protocol shares: admit the token → its session → a fair share of the upstream → the
// body deadline → the adapter's `serve` → done. An adapter brings only its error shape and how it serves one request.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Grant } from '../../../config/schema.ts';
import type { AdapterServices } from '../../../pipeline/adapter.ts';
import type { AdmissionFailure, GateSession } from '../../../pipeline/gate.ts';
import type { Listener } from '../../../services/services.ts';
import type { TokenRecord } from '../../../services/store/store.ts';
import { deny, type Verdict } from '../../../services/policy/verdict.ts';
import { auditHeaderTimeout, bodyDeadline } from './deadline.ts';
import { FairShare, type Slot } from './fairness.ts';
import type { ErrorBody } from './outcome.ts';
import { sendJson } from './reply.ts';
import { METHODS, startServer } from './server.ts';
import { TokenSessions, type InFlight } from './token-sessions.ts';
import { callUpstream, Cutoff, UpstreamFailure, upstreamAgents, type UpstreamCall } from './upstream.ts';

/** What every HTTP-shaped connection configures (see httpLimits in the config schema). */
export interface HttpShapedConnection {
  listen: string;
  upstream: string;
  timeout_ms: number;
  upstream_pool: number;
  max_concurrent_per_token: number;
  header_timeout_ms: number;
  body_timeout_ms: number;
}

/** What an adapter decides about its upstream request; the kit adds the base URL, the deadline and the cutoff. */
export type UpstreamRequest = Pick<UpstreamCall, 'path' | 'method' | 'headers' | 'body'>;

/** One admitted request, as the adapter's `serve` gets it. */
export interface Call<G extends Grant> {
  token: TokenRecord;
  /** The Gatehouse token as presented: any header carrying it is dropped on the way upstream. */
  secret: string;
  grant: G;
  session: GateSession;
  /** The agent's address. */
  client: string;
  /** When the request was admitted (`performance.now()`), for the duration its result records. */
  started: number;
  /** Cut by revocation, the body deadline, or the agent leaving: stops body reads and the upstream exchange. */
  cutoff: Cutoff;
  /** Why the session was cut (revocation, shutdown), once it is. */
  readonly cut: string | undefined;
  /** Set when the token already has its most requests in flight: the request is judged (and audited) as refused. */
  crowded?: Verdict;
  /** The upstream base URL, and this listener's own address (for X-Forwarded-Host). */
  base: URL;
  gateway: string;
  /** Sends the judged request upstream once the token's turn for a pooled connection comes; rejects with an UpstreamFailure. */
  upstream(request: UpstreamRequest): Promise<IncomingMessage>;
  /** The response is streaming: a cut ends it this way (an error event first) instead of destroying the socket at once. */
  streaming(end: (reason: string) => void): void;
}

export interface HttpShapedAdapter<G extends Grant> {
  protocol: 'http' | 'llm';
  error: ErrorBody;
  serve(req: IncomingMessage, res: ServerResponse, call: Call<G>): Promise<void>;
}

/** The token from `Authorization: Bearer` or `x-api-key` (as Anthropic clients send it). */
export function presentedToken(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (auth) {
    const m = /^Bearer +(\S+) *$/i.exec(auth);
    if (m) return m[1];
  }
  const key = req.headers['x-api-key'];
  return typeof key === 'string' && key.trim() ? key.trim() : undefined;
}

/** How an admission failure reads over HTTP. */
const ADMISSION: Record<AdmissionFailure, { status: 401 | 403 | 429 | 503; code: string }> = {
  missing: { status: 401, code: 'token.missing' },
  unknown: { status: 401, code: 'token.unknown' },
  expired: { status: 401, code: 'token.expired' },
  revoked: { status: 401, code: 'token.revoked' },
  throttled: { status: 429, code: 'token.throttled' },
  'no-grant': { status: 403, code: 'grant.none' },
  'store-unreachable': { status: 503, code: 'store.unavailable' },
};
const ALLOWED = [...METHODS].join(', ');
const CHALLENGE = { 'www-authenticate': 'Bearer realm="gatehouse"' };

export async function startHttpShaped<G extends Grant>(name: string, conn: HttpShapedConnection, services: AdapterServices, adapter: HttpShapedAdapter<G>): Promise<Listener> {
  const base = new URL(conn.upstream);
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new Error(`connection ${name}: upstream must be http:// or https://`);
  const agents = upstreamAgents(conn.upstream_pool);
  const share = new FairShare(conn.max_concurrent_per_token, conn.upstream_pool);
  const sessions = new TokenSessions(services.gate, name, adapter.protocol);
  const crowded = deny('request.concurrency', `this token already has ${conn.max_concurrent_per_token} requests in flight on connection "${name}" (max_concurrent_per_token)`);
  const fail = (res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}) =>
    sendJson(res, status, adapter.error(status, code, message), headers);
  let gateway = '';

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const client = req.socket.remoteAddress ?? 'unknown';
    const method = req.method ?? '';
    if (!METHODS.has(method)) return fail(res, 405, 'request.method', `method ${method} is not accepted (allowed: ${ALLOWED})`, { allow: ALLOWED });
    const secret = presentedToken(req);
    const admission = await services.gate.admit<G>(name, { secret, address: client });
    if (!admission.ok) {
      const { status, code } = ADMISSION[admission.reason];
      const hint = admission.reason === 'missing' ? ': send "Authorization: Bearer <token>"' : '';
      return fail(res, status, code, admission.message + hint, status === 401 ? CHALLENGE : {});
    }
    const cutoff = new Cutoff();
    const state: { cut?: string; endStream?: (reason: string) => void } = {};
    let flight: InFlight;
    try {
      flight = await sessions.begin(admission.token, req, client, (reason) => {
        state.cut = reason;
        if (!res.headersSent) {
          fail(res, 401, 'token.revoked', `request cut: ${reason}`, { connection: 'close' });
          cutoff.cut(reason);
        } else if (state.endStream) state.endStream(reason);
        else {
          cutoff.cut(reason);
          res.destroy();
        }
      });
    } catch (err) {
      return fail(res, 503, 'session.unavailable', (err as Error).message);
    }
    // Cut while its session was opening: answered already.
    if (state.cut !== undefined) return flight.done();
    res.once('close', () => { if (!res.writableFinished) cutoff.cut('the client went away'); });
    const slot = share.enter(admission.token.id);
    const call: Call<G> = {
      token: admission.token, secret: secret!, grant: admission.grant, session: flight.session, client, started: performance.now(), cutoff, base, gateway,
      ...(slot ? {} : { crowded }),
      get cut() { return state.cut; },
      streaming: (end) => { state.endStream = end; },
      upstream: (request) => forward(request, slot!, cutoff),
    };
    const clearDeadline = bodyDeadline(req, conn.body_timeout_ms, cutoff);
    try {
      await adapter.serve(req, res, call);
    } finally {
      clearDeadline();
      slot?.leave();
      flight.done();
    }
  }

  async function forward(request: UpstreamRequest, slot: Slot, cutoff: Cutoff) {
    try {
      await slot.upstream(cutoff, conn.timeout_ms);
      return await callUpstream({ ...request, url: base, timeoutMs: conn.timeout_ms, cutoff }, agents, name);
    } catch (err) {
      throw err instanceof UpstreamFailure ? err : new UpstreamFailure(502, (err as Error).message, 'upstream.error');
    }
  }

  const server = await startServer(conn.listen, handle, (err) => services.log.error({ err, connection: name }, `${adapter.protocol} request failed`), {
    headerTimeoutMs: conn.header_timeout_ms, onHeaderTimeout: auditHeaderTimeout(services.gate, name, conn.header_timeout_ms),
  });
  gateway = server.address;
  return {
    name,
    kind: adapter.protocol,
    address: server.address,
    drain: server.drain,
    async close() {
      await sessions.closeAll('gateway shutting down');
      await server.close();
      agents.destroy();
    },
  };
}
