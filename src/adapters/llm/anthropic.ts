// The Anthropic dialect (`/v1/messages`): system + content blocks in, content blocks and message_* stream events out.
import { asArray, isObject, jsonSlot, stringSlot, type Dialect, type LlmRequest, type StreamHandler, type StreamOptions, type TextRedactorLike, type TextSlot, type Usage } from './call.ts';
import { rewritten, type SseEvent } from './sse.ts';

function blockSlots(blocks: unknown, role: string, req: LlmRequest): TextSlot[] {
  const slots: TextSlot[] = [];
  for (const b of asArray(blocks)) {
    if (!isObject(b)) continue;
    if (b.type === 'text') slots.push(...stringSlot(b, 'text', role));
    else if (b.type === 'tool_use' || b.type === 'server_tool_use') slots.push(...jsonSlot(b, 'input', role));
    else if (b.type === 'tool_result') {
      slots.push(...stringSlot(b, 'content', 'tool'), ...blockSlots(b.content, 'tool', req));
    } else if (b.type === 'document') {
      const source = isObject(b.source) ? b.source : {};
      if (source.type === 'text') slots.push(...stringSlot(source, 'data', role));
      else if (source.type === 'content') slots.push(...blockSlots(source.content, role, req));
      else req.uninspectable ??= `a ${String(source.type)} document cannot be inspected`;
    }
  }
  return slots;
}

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

export const anthropicDialect: Dialect = {
  parse(endpoint, body) {
    const req: LlmRequest = {
      model: typeof body.model === 'string' ? body.model : undefined,
      stream: body.stream === true,
      maxTokenFields: body.max_tokens !== undefined && body.max_tokens !== null ? ['max_tokens'] : [],
      capField: endpoint === 'messages' ? 'max_tokens' : undefined,
      tools: asArray(body.tools).filter(isObject).map((t) => String(t.name ?? t.type)),
      slots: [],
    };
    req.slots = [...stringSlot(body, 'system', 'system'), ...blockSlots(body.system, 'system', req)];
    for (const m of asArray(body.messages)) {
      if (!isObject(m)) continue;
      const role = typeof m.role === 'string' ? m.role : 'user';
      req.slots.push(...stringSlot(m, 'content', role), ...blockSlots(m.content, role, req));
    }
    return req;
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
  error: anthropicError,
};
