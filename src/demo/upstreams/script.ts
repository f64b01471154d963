// Scripted tool calls for the demo model, so agent loops (LangChain createAgent, the OpenAI SDK) run with no real model.
//
// `[[call NAME]]` or `[[call NAME: ARGS]]` in the newest user or tool message makes the model call tool NAME (only tools
// the request offers); ARGS is a JSON object, or a value for the tool's first parameter. Several directives make several
// (parallel) calls. A directive inside a tool result is followed too: that is how the demo model falls for an injected
// instruction, as real models can. Once the tool results are in and ask for nothing more, the model answers with them.
// Conversations without directives are answered as before (including the older "use tool" knob).

type Json = Record<string, unknown>;

export interface ScriptedTurn {
  /** Tool calls to answer with, in OpenAI's chat format. */
  toolCalls?: Json[];
  /** Text to answer with instead of the usual reply to the last user words. */
  text?: string;
}

const DIRECTIVE = /\[\[call ([\w.-]{1,64})(?::\s*([\s\S]*?))?\]\]/g;
const HAS_DIRECTIVE = /\[\[call [\w.-]/;
const RESULT_PREVIEW = 400;

const arr = (v: unknown): Json[] => (Array.isArray(v) ? (v as Json[]) : []);
const textOf = (content: unknown): string =>
  typeof content === 'string' ? content : arr(content).map((p) => (typeof p.text === 'string' ? p.text : '')).join(' ');

/** What the demo model does on this chat request; undefined means its usual reply. */
export function scriptChat(body: Json, reply: string): ScriptedTurn | undefined {
  const messages = arr(body.messages);
  const tools = arr(body.tools).map((t) => (t.function ?? {}) as Json).filter((f) => typeof f.name === 'string');
  const last = messages.at(-1);
  if (!last) return undefined;
  if (tools.length && (last.role === 'user' || last.role === 'tool')) {
    const calls = directives(textOf(last.content), tools, messages.length);
    if (calls.length) return { toolCalls: calls };
  }
  if (last.role === 'tool' && messages.some((m) => m.role === 'user' && HAS_DIRECTIVE.test(textOf(m.content)))) return { text: summarise(messages) };
  // The original knob: a (non-streamed) reply that mentions "use tool" calls the first tool offered, without arguments.
  if (tools.length && body.stream !== true && /use tool/i.test(reply)) return { toolCalls: [call('call_1', String(tools[0].name), {})] };
  return undefined;
}

function directives(text: string, tools: Json[], turn: number): Json[] {
  const calls: Json[] = [];
  for (const m of text.matchAll(DIRECTIVE)) {
    const fn = tools.find((t) => t.name === m[1]);
    if (!fn) continue;
    // Directives quoted inside JSON (a tool result) arrive with escaped quotes.
    const raw = (m[2] ?? '').replace(/\\"/g, '"').trim();
    calls.push(call(`call_${turn}_${calls.length + 1}`, m[1], argumentsFor(fn, raw)));
  }
  return calls;
}

function argumentsFor(fn: Json, raw: string): Json {
  if (raw.startsWith('{')) {
    try { return JSON.parse(raw) as Json; } catch { /* not JSON: a plain value */ }
  }
  const params = (fn.parameters ?? {}) as Json;
  const properties = (params.properties ?? {}) as Record<string, Json>;
  const first = (Array.isArray(params.required) ? String(params.required[0]) : undefined) ?? Object.keys(properties)[0];
  if (!first) return {};
  const type = properties[first]?.type;
  return { [first]: (type === 'number' || type === 'integer') && raw !== '' && !Number.isNaN(Number(raw)) ? Number(raw) : raw };
}

const call = (id: string, name: string, args: Json): Json => ({ id, type: 'function', function: { name, arguments: JSON.stringify(args) } });

/** The answer once the tool results are in: each result of the last round, by tool name. */
function summarise(messages: Json[]): string {
  let lastCall = messages.length - 1;
  while (lastCall >= 0 && !(messages[lastCall].role === 'assistant' && arr(messages[lastCall].tool_calls).length > 0)) lastCall--;
  const names = new Map(arr(messages[lastCall]?.tool_calls).map((c) => [String(c.id), String(((c.function ?? {}) as Json).name)]));
  const lines = messages.slice(lastCall + 1).filter((m) => m.role === 'tool').map((m) => {
    const text = textOf(m.content).replace(/\s+/g, ' ').trim();
    return `${names.get(String(m.tool_call_id)) ?? 'tool'}: ${text.length > RESULT_PREVIEW ? `${text.slice(0, RESULT_PREVIEW)}…` : text}`;
  });
  return `Here is what the tools returned. ${lines.join(' | ')}`;
}
