// A demo LLM upstream: OpenAI-compatible (chat, completions, embeddings, responses, models) and Anthropic (messages),
// streaming and not, with usage figures. Deterministic replies: "say: X" answers X, "count: N" counts to N.
// Test knobs arrive as request headers (Gatehouse forwards them): x-demo-delay-ms, x-demo-gap-ms, x-demo-no-usage,
// x-demo-piece-chars (stream the reply in pieces of N characters, cutting words).
import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import { listenLocal } from './listen.ts';
import { scriptChat } from './script.ts';

export interface SeenLlmRequest { method: string; url: string; headers: IncomingHttpHeaders; body: Record<string, unknown> }

export const DEMO_MODELS = ['gpt-4o-mini', 'gpt-4o', 'o3-mini', 'text-embedding-3-small', 'claude-3-5-haiku-latest'];

type Json = Record<string, unknown>;
const arr = (v: unknown): Json[] => (Array.isArray(v) ? (v as Json[]) : []);
const textOf = (content: unknown): string =>
  typeof content === 'string' ? content : arr(content).map((p) => (typeof p.text === 'string' ? p.text : typeof p.content === 'string' ? p.content : '')).join(' ');

/** The reply the demo model gives to the last user words. */
export function demoReply(prompt: string): string {
  const say = /say:\s*([\s\S]*)$/i.exec(prompt);
  if (say) return say[1].trim();
  const count = /count:\s*(\d+)/i.exec(prompt);
  if (count) return Array.from({ length: Number(count[1]) }, (_, i) => String(i + 1)).join(' ');
  return `Hello from the Gatehouse demo model. You said: "${prompt.slice(0, 120)}"`;
}

export async function startLlmUpstream(opts: { port?: number; key?: string; host?: string } = {}) {
  const requests: SeenLlmRequest[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
    let body: Json = {};
    try { body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Json) : {}; } catch { return json(res, 400, { error: { message: 'invalid JSON', type: 'invalid_request_error' } }); }
    requests.push({ method: req.method!, url: req.url!, headers: req.headers, body });
    const presented = req.headers['x-api-key'] ?? (req.headers.authorization ?? '').replace(/^Bearer /, '');
    if (opts.key && presented !== opts.key) return json(res, 401, { error: { message: 'Incorrect API key provided', type: 'invalid_request_error', code: 'invalid_api_key' } });
    const knob = (name: string) => Number(req.headers[`x-demo-${name}`] ?? 0);
    if (knob('delay-ms')) await new Promise((r) => setTimeout(r, knob('delay-ms')));
    const ctx = { gap: knob('gap-ms'), usage: req.headers['x-demo-no-usage'] !== '1', res };
    const reply = (prompt: string, max: unknown) => pieces(prompt, max, knob('piece-chars'));
    const path = new URL(req.url!, 'http://llm').pathname.replace(/^\/v1/, '');
    const model = String(body.model ?? 'gpt-4o-mini');
    if (req.method === 'GET' && path === '/models') {
      return json(res, 200, { object: 'list', data: DEMO_MODELS.map((id) => ({ id, object: 'model', created: 1_700_000_000, owned_by: 'gatehouse-demo' })) });
    }
    const one = /^\/models\/(.+)$/.exec(path);
    if (req.method === 'GET' && one) return json(res, 200, { id: one[1], object: 'model', created: 1_700_000_000, owned_by: 'gatehouse-demo' });
    if (req.method !== 'POST') return json(res, 404, { error: { message: `no route ${req.method} ${path}` } });
    switch (path) {
      case '/chat/completions': {
        const messages = arr(body.messages);
        const prompt = textOf([...messages].reverse().find((m) => m.role === 'user')?.content);
        const max = body.max_completion_tokens ?? body.max_tokens;
        // Tool calls scripted by `[[call tool: args]]` (see script.ts); without them, the usual reply.
        const scripted = scriptChat(body, reply(prompt, max).join(''));
        return chat(ctx, model, reply(scripted?.text !== undefined ? `say: ${scripted.text}` : prompt, max), chars(messages), body, scripted?.toolCalls);
      }
      case '/completions':
        return completions(ctx, model, reply(String(body.prompt ?? ''), body.max_tokens), String(body.prompt ?? '').length, body.stream === true);
      case '/embeddings': {
        const inputs = Array.isArray(body.input) ? body.input : [body.input];
        const data = inputs.map((t, index) => ({ object: 'embedding', index, embedding: vector(String(t)) }));
        const tokens = Math.ceil(inputs.join('').length / 4);
        return json(res, 200, { object: 'list', data, model, usage: { prompt_tokens: tokens, total_tokens: tokens } });
      }
      case '/responses': {
        const input = typeof body.input === 'string' ? body.input : textOf([...arr(body.input)].reverse().find((m) => m.role === 'user')?.content);
        return responses(ctx, model, reply(input, body.max_output_tokens), input.length + String(body.instructions ?? '').length, body.stream === true);
      }
      case '/messages/count_tokens':
        return json(res, 200, { input_tokens: Math.ceil(chars(arr(body.messages)) / 4) });
      case '/messages': {
        const messages = arr(body.messages);
        const prompt = textOf([...messages].reverse().find((m) => m.role === 'user')?.content);
        return messages_(ctx, model, reply(prompt, body.max_tokens), chars(messages) + textOf(body.system).length, body.stream === true);
      }
    }
    return json(res, 404, { error: { message: `no route POST ${path}` } });
  });
  const api = await listenLocal(server, opts.port, requests, opts.host);
  return api;

  /** Streams SSE events, pacing the text pieces like a model would. */
  async function sse(ctx: Ctx, events: Ev[]) {
    ctx.res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    let first = true;
    for (const ev of events) {
      if (ctx.res.destroyed) return;
      if (ev.piece && !first) await (api.hold?.() ?? (ctx.gap ? new Promise((r) => setTimeout(r, ctx.gap)) : Promise.resolve()));
      if (ev.piece) first = false;
      ctx.res.write(`${ev.event ? `event: ${ev.event}\n` : ''}data: ${typeof ev.data === 'string' ? ev.data : JSON.stringify(ev.data)}\n\n`);
    }
    ctx.res.end();
  }

  function chat(ctx: Ctx, model: string, words: string[], promptChars: number, body: Json, toolCalls?: Json[]) {
    const usage = { prompt_tokens: Math.ceil(promptChars / 4), completion_tokens: words.length, total_tokens: Math.ceil(promptChars / 4) + words.length };
    // Unique per response, as OpenAI's are: LangChain/LangGraph merge messages that share an id.
    const base = { id: `chatcmpl-demo-${requests.length}`, object: 'chat.completion.chunk', created: 1_700_000_000, model };
    if (body.stream !== true) {
      const message = toolCalls
        ? { role: 'assistant', content: null, tool_calls: toolCalls }
        : { role: 'assistant', content: words.join(''), refusal: null };
      return json(ctx.res, 200, { ...base, object: 'chat.completion', choices: [{ index: 0, message, finish_reason: toolCalls ? 'tool_calls' : 'stop', logprobs: null }], ...(ctx.usage ? { usage } : {}) });
    }
    const withUsage = (body.stream_options as Json | undefined)?.include_usage === true && ctx.usage;
    const u = withUsage ? { usage: null } : {};
    if (toolCalls) {
      return sse(ctx, [
        { data: { ...base, choices: [{ index: 0, delta: { role: 'assistant', content: null, tool_calls: toolCalls.map((c, index) => ({ index, ...c })) }, finish_reason: null }], ...u } },
        { data: { ...base, choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }], ...u } },
        ...(withUsage ? [{ data: { ...base, choices: [], usage } }] : []),
        { data: '[DONE]' },
      ]);
    }
    return sse(ctx, [
      { data: { ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }], ...u } },
      ...words.map((w) => ({ piece: true, data: { ...base, choices: [{ index: 0, delta: { content: w }, finish_reason: null }], ...u } })),
      { data: { ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], ...u } },
      ...(withUsage ? [{ data: { ...base, choices: [], usage } }] : []),
      { data: '[DONE]' },
    ]);
  }

  function completions(ctx: Ctx, model: string, words: string[], promptChars: number, stream: boolean) {
    const usage = { prompt_tokens: Math.ceil(promptChars / 4), completion_tokens: words.length, total_tokens: Math.ceil(promptChars / 4) + words.length };
    const base = { id: 'cmpl-demo', object: 'text_completion', created: 1_700_000_000, model };
    if (!stream) return json(ctx.res, 200, { ...base, choices: [{ index: 0, text: words.join(''), finish_reason: 'stop', logprobs: null }], ...(ctx.usage ? { usage } : {}) });
    return sse(ctx, [
      ...words.map((w) => ({ piece: true, data: { ...base, choices: [{ index: 0, text: w, finish_reason: null, logprobs: null }] } })),
      { data: { ...base, choices: [{ index: 0, text: '', finish_reason: 'stop', logprobs: null }] } },
      { data: '[DONE]' },
    ]);
  }

  function responses(ctx: Ctx, model: string, words: string[], promptChars: number, stream: boolean) {
    const text = words.join('');
    const usage = { input_tokens: Math.ceil(promptChars / 4), output_tokens: words.length, total_tokens: Math.ceil(promptChars / 4) + words.length };
    const item = { id: 'msg_demo', type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text, annotations: [] }] };
    const response = { id: 'resp_demo', object: 'response', created_at: 1_700_000_000, status: 'completed', model, output: [item], usage: ctx.usage ? usage : null };
    if (!stream) return json(ctx.res, 200, response);
    let seq = 0;
    const ev = (type: string, data: Json, piece = false): Ev => ({ event: type, piece, data: { type, sequence_number: seq++, ...data } });
    const at = { item_id: 'msg_demo', output_index: 0, content_index: 0 };
    return sse(ctx, [
      ev('response.created', { response: { ...response, status: 'in_progress', output: [], usage: null } }),
      ev('response.output_item.added', { output_index: 0, item: { ...item, status: 'in_progress', content: [] } }),
      ev('response.content_part.added', { ...at, part: { type: 'output_text', text: '', annotations: [] } }),
      ...words.map((w) => ev('response.output_text.delta', { ...at, delta: w }, true)),
      ev('response.output_text.done', { ...at, text }),
      ev('response.content_part.done', { ...at, part: { type: 'output_text', text, annotations: [] } }),
      ev('response.output_item.done', { output_index: 0, item }),
      ev('response.completed', { response }),
    ]);
  }

  function messages_(ctx: Ctx, model: string, words: string[], promptChars: number, stream: boolean) {
    const input = Math.ceil(promptChars / 4);
    const message = { id: 'msg_demo', type: 'message', role: 'assistant', model, content: [{ type: 'text', text: words.join('') }], stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: input, output_tokens: words.length } };
    if (!stream) return json(ctx.res, 200, message);
    const ev = (type: string, data: Json, piece = false): Ev => ({ event: type, piece, data: { type, ...data } });
    return sse(ctx, [
      ev('message_start', { message: { ...message, content: [], stop_reason: null, usage: { input_tokens: input, output_tokens: 1 } } }),
      ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
      ev('ping', {}),
      ...words.map((w) => ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: w } }, true)),
      ev('content_block_stop', { index: 0 }),
      ev('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: words.length } }),
      ev('message_stop', {}),
    ]);
  }
}

interface Ev { event?: string; data: unknown; piece?: boolean }
interface Ctx { gap: number; usage: boolean; res: ServerResponse }

/** The reply as stream pieces (a word and its trailing space, or N characters), capped at max tokens (a piece ≈ a token). */
function pieces(prompt: string, max: unknown, chars: number): string[] {
  const text = demoReply(prompt);
  const out = (chars > 0 ? text.match(new RegExp(`[\\s\\S]{1,${chars}}`, 'g')) : text.match(/\S+\s*|\s+/g)) ?? [''];
  return typeof max === 'number' && max > 0 ? out.slice(0, max) : out;
}

const chars = (messages: Json[]) => messages.reduce((n, m) => n + textOf(m.content).length, 0);

/** A deterministic 8-dimensional embedding. */
const vector = (text: string) => [...createHash('sha256').update(text).digest().subarray(0, 8)].map((b) => Math.round((b / 255) * 1000) / 1000);

function json(res: ServerResponse, status: number, body: unknown) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
  res.end(text);
}

export type LlmUpstream = Awaited<ReturnType<typeof startLlmUpstream>>;
