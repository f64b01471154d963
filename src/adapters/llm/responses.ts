// The OpenAI Responses API (`/v1/responses`): instructions + input items in, output items and typed stream events out.
import { asArray, isObject, stringSlot, type Dialect, type LlmRequest, type StreamHandler, type StreamOptions, type TextRedactorLike, type TextSlot, type Usage } from './call.ts';
import { openaiError } from './openai.ts';
import { rewritten, type SseEvent } from './sse.ts';

function inputSlots(body: Record<string, unknown>, req: LlmRequest): TextSlot[] {
  const slots: TextSlot[] = [...stringSlot(body, 'instructions', 'system'), ...stringSlot(body, 'input', 'user')];
  for (const item of asArray(body.input)) {
    if (!isObject(item)) continue;
    const role = typeof item.role === 'string' ? item.role : item.type === 'function_call_output' ? 'tool' : 'assistant';
    slots.push(...stringSlot(item, 'content', role), ...stringSlot(item, 'output', role), ...stringSlot(item, 'arguments', role));
    for (const part of asArray(item.content)) {
      if (!isObject(part)) continue;
      if (part.type === 'input_text' || part.type === 'output_text') slots.push(...stringSlot(part, 'text', role));
      else if (part.type === 'input_file') req.uninspectable ??= 'an input_file part cannot be inspected';
    }
  }
  if (isObject(body.prompt)) req.uninspectable ??= 'stored prompt templates cannot be inspected';
  return slots;
}

/** Output texts of a response object (whole, or as repeated in `response.completed`). */
function outputSlots(response: unknown): TextSlot[] {
  const slots: TextSlot[] = [];
  if (!isObject(response)) return slots;
  for (const item of asArray(response.output)) slots.push(...itemSlots(item));
  return slots;
}

function itemSlots(item: unknown): TextSlot[] {
  if (!isObject(item)) return [];
  const slots: TextSlot[] = [...stringSlot(item, 'arguments', 'assistant')];
  for (const part of asArray(item.content)) if (isObject(part) && part.type === 'output_text') slots.push(...stringSlot(part, 'text', 'assistant'));
  return slots;
}

const usageOf = (response: unknown): Usage | undefined => {
  if (!isObject(response) || !isObject(response.usage)) return undefined;
  const input = Number(response.usage.input_tokens ?? 0);
  const output = Number(response.usage.output_tokens ?? 0);
  return { input, output, total: Number(response.usage.total_tokens ?? input + output) };
};

function responsesStream(opts: StreamOptions): StreamHandler {
  const redactors = new Map<string, TextRedactorLike | undefined>();
  const texts = new Map<string, string>();
  let usage: Usage | undefined;
  const redactWhole = (slots: TextSlot[]) => { for (const s of slots) s.set(opts.redact(s.get())); };
  const append = (key: string, text: string) => texts.set(key, (texts.get(key) ?? '') + text);
  return {
    event(ev) {
      let json: unknown;
      try { json = JSON.parse(ev.data); } catch { return [ev]; }
      if (!isObject(json)) return [ev];
      const key = `${json.output_index ?? 0}:${json.content_index ?? 0}`;
      switch (json.type) {
        case 'response.output_text.delta': {
          if (!redactors.has(key)) redactors.set(key, opts.redactor());
          const r = redactors.get(key);
          const delta = typeof json.delta === 'string' ? json.delta : '';
          if (!r) { append(key, delta); return [ev]; }
          json.delta = r.push(delta);
          append(key, json.delta as string);
          return [rewritten(ev, json)];
        }
        case 'response.output_text.done': {
          const r = redactors.get(key);
          redactors.delete(key);
          const rest = r?.flush() ?? '';
          if (!r) return [ev];
          append(key, rest);
          if (typeof json.text === 'string') json.text = opts.redact(json.text);
          const done = rewritten(ev, json);
          return rest ? [{ event: 'response.output_text.delta', data: JSON.stringify({ type: 'response.output_text.delta', item_id: json.item_id, output_index: json.output_index, content_index: json.content_index, delta: rest }) }, done] : [done];
        }
        case 'response.function_call_arguments.delta':
          if (typeof json.delta === 'string') append(`${key}:args`, json.delta);
          return [ev];
        case 'response.content_part.done':
        case 'response.output_item.done':
          if (!opts.redacting) return [ev];
          redactWhole(json.type === 'response.content_part.done' ? (isObject(json.part) ? stringSlot(json.part, 'text', 'assistant') : []) : itemSlots(json.item));
          return [rewritten(ev, json)];
        case 'response.completed':
        case 'response.incomplete':
        case 'response.failed':
          usage = usageOf(json.response) ?? usage;
          if (!opts.redacting) return [ev];
          redactWhole(outputSlots(json.response));
          return [rewritten(ev, json)];
        default:
          return [ev];
      }
    },
    end(): SseEvent[] {
      return [];
    },
    usage: () => usage,
    text: () => [...texts.values()].join('\n'),
  };
}

export const responsesDialect: Dialect = {
  parse(_endpoint, body) {
    const req: LlmRequest = {
      model: typeof body.model === 'string' ? body.model : undefined,
      stream: body.stream === true,
      maxTokenFields: body.max_output_tokens !== undefined && body.max_output_tokens !== null ? ['max_output_tokens'] : [],
      capField: 'max_output_tokens',
      tools: asArray(body.tools).filter(isObject).map((t) => (t.type === 'function' || t.type === 'custom' ? String(t.name) : t.type === 'mcp' ? `mcp:${String(t.server_label)}` : String(t.type))),
      slots: [],
    };
    req.slots = inputSlots(body, req);
    return req;
  },
  prepareStream: () => true, // usage always arrives in response.completed
  usage: (_endpoint, json) => usageOf(json),
  completion: (_endpoint, json) => outputSlots(json),
  stream: (_endpoint, opts) => responsesStream(opts),
  error: openaiError,
};
