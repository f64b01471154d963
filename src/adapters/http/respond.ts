// The response side of an HTTP API call: a refusal in Gatehouse's error shape, or the judged request sent upstream and
// its answer relayed in one of three modes — streamed through, inspected whole (masked, scanned), or redacted as it flows.
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { HttpConnection, HttpGrant } from '../../config/schema.ts';
import type { ContentGuards } from '../../pipeline/content-guards.ts';
import type { Forward, Refuse } from '../../pipeline/gate.ts';
import { ACCEPT_WHEN_SCANNING, decodedBody, mayHaveBody, type Decoded } from '../kit/http/coding.ts';
import { bodyTimeoutReason } from '../kit/http/deadline.ts';
import { clientResponseHeaders, credentialValues, rewriteLocation, upstreamRequestHeaders } from '../kit/http/hop.ts';
import type { Call } from '../kit/http/listener.ts';
import { sendRefusal } from '../kit/http/outcome.ts';
import { relayUpstream, type Relay, type RelayStep } from '../kit/http/relay.ts';
import { sendJson } from '../kit/http/reply.ts';
import { scrubBuffer, scrubText } from '../kit/http/scrub.ts';
import { UpstreamFailure, upstreamPath } from '../kit/http/upstream.ts';
import { inspectResponse, mustInspect } from './inspect.ts';
import type { HttpRequest } from './request.ts';

/** Gatehouse's own error body: `code` names the rule, so an agent (or its developer) knows which grant is missing. */
export const errorBody = (_status: number, code: string, message: string, extra: Record<string, unknown> = {}) =>
  ({ error: { type: code.startsWith('upstream') ? 'upstream_error' : 'gatehouse_refused', code, message: `Gatehouse: ${message}`, ...extra } });

/** A refused request: a missing grant names the rule that would cover it; a rate limit says when to retry. */
export function refuse(res: ServerResponse, refusal: Refuse, request: HttpRequest) {
  const { method, path } = request.ask.facts;
  sendRefusal(res, refusal, errorBody, { retryAfter: request.retryAfter, extra: refusal.rule === 'http.allow' ? { needed: `${method} ${path}` } : {} });
}

/** Makes the function that forwards a request the gate let through and relays the upstream's answer. */
export function httpResponses(name: string, conn: HttpConnection, guards: ContentGuards) {
  const credentials = credentialValues(conn.headers);
  const needles = credentials.map((c) => Buffer.from(c));
  const deadline = bodyTimeoutReason(conn.body_timeout_ms);

  return async function respond(req: IncomingMessage, res: ServerResponse, c: Call<HttpGrant>, request: HttpRequest, forward: Forward) {
    const outcome = (data: Record<string, unknown>) => forward.done({ protocol: 'http', ms: Math.round(performance.now() - c.started), ...data });
    const { wire, effective, body, hasBody } = request;
    const inspect = mustInspect(c.grant);
    // Bodies that are scanned (inspection, or the credential scrubber) are asked for unencoded, and decoded if sent anyway.
    const scanning = inspect || needles.length > 0;
    const headers = upstreamRequestHeaders(req.headers, { token: c.secret, upstreamHost: c.base.host, inject: conn.headers, clientAddress: c.client, forwardedHost: c.gateway, drop: effective.ok ? effective.drop : [] });
    if (effective.ok) Object.assign(headers, effective.set);
    if (scanning) headers['accept-encoding'] = ACCEPT_WHEN_SCANNING;
    if (body) headers['content-length'] = String(body.length);
    else if (req.headers['content-length'] !== undefined) headers['content-length'] = req.headers['content-length'];
    // A streamed body on a method Node would not chunk by default must be framed explicitly, never sent raw.
    else if (hasBody) headers['transfer-encoding'] = 'chunked';
    // What was judged is forwarded: the request line's own normalised path (an unreadable one was refused).
    const { path, query } = wire.ok ? wire : request.ask.facts;
    let upstream: IncomingMessage;
    try {
      upstream = await c.upstream({ path: upstreamPath(c.base, path, query), method: req.method!, headers, body: body ?? (hasBody ? req : undefined) });
    } catch (err) {
      const f = err as UpstreamFailure;
      if (c.cutoff.reason === deadline) {
        // The body missed its deadline on its way upstream: 408, recorded as the request's result.
        outcome({ status: 408, error: deadline });
        res.shouldKeepAlive = false;
        return sendJson(res, 408, errorBody(408, 'request.timeout', deadline), { connection: 'close' });
      }
      outcome({ error: f.message, status: f.status });
      if (c.cutoff.reason !== undefined) return void res.destroy();
      return sendJson(res, f.status, errorBody(f.status, f.code, f.message));
    }

    const status = upstream.statusCode ?? 502;
    const decoded: Decoded = scanning && mayHaveBody(req.method!, status) ? decodedBody(upstream) : { ok: true, body: upstream, decoded: false };
    if (!decoded.ok) {
      upstream.destroy();
      outcome({ status: 502, upstreamStatus: status, error: decoded.message, rule: 'upstream.encoding' });
      return sendJson(res, 502, errorBody(502, 'upstream.encoding', decoded.message));
    }
    const from = decoded.body;
    let relay: Relay | undefined;
    const relayBody = (...steps: RelayStep[]) => (relay = relayUpstream(from, res, name, { timeoutMs: conn.timeout_ms, needles }, steps)).done;
    const clientHeaders = (h: OutgoingHttpHeaders) => {
      rewriteLocation(h, c.base, req.headers.host);
      if (!credentials.length) return h;
      for (const [k, v] of Object.entries(h)) {
        if (typeof v === 'string') h[k] = scrubText(v, credentials);
        else if (Array.isArray(v)) h[k] = v.map((x) => scrubText(x, credentials));
      }
      return h;
    };
    try {
      if (inspect && mayHaveBody(req.method!, status)) {
        const inspected = await inspectResponse(upstream.headers, from, c.grant, guards, conn.max_inspect_bytes);
        if (inspected.kind === 'refuse') {
          upstream.destroy();
          outcome({ status: 502, upstreamStatus: status, error: inspected.message, rule: inspected.rule, ...(inspected.notes.length ? { guards: inspected.notes } : {}) });
          return sendJson(res, 502, errorBody(502, inspected.rule, inspected.message));
        }
        if (inspected.kind === 'whole') {
          const out = scrubBuffer(inspected.body, needles);
          res.writeHead(status, { ...clientHeaders(clientResponseHeaders(upstream.headers, { length: true, encoding: true })), 'content-length': String(out.length) });
          res.end(out);
          return outcome({ status, bytes: out.length, masked: inspected.masked, ...(inspected.notes.length ? { guards: inspected.notes } : {}) });
        }
        res.writeHead(status, clientHeaders(clientResponseHeaders(upstream.headers, { length: true, encoding: decoded.decoded })));
        await relayBody(inspected.step);
        const found = inspected.redactor.notes();
        return outcome({ status, bytes: relay?.bytes, masked: found.reduce((n, x) => n + x.count, 0), ...(found.length ? { guards: found } : {}) });
      }
      res.writeHead(status, clientHeaders(clientResponseHeaders(upstream.headers, { length: decoded.decoded, encoding: decoded.decoded })));
      await relayBody();
      outcome({ status, bytes: relay?.bytes });
    } catch (err) {
      upstream.destroy();
      if (!res.headersSent) sendJson(res, 502, errorBody(502, 'upstream.error', (err as Error).message));
      else res.destroy();
      outcome({ status, bytes: relay?.bytes, error: c.cutoff.reason !== undefined ? `cut: ${c.cutoff.reason}` : (err as Error).message });
    }
  };
}
