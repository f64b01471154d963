// The request side of an LLM call: routed to its endpoint, the body read whole and parsed by its dialect, the prompt
// reviewed (content rules, guards, caps), the budget planned, and the facts, policy and detail the gate judges.
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LlmConnection, LlmGrant } from '../../config/schema.ts';
import type { AdapterServices } from '../../pipeline/adapter.ts';
import { mergeNotes, type GuardNote } from '../../pipeline/content-guards.ts';
import { correlationFromMetadata } from '../../pipeline/correlation.ts';
import type { Ask } from '../../pipeline/gate.ts';
import { deny, type Verdict } from '../../services/policy/verdict.ts';
import { bodyTimeoutReason } from '../kit/http/deadline.ts';
import type { Call } from '../kit/http/listener.ts';
import { effectiveRequest } from '../kit/http/overrides.ts';
import { BodyCut, BodyTooLarge, readBody } from '../kit/http/reply.ts';
import { parseStrictJson } from '../kit/http/strict-json.ts';
import { normaliseTarget } from '../kit/http/target.ts';
import { budgetScope, committed, planSpend, reserve, type BudgetScope } from './budget.ts';
import { isObject, type Dialect, type Endpoint, type LlmRequest } from './dialect.ts';
import { FREE, route, served } from './endpoints.ts';
import { approvalsOf, compileDenyRules, decideLlm, llmFacts, type LlmFacts } from './policy.ts';
import { reviewPrompt, type Caps, type PromptReview } from './prompt.ts';

/** One call, ready for the gate and, once it passes, for the upstream. */
export interface LlmExchange {
  ask: Ask<LlmFacts>;
  path: string;
  query: string | null;
  endpoint: Endpoint;
  dialect?: Dialect;
  /** The body as it will be forwarded (caps applied, redacted, spotlighted), and the dialect's reading of it. */
  body?: Record<string, unknown>;
  call?: LlmRequest;
  /** Every text the model reads, as forwarded. */
  prompt: { role: string; text: string }[];
  budget?: BudgetScope;
  /** The agent asked for streamed usage itself (else the usage-only chunk Gatehouse asked for is dropped). */
  clientWantsUsage: boolean;
  /** Releases the call's budget reservation: run once the call is over, whatever happened. */
  release(): void;
}

const PREVIEW = 80;
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
/** A beta header's flags (`a,b` or repeated headers), trimmed. */
const betaFlags = (value: string | string[] | undefined) => [value ?? []].flat().flatMap((v) => v.split(',')).map((f) => f.trim()).filter(Boolean);

/**
 * Compiles every role's prompt rules and approvals on this connection at start-up, and returns the function that reads
 * one call. It resolves undefined when the call was cut while its body was read: it has been answered already.
 */
export function llmRequests(name: string, conn: LlmConnection, services: AdapterServices) {
  const denyRules = new Map<string, ReturnType<typeof compileDenyRules>>();
  for (const [role, byConnection] of Object.entries(services.config.roles)) {
    const g = byConnection[name] as LlmGrant | undefined;
    if (!g) continue;
    try {
      denyRules.set(role, compileDenyRules(g.deny));
    } catch (err) {
      throw new Error(`roles.${role}.${name}.deny: ${(err as Error).message}`);
    }
    try {
      approvalsOf(g);
    } catch (err) {
      throw new Error(`roles.${role}.${name}.approve: ${(err as Error).message}`);
    }
  }
  const deadline = bodyTimeoutReason(conn.body_timeout_ms);
  const full = conn.audit_content === 'full';

  return async function readCall(req: IncomingMessage, res: ServerResponse, c: Call<LlmGrant>): Promise<LlmExchange | undefined> {
    const method = req.method!;
    const { grant, token } = c;
    const target = normaliseTarget(req.url ?? '');
    const path = target.ok ? target.path : (req.url ?? '').split('?')[0];
    const hit = target.ok ? route(conn.flavor, method, target.path) : undefined;
    const endpoint: Endpoint = hit?.endpoint ?? 'chat';
    const dialect = hit?.dialect;
    const overridden = effectiveRequest(method, req.url ?? '', req.headers, 'refuse');
    let early: Verdict | undefined = c.crowded
      ?? (!target.ok ? deny('request.target', target.reason)
        : !overridden.ok ? deny('request.override', overridden.reason)
          : !hit ? deny('llm.endpoint', `${method} ${path} is not served on LLM connection "${name}" (served: ${served(conn.flavor).join(', ')})`)
            : undefined);

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
        if (err instanceof BodyCut && err.message !== deadline) return undefined; // revoked or gone: already answered
        early = err instanceof BodyTooLarge ? deny('max_inspect_bytes', err.message)
          : err instanceof BodyCut ? deny('request.timeout', deadline)
          : deny('request.json', `the request body could not be read (${(err as Error).message})`);
        res.shouldKeepAlive = false;
      }
      if (body) call = dialect.parse(endpoint, body, { forwardUnknown: conn.unknown_fields === 'forward', betas: betaFlags(req.headers[dialect.beta.header]) });
    }

    let review: PromptReview | undefined;
    let clientWantsUsage = true;
    if (call && body) {
      review = reviewPrompt(call, body, grant, denyRules.get(token.role) ?? [], services.guards, (note) => dialect!.instruct(body!, note));
      if (call.stream) clientWantsUsage = dialect!.prepareStream(endpoint, body);
    }
    const caps: Caps = review?.caps ?? { clamped: [] };
    // The budget is reserved in the store before the call is judged (and released if it is refused), so calls in flight
    // on every node sharing the store cannot all spend one remainder.
    const budget = FREE.has(endpoint) ? undefined : budgetScope(grant, token, name);
    const reservations: (() => void)[] = [];
    let reserved: LlmFacts['budget'];
    if (budget) {
      const before = await committed(services.store, budget);
      const plan = call && body ? planSpend(call, body, budget.limit - before) : { need: 1 };
      if (plan.capped) caps.budget = plan.capped;
      const held = early ? undefined : await reserve(services.store, budget, plan.need, (err) => services.log.warn({ connection: name, err: err.message }, 'a budget reservation could not be released'));
      if (held?.release) reservations.push(held.release);
      reserved = { spent: held?.committed ?? before, need: plan.need, limit: budget.limit, per: budget.per, resetsAt: budget.resetsAt };
    }

    const prompt = call?.slots.map((s) => ({ role: s.role, text: s.get() })) ?? [];
    const lastUser = [...prompt].reverse().find((p) => p.role === 'user')?.text;
    const preview = full && lastUser ? ` "${lastUser.replace(/\s+/g, ' ').slice(0, PREVIEW)}${lastUser.length > PREVIEW ? '…' : ''}"` : '';
    const model = hit?.modelId ?? call?.model;
    const facts = llmFacts({
      connection: name, role: token.role, endpoint, model, tools: call?.tools ?? [],
      summary: `${method === 'GET' ? `${method} ${path}` : `${endpoint} ${model ?? '(no model)'}`}${preview}`,
      ...(call ? { capabilities: call.capabilities, choices: call.choices, ...(conn.unknown_fields === 'refuse' ? { unknownFields: call.unknown } : {}) } : {}),
      ...review?.ask,
      ...(reserved ? { budget: reserved } : {}),
    });
    const guardNotes: GuardNote[] = mergeNotes(review?.notes ?? []);
    // An agent may tag the body's metadata instead of (or as well as) the headers the session was keyed by.
    const tagged = correlationFromMetadata(body?.metadata);
    return {
      path, query: target.ok ? target.query : null, endpoint, dialect, body, call, prompt, budget, clientWantsUsage,
      release: () => { for (const r of reservations.splice(0)) r(); },
      ask: {
        facts,
        policy: (f) => {
          const verdict = early ?? decideLlm(f, grant);
          // A refused call spends nothing: its reservation ends now, not when the exchange does.
          if (verdict.kind === 'deny') for (const r of reservations.splice(0)) r();
          return verdict;
        },
        // An approval binds to this exact call; the digest is only worth making when the grant lists approvals.
        ...(grant.approve.length ? { exact: `${method} ${path}\n${sha256(JSON.stringify(body ?? null))}` } : {}),
        detail: {
          endpoint, client: c.client,
          ...(tagged.runId || tagged.step ? { runId: tagged.runId, step: tagged.step } : {}),
          ...(model ? { model } : {}),
          ...(call ? { stream: call.stream, tools: facts.tools } : {}),
          ...(call && full ? { prompt } : call ? { promptSha256: sha256(JSON.stringify(prompt)) } : {}),
          ...(caps.clamped.length || caps.set || caps.budget ? { maxTokens: caps } : {}),
          ...(call?.unknown.length ? { unknownFields: call.unknown } : {}),
          ...(call?.capabilities.length ? { capabilities: call.capabilities.map((x) => x.name) } : {}),
          ...(review?.spotlighted ? { spotlighted: review.spotlighted } : {}),
          ...(guardNotes.length ? { guards: guardNotes } : {}),
          ...(reserved ? { budget: { spent: reserved.spent, reserve: reserved.need, limit: reserved.limit, per: reserved.per } } : {}),
        },
      },
    };
  };
}
