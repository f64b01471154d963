// The response side of an LLM call: a refusal in the provider's error shape, or the call forwarded with the real key and
// its answer relayed in one of three modes — an SSE stream rewritten event by event, passed through (upstream errors,
// other types), or a JSON completion read whole — with usage charged to the budget and the result recorded.
import { createHash } from 'node:crypto';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { LlmConnection, LlmGrant } from '../../config/schema.ts';
import { mergeNotes, redacting, type ContentGuards, type TextRedactor } from '../../pipeline/content-guards.ts';
import type { Forward, Refuse } from '../../pipeline/gate.ts';
import type { Store } from '../../services/store/store.ts';
import { ACCEPT_WHEN_SCANNING, decodedBody, mayHaveBody, type Decoded } from '../kit/http/coding.ts';
import { clientResponseHeaders, credentialValues, upstreamRequestHeaders } from '../kit/http/hop.ts';
import type { Call } from '../kit/http/listener.ts';
import { sendRefusal, type ErrorBody } from '../kit/http/outcome.ts';
import { relayUpstream, type RelayStep } from '../kit/http/relay.ts';
import { BodyTooLarge, readBody, sendJson } from '../kit/http/reply.ts';
import { scrubBuffer, scrubText } from '../kit/http/scrub.ts';
import type { UpstreamFailure } from '../kit/http/upstream.ts';
import { charge } from './budget.ts';
import { estimateTokens, isObject, type Usage } from './dialect.ts';
import { errorShape, FREE, upstreamLlmPath } from './endpoints.ts';
import { modelAllowed } from './policy.ts';
import type { LlmExchange } from './request.ts';
import { SseRewriter } from './stream.ts';

/** Provider account selectors: with the gateway's key, an agent must not pick another organisation or project. */
const DROP_HEADERS = ['openai-organization', 'openai-project'];
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const isJson = (type: string) => /^application\/(?:[\w.+-]*\+)?json\b/i.test(type);

/** The provider's error body (so the agent's SDK reports the message), with any extra fields beside it. */
export const llmError = (flavor: LlmConnection['flavor']): ErrorBody => {
  const shape = errorShape(flavor);
  return (status, code, message, extra) => ({ ...(shape(status, code, message) as object), ...extra });
};

/** A refused call: an unserved endpoint is 404; a spent budget window says when it resets. */
export function refuse(res: ServerResponse, refusal: Refuse, x: LlmExchange, error: ErrorBody) {
  const resetsAt = x.ask.facts.budget?.resetsAt;
  sendRefusal(res, refusal, error, {
    ...(refusal.rule === 'llm.endpoint' ? { status: 404 } : {}),
    ...(resetsAt ? { retryAfter: Math.max(1, Math.ceil((resetsAt - Date.now()) / 1000)) } : {}),
  });
}

/** Makes the function that forwards a call the gate let through and relays the provider's answer. */
export function llmResponses(name: string, conn: LlmConnection, guards: ContentGuards, store: Store) {
  const error = llmError(conn.flavor);
  const credentials = credentialValues(conn.headers);
  const needles = credentials.map((c) => Buffer.from(c));
  const full = conn.audit_content === 'full';
  const fail = (res: ServerResponse, status: number, code: string, message: string) => sendJson(res, status, error(status, code, message));
  const sseError = (code: string, message: string) => `${conn.flavor === 'anthropic' ? 'event: error\n' : ''}data: ${JSON.stringify(error(401, code, message))}\n\n`;
  const scrubHeaders = (h: OutgoingHttpHeaders) => {
    for (const [k, v] of Object.entries(h)) if (typeof v === 'string' && credentials.length) h[k] = scrubText(v, credentials);
    return h;
  };

  return async function respond(req: IncomingMessage, res: ServerResponse, c: Call<LlmGrant>, x: LlmExchange, forward: Forward) {
    const { grant } = c;
    const { endpoint, dialect, budget } = x;
    const model = x.ask.facts.model;
    const outcome = (data: Record<string, unknown>) => forward.done({ protocol: 'llm', ms: Math.round(performance.now() - c.started), ...(model ? { model } : {}), ...data });
    const headers = upstreamRequestHeaders(req.headers, { token: c.secret, upstreamHost: c.base.host, inject: conn.headers, clientAddress: c.client, forwardedHost: c.gateway, drop: DROP_HEADERS });
    headers['accept-encoding'] = ACCEPT_WHEN_SCANNING;
    const payload = x.body ? Buffer.from(JSON.stringify(x.body)) : undefined;
    if (payload) { headers['content-length'] = String(payload.length); headers['content-type'] = 'application/json'; }
    let upstream: IncomingMessage;
    try {
      upstream = await c.upstream({ path: upstreamLlmPath(c.base, x.path, x.query), method: req.method!, headers, body: payload });
    } catch (err) {
      const f = err as UpstreamFailure;
      outcome({ status: f.status, error: c.cut ? `cut: ${c.cut}` : f.message });
      if (c.cutoff.reason === undefined) fail(res, f.status, f.code, f.message);
      return;
    }

    const status = upstream.statusCode ?? 502;
    const type = String(upstream.headers['content-type'] ?? '');
    // Completions are read, and credentials scrubbed, as the agent's client will decode them.
    const decoded: Decoded = mayHaveBody(req.method!, status) ? decodedBody(upstream) : { ok: true, body: upstream, decoded: false };
    if (!decoded.ok) {
      upstream.destroy();
      outcome({ status: 502, upstreamStatus: status, error: decoded.message });
      return fail(res, 502, 'upstream.encoding', decoded.message);
    }
    const from = decoded.body;
    const relay = (...steps: RelayStep[]) => relayUpstream(from, res, name, { timeoutMs: conn.timeout_ms, needles }, steps).done;
    const promptChars = x.prompt.reduce((n, p) => n + p.text.length, 0);
    const made: TextRedactor[] = [];
    /** Charges what the call used (estimated when the provider says nothing) and records the result. */
    // Awaited before the call's reservation is released, so the spend is counted in the store before it stops being reserved.
    const settle = async (usage: Usage | undefined, completion: string, extra: Record<string, unknown> = {}) => {
      const charged = usage ?? (FREE.has(endpoint) || status >= 400 ? undefined : { input: estimateTokens(promptChars), output: estimateTokens(completion.length), total: estimateTokens(promptChars) + estimateTokens(completion.length), estimated: true });
      let total: number | undefined;
      let chargeError: string | undefined;
      try {
        total = budget && charged ? await charge(store, budget, charged.total) : undefined;
      } catch (err) {
        chargeError = (err as Error).message;
      }
      const found = mergeNotes(made.flatMap((r) => r.notes()));
      outcome({
        status, ...(charged ? { usage: charged } : {}),
        ...(completion ? (full ? { completion } : { completionSha256: sha256(completion) }) : {}),
        ...(total !== undefined ? { budget: { spent: total, limit: budget!.limit } } : {}),
        ...(chargeError ? { budgetError: `the spend could not be counted: ${chargeError}` } : {}),
        ...(found.length ? { guards: found } : {}), ...extra,
      });
    };

    try {
      if (status < 400 && dialect && /^text\/event-stream\b/i.test(type)) {
        // 1. A stream: rewritten event by event (completions redacted, usage read), never buffered whole.
        const handler = dialect.stream(endpoint, {
          redacting: redacting(grant.guards),
          redactor: () => { const r = guards.streamRedactor(grant.guards); if (r) made.push(r); return r; },
          redact: (t) => guards.redact(t, grant.guards).text,
          clientWantsUsage: x.clientWantsUsage,
        });
        const rewriter = new SseRewriter(handler);
        c.streaming((reason) => {
          // Tell the agent's SDK why, then cut: the event goes out first, the connection is destroyed after it.
          rewriter.stop();
          const kill = setTimeout(() => { c.cutoff.cut(reason); res.destroy(); }, 250);
          res.write(sseError('token.revoked', `stream cut: ${reason}`), () => { clearTimeout(kill); c.cutoff.cut(reason); res.destroy(); });
        });
        res.writeHead(status, scrubHeaders(clientResponseHeaders(upstream.headers, { length: true, encoding: true })));
        res.flushHeaders();
        try {
          await relay(rewriter);
        } catch (err) {
          upstream.destroy();
          await settle(handler.usage(), handler.text(), { error: c.cut ? `cut: ${c.cut}` : (err as Error).message });
          if (!c.cut) res.destroy();
          return;
        }
        return await settle(handler.usage(), handler.text());
      }
      if (status >= 400 || !isJson(type) || !(dialect || endpoint === 'models')) {
        // 2. Upstream errors and anything else pass through (credentials scrubbed), with Gatehouse's framing.
        res.writeHead(status, scrubHeaders(clientResponseHeaders(upstream.headers, { length: decoded.decoded, encoding: decoded.decoded })));
        await relay();
        return await settle(undefined, '', status >= 400 ? { upstreamError: true } : {});
      }
      // 3. A JSON answer, read whole: the model list filtered to the grant, completions redacted, usage read.
      let raw: Buffer;
      try {
        raw = await readBody(from, conn.max_inspect_bytes);
      } catch (err) {
        upstream.destroy();
        if (!(err instanceof BodyTooLarge)) throw err;
        await settle(undefined, '', { error: 'response exceeds max_inspect_bytes' });
        return fail(res, 502, 'max_inspect_bytes', `the upstream response exceeds max_inspect_bytes (${conn.max_inspect_bytes} bytes) and must be inspected; it was withheld`);
      }
      let doc: unknown;
      try { doc = JSON.parse(raw.toString('utf8')); } catch {
        await settle(undefined, '', { error: 'upstream sent invalid JSON' });
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
            const r = guards.redact(s.get(), grant.guards);
            if (r.notes.length) { s.set(r.text); made.push({ push: () => '', flush: () => '', notes: () => r.notes }); }
          }
        }
        completion = slots.map((s) => s.get()).join('\n');
      }
      const out = scrubBuffer(Buffer.from(JSON.stringify(doc)), needles);
      res.writeHead(status, { ...scrubHeaders(clientResponseHeaders(upstream.headers, { length: true, encoding: true })), 'content-length': String(out.length) });
      res.end(out);
      await settle(usage, completion);
    } catch (err) {
      upstream.destroy();
      if (!res.headersSent) fail(res, 502, 'upstream.error', (err as Error).message);
      else if (!c.cut) res.destroy();
      await settle(undefined, '', { error: c.cut ? `cut: ${c.cut}` : (err as Error).message });
    }
  };
}
