// The OpenAI Responses API (`/v1/responses`): instructions + input items in, output items and typed stream events out.
import { asArray, isObject, stringSlot, type Dialect, type StreamHandler, type StreamOptions, type TextRedactorLike, type TextSlot, type Usage } from './dialect.ts';
import { RESPONSES } from './inventory/responses.ts';
import { inventory } from './inventory/walk.ts';
import { openaiError } from './openai.ts';
import { rewritten, type SseEvent } from './sse.ts';

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

const RESPONSES_BETA = { header: 'openai-beta', known: {} };

export const responsesDialect: Dialect = {
  beta: RESPONSES_BETA,
  parse(_endpoint, body, opts) {
    const walked = inventory(body, RESPONSES, opts, RESPONSES_BETA);
    return {
      model: typeof body.model === 'string' ? body.model : undefined,
      stream: body.stream === true,
      maxTokenFields: body.max_output_tokens !== undefined && body.max_output_tokens !== null ? ['max_output_tokens'] : [],
      capField: 'max_output_tokens',
      tools: asArray(body.tools).filter(isObject).map((t) => (t.type === 'function' || t.type === 'custom' ? String(t.name) : t.type === 'mcp' ? `mcp:${String(t.server_label)}` : String(t.type))),
      slots: walked.slots, uninspectable: walked.opaque, unknown: walked.unknown, capabilities: walked.capabilities,
      choices: 1,
    };
  },
  prepareStream: () => true, // usage always arrives in response.completed
  usage: (_endpoint, json) => usageOf(json),
  completion: (_endpoint, json) => outputSlots(json),
  stream: (_endpoint, opts) => responsesStream(opts),
  instruct(body, note) {
    if (Array.isArray(body.input)) body.input.unshift({ role: 'system', content: note });
    else body.instructions = typeof body.instructions === 'string' && body.instructions ? `${note}\n\n${body.instructions}` : note;
  },
  error: openaiError,
};
