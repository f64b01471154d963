// One request inside an intercepted tunnel, as a `kind: http` request is handled: read strictly (Host must be the
// tunnel's host), its body read when a rule, a guard or an approval needs it, judged and audited by the gate, sent with
// the grant's headers (credentials the agent never holds) over verified TLS, and its answer relayed with them scrubbed.
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EgressConnection } from '../../config/schema.ts';
import { redacting, type ContentGuards, type GuardNote, type GuardPolicy } from '../../pipeline/content-guards.ts';
import type { GateSession } from '../../pipeline/gate.ts';
import { deny, type Verdict } from '../../services/policy/verdict.ts';
import type { TokenRecord } from '../../services/store/store.ts';
import type { Logger } from '../../services/telemetry/logger.ts';
import { clientResponseHeaders, credentialValues } from '../kit/http/hop.ts';
import { relayUpstream, type Relay } from '../kit/http/relay.ts';
import { BodyCut, BodyTooLarge, readBody, sendJson } from '../kit/http/reply.ts';
import { bodyDecides, judgedBody } from '../kit/http/rules.ts';
import { framingProblem, METHODS } from '../kit/http/server.ts';
import { normaliseTarget } from '../kit/http/target.ts';
import { callUpstream, Cutoff, UpstreamFailure, type UpstreamAgents } from '../kit/http/upstream.ts';
import { egressFacts } from './facts.ts';
import { hostHeaderProblem, plainRequestHeaders } from './forward.ts';
import { formatEndpoint } from './host.ts';
import { candidates, decideInner, headersFor, type InnerFacts, type Inspection } from './inspection.ts';
import type { EgressRules } from './policy.ts';
import { errorBody, refusalHeaders, statusFor } from './reply.ts';
import type { Tunnel } from './tunnel.ts';
import type { TunnelAgent } from './upstream-tls.ts';

/** Who opened the tunnel and what their grant says: fixed for the tunnel's life. */
export interface TunnelContext {
  session: GateSession;
  token: TokenRecord;
  /** The Gatehouse token: never sent on, whatever header carries it. */
  secret: string;
  rules: EgressRules;
  inspection: Inspection;
  client: string;
}

export interface TunnelState {
  ctx: TunnelContext;
  tunnel: Tunnel;
  agent: TunnelAgent;
  /** `https://host:port` of the tunnel's target. */
  base: URL;
  requests: number;
}

export interface InnerDeps {
  connection: string;
  conn: EgressConnection;
  guards: ContentGuards;
  log: Logger;
  connectTimeoutMs: number;
}

const READ_ONLY = new Set(['GET', 'HEAD', 'OPTIONS']);

export async function serveInner(state: TunnelState, req: IncomingMessage, res: ServerResponse, deps: InnerDeps): Promise<void> {
  const { ctx, tunnel: t } = state;
  const { conn } = deps;
  state.requests++;
  const started = performance.now();
  const send = (status: number, code: string, message: string, headers: Record<string, string> = {}) => sendJson(res, status, errorBody(code, message), headers);
  if (t.cutoff.reason !== undefined) return void res.destroy();
  if (ctx.token.expiresAt <= Date.now()) {
    // Answered in words, then the whole tunnel ends: nothing more goes through on this token.
    res.once('finish', () => t.cutoff.cut('the token expired'));
    return send(407, 'token.expired', 'the Gatehouse token has expired: the tunnel is closed', { connection: 'close' });
  }
  const method = req.method ?? '';
  const wire = normaliseTarget(req.url ?? '');
  const framing = framingProblem(req);
  const unknown = framing
    ?? (METHODS.has(method) ? undefined : `method ${method} is not proxied (allowed: ${[...METHODS].join(', ')})`)
    ?? hostHeaderProblem(req.headers.host, t.target, 443)
    ?? (wire.ok ? undefined : wire.reason);
  // A request the parser let through but whose framing is ambiguous may have desynchronised the stream: end it after.
  if (framing) res.shouldKeepAlive = false;
  const path = wire.ok ? wire.path : (req.url ?? '').split('?')[0];
  const query = wire.ok ? wire.query : null;
  const base = egressFacts(deps.connection, method, t.target, path + (query === null ? '' : `?${query}`), 'https');
  const facts: InnerFacts = { ...base, effect: READ_ONLY.has(method) ? 'read' : 'write', path, query, ...(unknown ? { unknown } : {}) };

  const cut = new Cutoff();
  res.once('close', () => { if (!res.writableFinished) cut.cut('the client went away'); });
  const hasBody = req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined;
  const policy: GuardPolicy = ctx.inspection.guards;
  const scanned = policy.secrets !== 'off' || policy.pii !== 'off';
  const approval = ctx.rules.grant.approve(method, formatEndpoint(t.target));
  const notes: GuardNote[] = [];
  let early: Verdict | undefined;
  let body: Buffer | undefined;
  if (!unknown && scanned) early = urlProblem(deps.guards, policy, path, query, notes);
  if (!unknown && !early && hasBody && (scanned || approval || bodyDecides(candidates(ctx.inspection, facts), query))) {
    const coding = String(req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
    if (coding !== 'identity') early = deny('egress.inspect', `a "${coding}"-encoded request body cannot be inspected: send it unencoded`);
    else {
      try {
        body = await readBody(req, conn.max_inspect_bytes, cut);
      } catch (err) {
        if (err instanceof BodyCut) return void res.destroy();
        if (!(err instanceof BodyTooLarge)) throw err;
        res.shouldKeepAlive = false;
        early = deny('max_inspect_bytes', err.message);
      }
    }
    if (body && scanned) {
      const judged = bodyGuards(deps.guards, policy, body, notes);
      if ('refusal' in judged) early = judged.refusal;
      else body = judged.body;
    }
    if (body) facts.body = judgedBody(String(req.headers['content-type'] ?? ''), body);
  }

  const inject = headersFor(ctx.inspection, t.target);
  let retryAfter: number | undefined;
  const outcome = await ctx.session.pass({
    facts,
    policy: (f) => {
      if (early) return early;
      const verdict = decideInner(f, ctx.rules, ctx.inspection, ctx.token.id);
      retryAfter = verdict.retryAfter;
      return verdict;
    },
    ...(approval ? { exact: `${facts.summary}\n${createHash('sha256').update(body ?? '').digest('hex')}` } : {}),
    detail: {
      method, host: t.target.host.name, port: t.target.port, path, ...(query !== null ? { query } : {}), client: ctx.client, intercepted: true,
      ...(Object.keys(inject).length ? { injected: Object.keys(inject).map((h) => h.toLowerCase()) } : {}), ...(notes.length ? { guards: notes } : {}),
    },
  });
  if (outcome.kind === 'held') res.once('close', () => outcome.withdraw('the client went away'));
  const settled = outcome.kind === 'held' ? await outcome.settled : outcome;
  if (settled.kind === 'refuse') {
    if (res.destroyed) return;
    const status = statusFor(settled.rule);
    return send(status, settled.rule, settled.message, { ...refusalHeaders(status, retryAfter), ...(res.shouldKeepAlive ? {} : { connection: 'close' }) });
  }

  const headers = plainRequestHeaders(req.headers, t.target, ctx.secret, 443);
  for (const [name, value] of Object.entries(inject)) headers[name.toLowerCase()] = value;
  if (body) {
    headers['content-length'] = String(body.length);
  } else if (hasBody && req.headers['content-length'] === undefined) headers['transfer-encoding'] = 'chunked';
  let up = body?.length ?? 0;
  if (!body && hasBody) req.on('data', (chunk: Buffer) => { up += chunk.length; t.meter(chunk.length); });
  else if (body) t.meter(body.length);
  const shown = formatEndpoint(t.target);
  const result = (data: Record<string, unknown>) => settled.done({ protocol: 'egress', intercepted: true, ms: Math.round(performance.now() - started), up, ...data });
  let answer: IncomingMessage;
  try {
    const agents: UpstreamAgents = { http: state.agent, https: state.agent, destroy: () => state.agent.destroy() };
    answer = await callUpstream({
      url: state.base, path: path + (query === null ? '' : `?${query}`), method, headers, body: body ?? (hasBody ? req : undefined), timeoutMs: conn.idle_timeout_ms, cutoff: cut,
    }, agents, deps.connection);
  } catch (err) {
    const f = err instanceof UpstreamFailure ? err : new UpstreamFailure(502, (err as Error).message, 'upstream.error');
    const message = `${shown}: ${f.message}`;
    result({ status: f.status, error: message, rule: f.code });
    if (res.destroyed || t.cutoff.reason !== undefined) return void res.destroy();
    return send(f.status, f.code, message);
  }
  const status = answer.statusCode ?? 502;
  res.writeHead(status, clientResponseHeaders(answer.headers));
  const needles = credentialValues(inject).map((c) => Buffer.from(c));
  let relay: Relay | undefined;
  try {
    relay = relayUpstream(answer, res, deps.connection, { timeoutMs: conn.idle_timeout_ms, needles }, [{ push: (chunk) => { t.meter(chunk.length); return chunk; }, end: () => '' }]);
    await relay.done;
    result({ status, down: relay.bytes });
  } catch (err) {
    answer.destroy();
    res.destroy();
    result({ status, down: relay?.bytes ?? 0, error: t.cutoff.reason !== undefined ? `cut: ${t.cutoff.reason}` : (err as Error).message });
  }
}

/**
 * What leaves in the URL: a secret or personal data there under `block` or `redact` refuses the request (a URL cannot be
 * rewritten without changing the request that was judged); under `flag` it is noted.
 */
function urlProblem(guards: ContentGuards, policy: GuardPolicy, path: string, query: string | null, notes: GuardNote[]): Verdict | undefined {
  const raw = path + (query === null ? '' : `?${query}`);
  let text = raw;
  try { text = decodeURIComponent(raw.replace(/\+/g, ' ')); } catch { /* judged as sent */ }
  const strict = (m: GuardPolicy['secrets']) => (m === 'redact' ? 'block' : m);
  const scan = guards.scan(text, { injection: 'off', secrets: strict(policy.secrets), pii: strict(policy.pii) }, 'user');
  notes.push(...scan.notes);
  return scan.block ? deny(scan.block.rule, `the request URL carries what must not leave: ${scan.block.message}`) : undefined;
}

/** What leaves in the body: `block` refuses, `redact` masks in place, `flag` notes. */
function bodyGuards(guards: ContentGuards, policy: GuardPolicy, body: Buffer, notes: GuardNote[]): { body: Buffer } | { refusal: Verdict } {
  const text = body.toString('utf8');
  const scan = guards.scan(text, { ...policy, injection: 'off' }, 'user');
  notes.push(...scan.notes);
  if (scan.block) return { refusal: deny(scan.block.rule, `the request body carries what must not leave: ${scan.block.message}`) };
  if (!redacting(policy)) return { body };
  const red = guards.redact(text, { ...policy, injection: 'off' });
  notes.push(...red.notes);
  return { body: red.notes.length ? Buffer.from(red.text) : body };
}
