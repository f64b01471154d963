// The LLM listener (`kind: llm`): an OpenAI- or Anthropic-compatible endpoint that checks model, tools, caps, content and
// budget, swaps the agent's Gatehouse token for the real key, and streams completions back through the guards.
import { createHash } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { LlmConnection, LlmGrant } from '../../config/schema.ts';
import { judgeDurably, recordOutcome } from '../../pipeline/enforce.ts';
import type { Facts, Target } from '../../services/policy/facts.ts';
import { mergeNotes, redacting, type GuardNote, type TextRedactor } from '../../pipeline/content-guards.ts';
import { correlationFromMetadata } from '../../pipeline/correlation.ts';
import { awaitApproval } from '../kit/http/approval.ts';
import { admit } from '../kit/http/auth.ts';
import { clientResponseHeaders, credentialValues, upstreamRequestHeaders } from '../kit/http/hop.ts';
import { ACCEPT_WHEN_SCANNING, decodedBody, mayHaveBody, type Decoded } from '../kit/http/coding.ts';
import { auditHeaderTimeout, bodyDeadline, bodyTimeoutReason } from '../kit/http/deadline.ts';
import { FairShare, type Slot } from '../kit/http/fairness.ts';
import { BodyCut, BodyTooLarge, readBody, sendJson, statusForRule } from '../kit/http/reply.ts';
import { relayUpstream, type RelayStep } from '../kit/http/relay.ts';
import { scrubBuffer, scrubText } from '../kit/http/scrub.ts';
import { METHODS, startServer } from '../kit/http/server.ts';
import { TokenSessions } from '../kit/http/sessions.ts';
import { effectiveRequest } from '../kit/http/overrides.ts';
import { parseStrictJson } from '../kit/http/strict-json.ts';
import { normaliseTarget } from '../kit/http/target.ts';
import { callUpstream, Cutoff, UpstreamFailure, upstreamAgents } from '../kit/http/upstream.ts';
import { deny, type Verdict } from '../../services/policy/verdict.ts';
import type { AdapterServices } from '../../pipeline/adapter.ts';
import type { Listener } from '../../services/services.ts';
import type { TokenRecord } from '../../services/store/store.ts';
import { BudgetLedger, budgetScope, charge, planSpend, spent } from './budget.ts';
import { estimateTokens, isObject, type Endpoint, type LlmRequest, type Usage } from './call.ts';
import { errorShape, route, served, upstreamLlmPath } from './endpoints.ts';
import { compileDenyRules, decideLlm, modelAllowed, type LlmAsk } from './policy.ts';
import { reviewPrompt, type Caps } from './prompt.ts';
import { SseRewriter } from './stream.ts';

/** Endpoints whose calls spend no budget. */
const FREE: ReadonlySet<Endpoint> = new Set(['models', 'model', 'count_tokens']);
/** Provider account selectors: with the gateway's key, an agent must not pick another organisation or project. */
const DROP_HEADERS = ['openai-organization', 'openai-project'];
const PREVIEW = 80;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
/** A beta header's flags (`a,b` or repeated headers), trimmed. */
const betaFlags = (value: string | string[] | undefined) => [value ?? []].flat().flatMap((v) => v.split(',')).map((f) => f.trim()).filter(Boolean);

export async function startLlmListener(name: string, conn: LlmConnection, services: AdapterServices): Promise<Listener> {
  const base = new URL(conn.upstream);
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new Error(`connection ${name}: upstream must be http:// or https://`);
  const errorOf = errorShape(conn.flavor);
  const denyRules = new Map<string, ReturnType<typeof compileDenyRules>>();
  for (const [role, byConnection] of Object.entries(services.config.roles)) {
    const g = byConnection[name] as LlmGrant | undefined;
    if (!g) continue;
    try {
      denyRules.set(role, compileDenyRules(g.deny));
    } catch (err) {
      throw new Error(`roles.${role}.${name}.deny: ${(err as Error).message}`);
    }
  }
  const agents = upstreamAgents(conn.upstream_pool);
  const share = new FairShare(conn.max_concurrent_per_token, conn.upstream_pool);
  const ledger = new BudgetLedger();
  const deadline = bodyTimeoutReason(conn.body_timeout_ms);
  const credentials = credentialValues(conn.headers);
  const needles = credentials.map((c) => Buffer.from(c));
  const sessions = new TokenSessions(services, name, 'llm');
  /** This listener's own address, once bound (X-Forwarded-Host). */
  let self = '';
  const fail = (res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}) =>
    sendJson(res, status, errorOf(status, code, message), headers);
  const sseError = (code: string, message: string) =>
    `${conn.flavor === 'anthropic' ? 'event: error\n' : ''}data: ${JSON.stringify(errorOf(401, code, message))}\n\n`;
  const scrubHeaders = (h: OutgoingHttpHeaders) => {
    for (const [k, v] of Object.entries(h)) if (typeof v === 'string' && credentials.length) h[k] = scrubText(v, credentials);
    return h;
  };

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const client = req.socket.remoteAddress ?? 'unknown';
    const method = req.method ?? '';
    if (!METHODS.has(method)) return fail(res, 405, 'request.method', `method ${method} is not accepted`);
    const admission = admit<LlmGrant>(services, name, req, client);
    if (!admission.ok) return fail(res, admission.status, admission.code, admission.message);
    const cutoff = new Cutoff();
    let rewriter: SseRewriter | undefined;
    let cut: string | undefined;
    let flight;
    try {
      flight = sessions.begin(admission.token, req, client, (reason) => {
        cut = reason;
        if (!res.headersSent) {
          fail(res, 401, 'token.revoked', `request cut: ${reason}`, { connection: 'close' });
          cutoff.cut(reason);
        } else if (rewriter) {
          // Tell the agent's SDK why, then cut: the event goes out first, the connection is destroyed after it.
          rewriter.stop();
          const kill = setTimeout(() => { cutoff.cut(reason); res.destroy(); }, 250);
          res.write(sseError('token.revoked', `stream cut: ${reason}`), () => { clearTimeout(kill); cutoff.cut(reason); res.destroy(); });
        } else {
          cutoff.cut(reason);
          res.destroy();
        }
      });
    } catch (err) {
      return fail(res, 503, 'session.unavailable', `the session could not be recorded (${(err as Error).message})`);
    }
    res.once('close', () => { if (!res.writableFinished) cutoff.cut('the client went away'); });
    const slot = share.enter(admission.token.id);
    const release: (() => void)[] = [];
    const clearDeadline = bodyDeadline(req, conn.body_timeout_ms, cutoff);
    try {
      await serve(req, res, {
        secret: admission.secret, token: admission.token, grant: admission.grant, ctx: flight.ctx, client, cutoff, slot, release,
        setRewriter: (r) => { rewriter = r; }, cut: () => cut,
      });
    } finally {
      for (const r of release) r();
      clearDeadline();
      slot?.leave();
      flight.done();
    }
  }

  interface Call {
    secret: string; token: TokenRecord; grant: LlmGrant; ctx: ReturnType<TokenSessions['begin']>['ctx']; client: string; cutoff: Cutoff;
    /** Undefined when the token already has its most requests in flight. */
    slot: Slot | undefined;
    /** Run when the request is over, whatever happened: budget reservations are released. */
    release: (() => void)[];
    setRewriter(r: SseRewriter): void;
    cut(): string | undefined;
  }

  async function serve(req: IncomingMessage, res: ServerResponse, c: Call) {
    const started = performance.now();
    const method = req.method!;
    const { grant, token } = c;
    const target = normaliseTarget(req.url ?? '');
    const path = target.ok ? target.path : (req.url ?? '').split('?')[0];
    const hit = target.ok ? route(conn.flavor, method, target.path) : undefined;
    const endpoint: Endpoint = hit?.endpoint ?? 'chat';
    const dialect = hit?.dialect;
    let early: Verdict | undefined;
    const overridden = effectiveRequest(method, req.url ?? '', req.headers, 'refuse');
    if (!c.slot) early = deny('request.concurrency', `this token already has ${conn.max_concurrent_per_token} requests in flight on connection "${name}" (max_concurrent_per_token)`);
    else if (!target.ok) early = deny('request.target', target.reason);
    else if (!overridden.ok) early = deny('request.override', overridden.reason);
    else if (!hit) early = deny('llm.endpoint', `${method} ${path} is not served on LLM connection "${name}" (served: ${served(conn.flavor).join(', ')})`);

    // The body: read whole (it must be inspected), parsed, and described flavour-neutrally.
    let body: Record<string, unknown> | undefined;
    let call: LlmRequest | undefined;
    if (!early && dialect) {
      try {
        const parsed = parseStrictJson((await readBody(req, conn.max_inspect_bytes, c.cutoff)).toString('utf8'));
        if (!parsed.ok) early = deny('request.json', parsed.reason);
        else if (isObject(parsed.value)) body = parsed.value;
        else early = deny('request.json', 'the request body must be a JSON object');
      } catch (err) {
        if (err instanceof BodyCut && err.message !== deadline) return; // revoked or gone: already answered
        early = err instanceof BodyTooLarge ? deny('max_inspect_bytes', err.message)
          : err instanceof BodyCut ? deny('request.timeout', deadline)
          : deny('request.json', `the request body could not be read (${(err as Error).message})`);
        res.shouldKeepAlive = false;
      }
      if (body) call = dialect.parse(endpoint, body, { forwardUnknown: conn.unknown_fields === 'forward', betas: betaFlags(req.headers[dialect.beta.header]) });
    }

    const ask: LlmAsk = {
      role: token.role, connection: name, endpoint, model: hit?.modelId ?? call?.model, tools: call?.tools ?? [],
      ...(call ? { capabilities: call.capabilities, choices: call.choices, ...(conn.unknown_fields === 'refuse' ? { unknown: call.unknown } : {}) } : {}),
    };
    let notes: GuardNote[] = [];
    let caps: Caps = { clamped: [] };
    let spotlighted = 0;
    let clientWantsUsage = true;
    if (call && body) {
      const review = reviewPrompt(call, body, grant, denyRules.get(token.role) ?? [], services.guards, (note) => dialect!.instruct(body!, note));
      Object.assign(ask, review.ask);
      ({ notes, caps, spotlighted } = review);
      if (call.stream) clientWantsUsage = dialect!.prepareStream(endpoint, body);
    }
    // The budget is reserved when the call is judged (below, in the same turn), so calls in flight cannot all spend one remainder.
    const budget = FREE.has(endpoint) ? undefined : budgetScope(grant, token, name);
    if (budget) {
      const used = spent(services.store, budget) + ledger.reserved(budget);
      const plan = call && body ? planSpend(call, body, budget.limit - used) : { need: 1 };
      if (plan.capped) caps.budget = plan.capped;
      ask.budget = { spent: used, need: plan.need, limit: budget.limit, per: budget.per, resetsAt: budget.resetsAt };
    }

    const prompt = call?.slots.map((s) => ({ role: s.role, text: s.get() })) ?? [];
    const full = conn.audit_content === 'full';
    const lastUser = [...prompt].reverse().find((p) => p.role === 'user')?.text;
    const preview = full && lastUser ? ` "${lastUser.replace(/\s+/g, ' ').slice(0, PREVIEW)}${lastUser.length > PREVIEW ? '…' : ''}"` : '';
    const targets: Target[] = [...(ask.model ? [{ kind: 'model' as const, name: ask.model, access: endpoint }] : []), ...ask.tools.map((t) => ({ kind: 'tool' as const, name: t, access: 'offer' }))];
    const facts: Facts = {
      protocol: 'llm', connection: name, effect: FREE.has(endpoint) ? 'read' : 'complete',
      summary: `${method === 'GET' ? `${method} ${path}` : `${endpoint} ${ask.model ?? '(no model)'}`}${preview}`, targets,
    };
    const guardNotes = mergeNotes(notes);
    // An agent may tag the body's metadata instead of (or as well as) the headers the session was keyed by.
    const tagged = correlationFromMetadata(body?.metadata);
    const decide = () => {
      const v = early ?? decideLlm(ask, grant);
      if (v.kind !== 'deny' && budget && ask.budget) c.release.push(ledger.hold(budget, ask.budget.need));
      return v;
    };
    const { verdict, record } = await judgeDurably(services, c.ctx, facts, decide, {
      endpoint, client: c.client,
      ...(tagged.runId || tagged.step ? { runId: tagged.runId, step: tagged.step } : {}),
      ...(ask.model ? { model: ask.model } : {}),
      ...(call ? { stream: call.stream, tools: ask.tools } : {}),
      ...(call && full ? { prompt } : call ? { promptSha256: sha256(JSON.stringify(prompt)) } : {}),
      ...(caps.clamped.length || caps.set || caps.budget ? { maxTokens: caps } : {}),
      ...(call?.unknown.length ? { unknownFields: call.unknown } : {}),
      ...(call?.capabilities.length ? { capabilities: call.capabilities.map((x) => x.name) } : {}),
      ...(spotlighted ? { spotlighted } : {}),
      ...(guardNotes.length ? { guards: guardNotes } : {}),
      ...(ask.budget ? { budget: { spent: ask.budget.spent, reserve: ask.budget.need, limit: ask.budget.limit, per: ask.budget.per } } : {}),
    });
    if (verdict.kind === 'deny') {
      const status = verdict.rule === 'llm.endpoint' ? 404 : statusForRule(verdict.rule);
      const retry: Record<string, string> = verdict.rule === 'request.concurrency' ? { 'retry-after': '1' }
        : status === 429 && ask.budget?.resetsAt ? { 'retry-after': String(Math.max(1, Math.ceil((ask.budget.resetsAt - Date.now()) / 1000))) } : {};
      return fail(res, status, verdict.rule, verdict.message, retry);
    }
    if (verdict.kind === 'hold') {
      const exact = `${method} ${path}\n${sha256(JSON.stringify(body ?? null))}`;
      const proceed = await awaitApproval(services, { token, ctx: c.ctx, protocol: 'llm', summary: facts.summary, exact, reason: verdict.reason }, res, {
        refuse: (status, code, message, extra) => sendJson(res, status, { ...errorOf(status, code, message), ...extra }),
        accepted: (id, message) => sendJson(res, 202, { status: 'pending_approval', approval: id, message: `Gatehouse: ${message}` }),
      });
      if (!proceed) return;
    }

    const outcome = (data: Record<string, unknown>) =>
      recordOutcome(services.audit, c.ctx, record?.seq, { protocol: 'llm', ms: Math.round(performance.now() - started), ...(ask.model ? { model: ask.model } : {}), ...data });
    const headers = upstreamRequestHeaders(req.headers, { token: c.secret, upstreamHost: base.host, inject: conn.headers, clientAddress: c.client, forwardedHost: self, drop: DROP_HEADERS });
    headers['accept-encoding'] = ACCEPT_WHEN_SCANNING;
    const payload = body ? Buffer.from(JSON.stringify(body)) : undefined;
    if (payload) { headers['content-length'] = String(payload.length); headers['content-type'] = 'application/json'; }
    let upstream: IncomingMessage;
    try {
      await c.slot!.upstream(c.cutoff, conn.timeout_ms);
      upstream = await callUpstream({ url: base, path: upstreamLlmPath(base, path, target.ok ? target.query : null), method, headers, body: payload, timeoutMs: conn.timeout_ms, cutoff: c.cutoff }, agents, name);
    } catch (err) {
      const f = err instanceof UpstreamFailure ? err : new UpstreamFailure(502, (err as Error).message, 'upstream.error');
      outcome({ status: f.status, error: c.cut() ? `cut: ${c.cut()}` : f.message });
      if (c.cutoff.reason === undefined) fail(res, f.status, f.code, f.message);
      return;
    }

    const status = upstream.statusCode ?? 502;
    const type = String(upstream.headers['content-type'] ?? '');
    // Completions are read, and credentials scrubbed, as the agent's client will decode them.
    const decoded: Decoded = mayHaveBody(method, status) ? decodedBody(upstream) : { ok: true, body: upstream, decoded: false };
    if (!decoded.ok) {
      upstream.destroy();
      outcome({ status: 502, upstreamStatus: status, error: decoded.message });
      return fail(res, 502, 'upstream.encoding', decoded.message);
    }
    const from = decoded.body;
    const relay = (...steps: RelayStep[]) => relayUpstream(from, res, name, { timeoutMs: conn.timeout_ms, needles }, steps).done;
    const promptChars = prompt.reduce((n, p) => n + p.text.length, 0);
    const made: TextRedactor[] = [];
    const settle = (usage: Usage | undefined, completion: string, extra: Record<string, unknown> = {}) => {
      const charged = usage ?? (FREE.has(endpoint) || status >= 400 ? undefined : { input: estimateTokens(promptChars), output: estimateTokens(completion.length), total: estimateTokens(promptChars) + estimateTokens(completion.length), estimated: true });
      const total = budget && charged ? charge(services.store, budget, charged.total) : undefined;
      const found = mergeNotes(made.flatMap((r) => r.notes()));
      outcome({
        status, ...(charged ? { usage: charged } : {}),
        ...(completion ? (full ? { completion } : { completionSha256: sha256(completion) }) : {}),
        ...(total !== undefined ? { budget: { spent: total, limit: budget!.limit } } : {}),
        ...(found.length ? { guards: found } : {}), ...extra,
      });
    };

    try {
      if (status < 400 && dialect && /^text\/event-stream\b/i.test(type)) {
        const handler = dialect.stream(endpoint, {
          redacting: redacting(grant.guards),
          redactor: () => { const r = services.guards.streamRedactor(grant.guards); if (r) made.push(r); return r; },
          redact: (t) => services.guards.redact(t, grant.guards).text,
          clientWantsUsage,
        });
        const rewriter = new SseRewriter(handler);
        c.setRewriter(rewriter);
        res.writeHead(status, scrubHeaders(clientResponseHeaders(upstream.headers, { length: true, encoding: true })));
        res.flushHeaders();
        try {
          await relay(rewriter);
        } catch (err) {
          upstream.destroy();
          settle(handler.usage(), handler.text(), { error: c.cut() ? `cut: ${c.cut()}` : (err as Error).message });
          if (!c.cut()) res.destroy();
          return;
        }
        return settle(handler.usage(), handler.text());
      }
      const json = /^application\/(?:[\w.+-]*\+)?json\b/i.test(type);
      if (status >= 400 || !json || !(dialect || endpoint === 'models')) {
        // Upstream errors and anything else pass through (credentials scrubbed), with Gatehouse's framing.
        res.writeHead(status, scrubHeaders(clientResponseHeaders(upstream.headers, { length: decoded.decoded, encoding: decoded.decoded })));
        await relay();
        return settle(undefined, '', status >= 400 ? { upstreamError: true } : {});
      }
      let raw: Buffer;
      try {
        raw = await readBody(from, conn.max_inspect_bytes);
      } catch (err) {
        upstream.destroy();
        if (!(err instanceof BodyTooLarge)) throw err;
        settle(undefined, '', { error: 'response exceeds max_inspect_bytes' });
        return fail(res, 502, 'max_inspect_bytes', `the upstream response exceeds max_inspect_bytes (${conn.max_inspect_bytes} bytes) and must be inspected; it was withheld`);
      }
      let doc: unknown;
      try { doc = JSON.parse(raw.toString('utf8')); } catch {
        settle(undefined, '', { error: 'upstream sent invalid JSON' });
        return fail(res, 502, 'upstream.protocol', 'the upstream sent a response that is not valid JSON');
      }
      let usage: Usage | undefined;
      let completion = '';
      if (endpoint === 'models' && isObject(doc) && Array.isArray(doc.data)) {
        doc.data = doc.data.filter((m) => isObject(m) && typeof m.id === 'string' && modelAllowed(grant, m.id));
        if ('first_id' in doc) { doc.first_id = (doc.data as { id: string }[])[0]?.id ?? null; doc.last_id = (doc.data as { id: string }[]).at(-1)?.id ?? null; }
      } else if (dialect) {
        usage = dialect.usage(endpoint, doc);
        const slots = dialect.completion(endpoint, doc);
        if (redacting(grant.guards)) {
          for (const s of slots) {
            const r = services.guards.redact(s.get(), grant.guards);
            if (r.notes.length) { s.set(r.text); made.push({ push: () => '', flush: () => '', notes: () => r.notes }); }
          }
        }
        completion = slots.map((s) => s.get()).join('\n');
      }
      const out = scrubBuffer(Buffer.from(JSON.stringify(doc)), needles);
      res.writeHead(status, { ...scrubHeaders(clientResponseHeaders(upstream.headers, { length: true, encoding: true })), 'content-length': String(out.length) });
      res.end(out);
      settle(usage, completion);
    } catch (err) {
      upstream.destroy();
      if (!res.headersSent) fail(res, 502, 'upstream.error', (err as Error).message);
      else if (!c.cut()) res.destroy();
      settle(undefined, '', { error: c.cut() ? `cut: ${c.cut()}` : (err as Error).message });
    }
  }

  const server = await startServer(conn.listen, handle, (err) => services.log.error({ err, connection: name }, 'llm request failed'), {
    headerTimeoutMs: conn.header_timeout_ms, onHeaderTimeout: auditHeaderTimeout(services.audit, name, conn.header_timeout_ms),
  });
  self = server.address;
  return {
    name,
    kind: 'llm',
    address: server.address,
    drain: server.drain,
    async close() {
      sessions.closeAll('gateway shutting down');
      await server.close();
      agents.destroy();
    },
  };
}
