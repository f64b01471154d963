// The OpenAI dialect for chat completions, legacy completions and embeddings (the Responses API is in responses.ts).
import {
  asArray, isObject, stringSlot,
  type Dialect, type Endpoint, type StreamHandler, type StreamOptions, type TextRedactorLike, type TextSlot, type Usage,
} from './dialect.ts';
import { CHAT, COMPLETIONS, EMBEDDINGS } from './inventory/chat.ts';
import { inventory, type Fields } from './inventory/walk.ts';
import { rewritten, type SseEvent } from './sse.ts';

/** Whose words a message holds, for the injection scan: tool output, tool definitions and earlier model output are documents. */
export const scanRole = (role: string) => (role === 'tool' || role === 'function' || role === 'assistant' || role === 'tools' ? 'document' : 'user');

function toolNames(body: Record<string, unknown>): string[] {
  const names: string[] = [];
  for (const t of asArray(body.tools)) {
    if (!isObject(t)) continue;
    const fn = isObject(t.function) ? t.function : isObject(t.custom) ? t.custom : undefined;
    names.push(typeof fn?.name === 'string' ? fn.name : String(t.type ?? 'unknown'));
  }
  for (const f of asArray(body.functions)) if (isObject(f)) names.push(String(f.name));
  return names;
}

/** OpenAI sends no beta flags on these endpoints: any it is given is unknown. */
const OPENAI_BETA = { header: 'openai-beta', known: {} };
const FIELDS: Partial<Record<Endpoint, Fields>> = { chat: CHAT, completions: COMPLETIONS, embeddings: EMBEDDINGS };

/** Chat completions, legacy completions and embeddings. */
export const chatDialect: Dialect = {
  beta: OPENAI_BETA,
  parse(endpoint, body, opts) {
    const walked = inventory(body, FIELDS[endpoint] ?? CHAT, opts, OPENAI_BETA);
    return {
      model: typeof body.model === 'string' ? body.model : undefined,
      stream: body.stream === true,
      maxTokenFields: ['max_tokens', 'max_completion_tokens'].filter((f) => body[f] !== undefined && body[f] !== null),
      capField: endpoint === 'embeddings' ? undefined : 'max_tokens',
      tools: endpoint === 'chat' ? toolNames(body) : [],
      slots: walked.slots, uninspectable: walked.opaque, unknown: walked.unknown, capabilities: walked.capabilities,
      // best_of completions are generated (and billed) server-side for each one returned.
      choices: endpoint === 'embeddings' ? 1 : endpoint === 'completions' && body.best_of != null ? body.best_of : body.n ?? 1,
    };
  },
  prepareStream(_endpoint, body) {
    const options = isObject(body.stream_options) ? body.stream_options : {};
    const asked = options.include_usage === true;
    body.stream_options = { ...options, include_usage: true };
    return asked;
  },
  usage(_endpoint, json) {
    if (!isObject(json) || !isObject(json.usage)) return undefined;
    const u = json.usage;
    const input = Number(u.prompt_tokens ?? 0);
    const output = Number(u.completion_tokens ?? 0);
    return { input, output, total: Number(u.total_tokens ?? input + output) };
  },
  completion(endpoint, json) {
    const slots: TextSlot[] = [];
    if (!isObject(json)) return slots;
    for (const choice of asArray(json.choices)) {
      if (!isObject(choice)) continue;
      if (endpoint === 'completions') slots.push(...stringSlot(choice, 'text', 'assistant'));
      else if (isObject(choice.message)) {
        slots.push(...stringSlot(choice.message, 'content', 'assistant'));
        for (const call of asArray(choice.message.tool_calls)) if (isObject(call) && isObject(call.function)) slots.push(...stringSlot(call.function, 'arguments', 'assistant'));
      }
    }
    return slots;
  },
  stream: (endpoint, opts) => chatStream(endpoint, opts),
  instruct(body, note) {
    if (Array.isArray(body.messages)) body.messages.unshift({ role: 'system', content: note });
  },
  error: (status, code, message) => openaiError(status, code, message),
};

/** Chat/completions chunks: `choices[i].delta.content` (or `.text`) redacted per choice; the final usage chunk read. */
function chatStream(endpoint: Endpoint, opts: StreamOptions): StreamHandler {
  const redactors = new Map<number, TextRedactorLike | undefined>();
  const texts = new Map<number, string>();
  let usage: Usage | undefined;
  let last: Record<string, unknown> | undefined;
  const field = endpoint === 'completions' ? 'text' : 'content';
  const redactorFor = (i: number) => {
    if (!redactors.has(i)) redactors.set(i, opts.redactor());
    return redactors.get(i);
  };
  const append = (i: number, text: string) => texts.set(i, (texts.get(i) ?? '') + text);
  /** Where a choice's text lives in a chunk (`delta` for chat, the choice itself for completions). */
  const holder = (choice: Record<string, unknown>) => {
    if (endpoint === 'completions') return choice;
    if (!isObject(choice.delta)) choice.delta = {};
    return choice.delta as Record<string, unknown>;
  };
  const flushAll = (): SseEvent[] => {
    const choices: unknown[] = [];
    for (const [i, r] of redactors) {
      const rest = r?.flush() ?? '';
      redactors.delete(i);
      if (!rest) continue;
      append(i, rest);
      choices.push(endpoint === 'completions' ? { index: i, text: rest, finish_reason: null } : { index: i, delta: { content: rest }, finish_reason: null });
    }
    if (!choices.length) return [];
    return [{ data: JSON.stringify({ id: last?.id, object: last?.object, created: last?.created, model: last?.model, choices }) }];
  };
  return {
    event(ev) {
      if (ev.data.trim() === '[DONE]') return [...flushAll(), ev];
      let json: unknown;
      try { json = JSON.parse(ev.data); } catch { return [ev]; }
      if (!isObject(json)) return [ev];
      last = json;
      if (isObject(json.usage)) usage = chatDialect.usage(endpoint, json);
      const choices = asArray(json.choices);
      if (choices.length === 0 && isObject(json.usage) && !opts.clientWantsUsage) return [];
      let changed = false;
      for (const choice of choices) {
        if (!isObject(choice)) continue;
        const i = Number(choice.index ?? 0);
        const h = endpoint === 'completions' ? choice : isObject(choice.delta) ? choice.delta : undefined;
        const piece = h?.[field];
        for (const call of asArray(isObject(choice.delta) ? choice.delta.tool_calls : undefined)) {
          if (isObject(call) && isObject(call.function) && typeof call.function.arguments === 'string') append(i, call.function.arguments);
        }
        const r = redactorFor(i);
        if (!r) {
          if (typeof piece === 'string') append(i, piece);
          continue;
        }
        let out = typeof piece === 'string' ? r.push(piece) : '';
        if (choice.finish_reason) { out += r.flush(); redactors.delete(i); }
        if (out !== (piece ?? '')) { holder(choice)[field] = out; changed = true; }
        append(i, out);
      }
      return [changed ? rewritten(ev, json) : ev];
    },
    end: flushAll,
    usage: () => usage,
    text: () => [...texts.values()].join('\n'),
  };
}

/** Error bodies in OpenAI's shape: `{ error: { message, type, code } }`, which the SDKs surface as APIError. */
export function openaiError(status: number, code: string, message: string) {
  const type = status === 401 ? 'authentication_error' : status === 429 ? 'rate_limit_exceeded' : status === 400 || status === 413 ? 'invalid_request_error' : status >= 500 ? 'upstream_error' : 'permission_error';
  return { error: { message: `Gatehouse: ${message}`, type, param: null, code } };
}
