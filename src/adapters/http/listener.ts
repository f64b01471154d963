// The HTTP API listener (`kind: http`): token → normalised path → policy → audit → forward → mask, one request at a time.
import { createHash } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { HttpConnection, HttpGrant } from '../../config/schema.ts';
import { judgeDurably, recordOutcome } from '../../pipeline/enforce.ts';
import type { Effect, Facts } from '../../services/policy/facts.ts';
import type { GuardNote } from '../../pipeline/content-guards.ts';
import { awaitApproval } from '../kit/http/approval.ts';
import { admit } from '../kit/http/auth.ts';
import { clientResponseHeaders, credentialValues, rewriteLocation, upstreamRequestHeaders } from '../kit/http/hop.ts';
import { ACCEPT_WHEN_SCANNING, decodedBody, mayHaveBody, type Decoded } from '../kit/http/coding.ts';
import { auditHeaderTimeout, bodyDeadline, bodyTimeoutReason } from '../kit/http/deadline.ts';
import { FairShare, type Slot } from '../kit/http/fairness.ts';
import { BodyCut, BodyTooLarge, readBody, sendJson, statusForRule } from '../kit/http/reply.ts';
import { relayUpstream, type Relay, type RelayStep } from '../kit/http/relay.ts';
import { scrubBuffer, scrubText } from '../kit/http/scrub.ts';
import { METHODS, startServer } from '../kit/http/server.ts';
import { TokenSessions, type InFlight } from '../kit/http/sessions.ts';
import { effectiveRequest } from '../kit/http/overrides.ts';
import { normaliseTarget } from '../kit/http/target.ts';
import { callUpstream, Cutoff, UpstreamFailure, upstreamAgents, upstreamPath } from '../kit/http/upstream.ts';
import { deny, type Verdict } from '../../services/policy/verdict.ts';
import type { AdapterServices } from '../../pipeline/adapter.ts';
import type { Listener } from '../../services/services.ts';
import type { TokenRecord } from '../../services/store/store.ts';
import { decideHttp, judgedBody, needsBody, type HttpAsk } from './policy.ts';
import { RateLimiter, parseRate } from './rate.ts';
import { inspectResponse, mustInspect } from './respond.ts';
import { compileGrant, type CompiledGrant } from './rules.ts';

const EFFECT: Record<string, Effect> = { GET: 'read', HEAD: 'read', OPTIONS: 'read', POST: 'write', PUT: 'write', PATCH: 'write', DELETE: 'write' };

/** Gatehouse's own error body: `code` names the rule, so an agent (or its developer) knows which grant is missing. */
export const errorBody = (code: string, message: string, extra: Record<string, unknown> = {}) =>
  ({ error: { type: code.startsWith('upstream') ? 'upstream_error' : 'gatehouse_refused', code, message: `Gatehouse: ${message}`, ...extra } });

export async function startHttpListener(name: string, conn: HttpConnection, services: AdapterServices): Promise<Listener> {
  const base = new URL(conn.upstream);
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new Error(`connection ${name}: upstream must be http:// or https://`);
  // Grants compile at start-up: a rule that cannot compile stops the gateway, not the first request.
  const grants = new Map<string, { raw: HttpGrant; compiled: CompiledGrant; rate?: RateLimiter }>();
  for (const [role, byConnection] of Object.entries(services.config.roles)) {
    const raw = byConnection[name] as HttpGrant | undefined;
    if (!raw) continue;
    try {
      const rate = raw.rate ? parseRate(raw.rate) : undefined;
      grants.set(role, { raw, compiled: compileGrant(raw), rate: rate && new RateLimiter(rate.limit, rate.periodMs) });
    } catch (err) {
      throw new Error(`roles.${role}.${name}: ${(err as Error).message}`);
    }
  }
  const agents = upstreamAgents(conn.upstream_pool);
  const share = new FairShare(conn.max_concurrent_per_token, conn.upstream_pool);
  const credentials = credentialValues(conn.headers);
  const needles = credentials.map((c) => Buffer.from(c));
  const sessions = new TokenSessions(services, name, 'http');
  /** This listener's own address, once bound (X-Forwarded-Host). */
  let self = '';

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const client = req.socket.remoteAddress ?? 'unknown';
    const method = req.method ?? '';
    if (!METHODS.has(method)) {
      return sendJson(res, 405, errorBody('request.method', `method ${method} is not accepted (allowed: ${[...METHODS].join(', ')})`), { allow: [...METHODS].join(', ') });
    }
    const admission = admit<HttpGrant>(services, name, req, client);
    if (!admission.ok) {
      return sendJson(res, admission.status, errorBody(admission.code, admission.message), admission.status === 401 ? { 'www-authenticate': 'Bearer realm="gatehouse"' } : {});
    }
    const { token, grant } = admission;
    const compiled = grants.get(token.role)!;
    const cutoff = new Cutoff();
    let flight: InFlight;
    try {
      flight = sessions.begin(token, req, client, (reason) => {
        if (!res.headersSent) sendJson(res, 401, errorBody('token.revoked', `request cut: ${reason}`), { connection: 'close' });
        else res.destroy();
        cutoff.cut(reason);
      });
    } catch (err) {
      return sendJson(res, 503, errorBody('session.unavailable', `the session could not be recorded (${(err as Error).message})`));
    }
    res.once('close', () => { if (!res.writableFinished) cutoff.cut('the client went away'); });
    const slot = share.enter(token.id);
    const clearDeadline = bodyDeadline(req, conn.body_timeout_ms, cutoff);
    try {
      await serve(req, res, { token: admission.secret, tokenId: token.id, record: token, role: token.role, grant, compiled, flight, client, cutoff, slot });
    } finally {
      clearDeadline();
      slot?.leave();
      flight.done();
    }
  }

  interface Call {
    token: string; tokenId: string; record: TokenRecord; role: string; grant: HttpGrant; compiled: { compiled: CompiledGrant; rate?: RateLimiter };
    flight: InFlight; client: string; cutoff: Cutoff;
    /** Undefined when the token already has its most requests in flight. */
    slot: Slot | undefined;
  }

  const crowded = () => deny('request.concurrency', `this token already has ${conn.max_concurrent_per_token} requests in flight on connection "${name}" (max_concurrent_per_token)`);
  const deadline = bodyTimeoutReason(conn.body_timeout_ms);
  const timedOut = (err: unknown) => err instanceof BodyCut && err.message === deadline;
  const outcomeOf = (c: Call, seq: number | undefined, started: number) => (data: Record<string, unknown>) =>
    recordOutcome(services.audit, c.flight.ctx, seq, { protocol: 'http', ms: Math.round(performance.now() - started), ...data });
  /** A body that missed its deadline after the request was judged: 408, recorded as the request's result. */
  const timeoutAnswer = (res: ServerResponse, outcome: (data: Record<string, unknown>) => void) => {
    outcome({ status: 408, error: deadline });
    res.shouldKeepAlive = false;
    sendJson(res, 408, errorBody('request.timeout', deadline), { connection: 'close' });
  };

  async function serve(req: IncomingMessage, res: ServerResponse, c: Call) {
    const started = performance.now();
    // What is forwarded is the request line; what is judged is what the upstream will run (see overrides.ts).
    const wire = normaliseTarget(req.url ?? '');
    const effective = effectiveRequest(req.method!, req.url ?? '', req.headers, conn.override_headers);
    const method = effective.ok ? effective.method : req.method!;
    const target = effective.ok && effective.url !== req.url ? normaliseTarget(effective.url) : wire;
    const path = target.ok ? target.path : (req.url ?? '').split('?')[0];
    const query = target.ok ? target.query : null;
    const unknown = !target.ok ? target.reason : !wire.ok ? wire.reason : undefined;
    const facts: Facts = {
      protocol: 'http', connection: name, effect: EFFECT[method] ?? 'unknown',
      summary: `${method} ${path}${query !== null ? `?${query}` : ''}`,
      targets: [{ kind: 'path', name: path, access: method }],
      ...(unknown ? { unknown } : {}),
    };
    const ask: HttpAsk = { role: c.role, connection: name, method, path, query };
    const requestGuards = c.grant.guards.secrets === 'block' || c.grant.guards.secrets === 'flag' || c.grant.guards.pii === 'block' || c.grant.guards.pii === 'flag';
    const hasBody = req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined;
    let body: Buffer | undefined;
    let early: Verdict | undefined = !c.slot ? crowded() : effective.ok ? undefined : deny('request.override', effective.reason);
    const notes: GuardNote[] = [];
    if (!early && target.ok && hasBody && (requestGuards || needsBody(ask, c.compiled.compiled))) {
      try {
        body = await readBody(req, conn.max_inspect_bytes, c.cutoff);
        const type = String(req.headers['content-type'] ?? '');
        ask.body = judgedBody(type, body);
        if (requestGuards) {
          const scan = services.guards.scan(body.toString('utf8'), { ...c.grant.guards, injection: 'off' }, 'user');
          notes.push(...scan.notes);
          if (scan.block) early = deny(scan.block.rule, scan.block.message);
        }
      } catch (err) {
        if (!timedOut(err)) {
          if (err instanceof BodyCut) return; // revoked or gone: already answered
          if (!(err instanceof BodyTooLarge)) throw err;
        }
        early = err instanceof BodyTooLarge ? deny('max_inspect_bytes', err.message) : deny('request.timeout', (err as Error).message);
        res.shouldKeepAlive = false;
      }
    }
    let retryAfter = 0;
    const decide = (): Verdict => {
      if (early) return early;
      const verdict = decideHttp(ask, c.compiled.compiled, c.grant);
      if (verdict.kind !== 'allow' || !c.compiled.rate) return verdict;
      const taken = c.compiled.rate.take(c.tokenId);
      if (taken.ok) return verdict;
      retryAfter = taken.retryAfter;
      return deny('http.rate', `rate limit ${c.grant.rate} reached for this token; retry in ${retryAfter}s`);
    };
    const { verdict, record } = await judgeDurably(services, c.flight.ctx, facts, decide, {
      method, path, ...(query !== null ? { query } : {}), client: c.client, ...(notes.length ? { guards: notes } : {}),
    });
    if (verdict.kind === 'deny') {
      const status = statusForRule(verdict.rule);
      if (verdict.rule === 'request.concurrency') retryAfter = 1;
      return sendJson(res, status, errorBody(verdict.rule, verdict.message, verdict.rule === 'http.allow' ? { needed: `${method} ${path}` } : {}),
        status === 429 ? { 'retry-after': String(retryAfter) } : {});
    }
    if (verdict.kind === 'hold') {
      // The approval binds to this exact request, body included, so the body is read (bounded) before anyone decides.
      if (!body && hasBody) {
        try {
          body = await readBody(req, conn.max_inspect_bytes, c.cutoff);
        } catch (err) {
          res.shouldKeepAlive = false;
          if (timedOut(err)) return timeoutAnswer(res, outcomeOf(c, record?.seq, started));
          if (err instanceof BodyCut) return;
          if (!(err instanceof BodyTooLarge)) throw err;
          return sendJson(res, 413, errorBody('max_inspect_bytes', err.message));
        }
      }
      const exact = `${facts.summary}\n${createHash('sha256').update(body ?? '').digest('hex')}`;
      const proceed = await awaitApproval(services, { token: c.record, ctx: c.flight.ctx, protocol: 'http', summary: facts.summary, exact, reason: verdict.reason }, res, {
        refuse: (status, code, message, extra) => sendJson(res, status, errorBody(code, message, extra)),
        accepted: (id, message) => sendJson(res, 202, { status: 'pending_approval', approval: id, message: `Gatehouse: ${message}` }),
      });
      if (!proceed) return;
    }
    const outcome = outcomeOf(c, record?.seq, started);

    const inspect = mustInspect(c.grant);
    // Bodies that are scanned (inspection, or the credential scrubber) are asked for unencoded, and decoded if sent anyway.
    const scanning = inspect || needles.length > 0;
    const headers = upstreamRequestHeaders(req.headers, { token: c.token, upstreamHost: base.host, inject: conn.headers, clientAddress: c.client, forwardedHost: self, drop: effective.ok ? effective.drop : [] });
    if (effective.ok) Object.assign(headers, effective.set);
    if (scanning) headers['accept-encoding'] = ACCEPT_WHEN_SCANNING;
    if (body) headers['content-length'] = String(body.length);
    else if (req.headers['content-length'] !== undefined) headers['content-length'] = req.headers['content-length'];
    // A streamed body on a method Node would not chunk by default must be framed explicitly, never sent raw.
    else if (hasBody) headers['transfer-encoding'] = 'chunked';
    let upstream: IncomingMessage;
    try {
      await c.slot!.upstream(c.cutoff, conn.timeout_ms);
      upstream = await callUpstream({
        url: base, path: upstreamPath(base, wire.ok ? wire.path : path, wire.ok ? wire.query : query), method: req.method!, headers, timeoutMs: conn.timeout_ms, cutoff: c.cutoff,
        body: body ?? (hasBody ? req : undefined),
      }, agents, name);
    } catch (err) {
      const f = err instanceof UpstreamFailure ? err : new UpstreamFailure(502, (err as Error).message, 'upstream.error');
      if (c.cutoff.reason === deadline) return timeoutAnswer(res, outcome);
      outcome({ error: f.message, status: f.status });
      if (c.cutoff.reason !== undefined) return void res.destroy();
      return sendJson(res, f.status, errorBody(f.code, f.message));
    }

    const status = upstream.statusCode ?? 502;
    const decoded: Decoded = scanning && mayHaveBody(req.method!, status) ? decodedBody(upstream) : { ok: true, body: upstream, decoded: false };
    if (!decoded.ok) {
      upstream.destroy();
      outcome({ status: 502, upstreamStatus: status, error: decoded.message, rule: 'upstream.encoding' });
      return sendJson(res, 502, errorBody('upstream.encoding', decoded.message));
    }
    const from = decoded.body;
    let relay: Relay | undefined;
    const relayBody = (...steps: RelayStep[]) => (relay = relayUpstream(from, res, name, { timeoutMs: conn.timeout_ms, needles }, steps)).done;
    const scrubHeaders = (h: OutgoingHttpHeaders) => {
      rewriteLocation(h, base, req.headers.host);
      if (!credentials.length) return h;
      for (const [k, v] of Object.entries(h)) {
        if (typeof v === 'string') h[k] = scrubText(v, credentials);
        else if (Array.isArray(v)) h[k] = v.map((x) => scrubText(x, credentials));
      }
      return h;
    };
    try {
      if (inspect && mayHaveBody(req.method!, status)) {
        const inspected = await inspectResponse(upstream.headers, from, c.grant, services.guards, conn.max_inspect_bytes);
        if (inspected.kind === 'refuse') {
          upstream.destroy();
          outcome({ status: 502, upstreamStatus: status, error: inspected.message, rule: inspected.rule, ...(inspected.notes.length ? { guards: inspected.notes } : {}) });
          return sendJson(res, 502, errorBody(inspected.rule, inspected.message));
        }
        if (inspected.kind === 'whole') {
          const out = scrubBuffer(inspected.body, needles);
          res.writeHead(status, { ...scrubHeaders(clientResponseHeaders(upstream.headers, { length: true, encoding: true })), 'content-length': String(out.length) });
          res.end(out);
          return outcome({ status, bytes: out.length, masked: inspected.masked, ...(inspected.notes.length ? { guards: inspected.notes } : {}) });
        }
        res.writeHead(status, scrubHeaders(clientResponseHeaders(upstream.headers, { length: true, encoding: decoded.decoded })));
        await relayBody(inspected.step);
        const found = inspected.redactor.notes();
        return outcome({ status, bytes: relay?.bytes, masked: found.reduce((n, x) => n + x.count, 0), ...(found.length ? { guards: found } : {}) });
      }
      res.writeHead(status, scrubHeaders(clientResponseHeaders(upstream.headers, { length: decoded.decoded, encoding: decoded.decoded })));
      await relayBody();
      outcome({ status, bytes: relay?.bytes });
    } catch (err) {
      upstream.destroy();
      if (!res.headersSent) sendJson(res, 502, errorBody('upstream.error', (err as Error).message));
      else res.destroy();
      outcome({ status, bytes: relay?.bytes, error: c.cutoff.reason !== undefined ? `cut: ${c.cutoff.reason}` : (err as Error).message });
    }
  }

  const server = await startServer(conn.listen, handle, (err) => services.log.error({ err, connection: name }, 'http request failed'), {
    headerTimeoutMs: conn.header_timeout_ms, onHeaderTimeout: auditHeaderTimeout(services.audit, name, conn.header_timeout_ms),
  });
  self = server.address;
  return {
    name,
    kind: 'http',
    address: server.address,
    drain: server.drain,
    async close() {
      sessions.closeAll('gateway shutting down');
      await server.close();
      agents.destroy();
    },
  };
}
