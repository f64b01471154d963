// The Anthropic dialect (`/v1/messages`): system + content blocks in, content blocks and message_* stream events out.
import { asArray, isObject, jsonSlot, stringSlot, type Dialect, type StreamHandler, type StreamOptions, type TextRedactorLike, type TextSlot, type Usage } from './dialect.ts';
import { BETAS, MESSAGES } from './inventory/anthropic.ts';
import { inventory } from './inventory/walk.ts';
import { rewritten, type SseEvent } from './sse.ts';

const usageOf = (u: unknown): Usage | undefined => {
  if (!isObject(u)) return undefined;
  // Cache writes and reads are billed input too.
  const input = Number(u.input_tokens ?? 0) + Number(u.cache_creation_input_tokens ?? 0) + Number(u.cache_read_input_tokens ?? 0);
  const output = Number(u.output_tokens ?? 0);
  return { input, output, total: input + output };
};

function messagesStream(opts: StreamOptions): StreamHandler {
  const redactors = new Map<number, TextRedactorLike | undefined>();
  const texts = new Map<number, string>();
  let input = 0;
  let output = 0;
  let seen = false;
  const append = (i: number, text: string) => texts.set(i, (texts.get(i) ?? '') + text);
  return {
    event(ev) {
      let json: unknown;
      try { json = JSON.parse(ev.data); } catch { return [ev]; }
      if (!isObject(json)) return [ev];
      const index = Number(json.index ?? 0);
      switch (json.type) {
        case 'message_start': {
          const u = usageOf(isObject(json.message) ? json.message.usage : undefined);
          if (u) { input = u.input; output = u.output; seen = true; }
          return [ev];
        }
        case 'message_delta': {
          const u = isObject(json.usage) ? json.usage : undefined;
          if (u) {
            // output_tokens is cumulative; input figures may be repeated here by newer API versions.
            if (u.output_tokens !== undefined) output = Number(u.output_tokens);
            if (u.input_tokens !== undefined) input = usageOf(u)!.input;
            seen = true;
          }
          return [ev];
        }
        case 'content_block_delta': {
          const delta = isObject(json.delta) ? json.delta : {};
          if (delta.type === 'input_json_delta' && typeof delta.partial_json === 'string') { append(index, delta.partial_json); return [ev]; }
          if (delta.type !== 'text_delta' || typeof delta.text !== 'string') return [ev];
          if (!redactors.has(index)) redactors.set(index, opts.redactor());
          const r = redactors.get(index);
          if (!r) { append(index, delta.text); return [ev]; }
          delta.text = r.push(delta.text);
          append(index, delta.text as string);
          return [rewritten(ev, json)];
        }
        case 'content_block_stop': {
          const r = redactors.get(index);
          redactors.delete(index);
          const rest = r?.flush() ?? '';
          if (!rest) return [ev];
          append(index, rest);
          return [{ event: 'content_block_delta', data: JSON.stringify({ type: 'content_block_delta', index, delta: { type: 'text_delta', text: rest } }) }, ev];
        }
        default:
          return [ev];
      }
    },
    end(): SseEvent[] {
      return [];
    },
    usage: () => (seen ? { input, output, total: input + output } : undefined),
    text: () => [...texts.values()].join('\n'),
  };
}

/** Error bodies in Anthropic's shape: `{ type: "error", error: { type, message } }`. */
export function anthropicError(status: number, code: string, message: string) {
  const type = status === 401 ? 'authentication_error' : status === 403 ? 'permission_error' : status === 404 ? 'not_found_error'
    : status === 413 ? 'request_too_large' : status === 429 ? 'rate_limit_error' : status === 400 ? 'invalid_request_error' : 'api_error';
  return { type: 'error', error: { type, message: `Gatehouse: ${message}`, code } };
}

const ANTHROPIC_BETA = { header: 'anthropic-beta', known: BETAS };

export const anthropicDialect: Dialect = {
  beta: ANTHROPIC_BETA,
  parse(endpoint, body, opts) {
    const walked = inventory(body, MESSAGES, opts, ANTHROPIC_BETA);
    return {
      model: typeof body.model === 'string' ? body.model : undefined,
      stream: body.stream === true,
      maxTokenFields: body.max_tokens !== undefined && body.max_tokens !== null ? ['max_tokens'] : [],
      capField: endpoint === 'messages' ? 'max_tokens' : undefined,
      tools: asArray(body.tools).filter(isObject).map((t) => String(t.name ?? t.type)),
      slots: walked.slots, uninspectable: walked.opaque, unknown: walked.unknown, capabilities: walked.capabilities,
      choices: 1,
    };
  },
  prepareStream: () => true, // usage always arrives in message_start / message_delta
  usage: (_endpoint, json) => (isObject(json) ? usageOf(json.usage) : undefined),
  completion(_endpoint, json) {
    const slots: TextSlot[] = [];
    for (const b of asArray(isObject(json) ? json.content : undefined)) {
      if (!isObject(b)) continue;
      if (b.type === 'text') slots.push(...stringSlot(b, 'text', 'assistant'));
      else if (b.type === 'tool_use') slots.push(...jsonSlot(b, 'input', 'assistant'));
    }
    return slots;
  },
  stream: (_endpoint, opts) => messagesStream(opts),
  instruct(body, note) {
    if (Array.isArray(body.system)) body.system.unshift({ type: 'text', text: note });
    else body.system = typeof body.system === 'string' && body.system ? `${note}\n\n${body.system}` : note;
  },
  error: anthropicError,
};
