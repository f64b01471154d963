// Dialects (how one API flavour reads its bodies) and the flavour-neutral view of an LLM request and response they give: what the policy, guards, budget and audit need.
import type { SseEvent } from './sse.ts';

export type Endpoint = 'chat' | 'completions' | 'embeddings' | 'responses' | 'messages' | 'count_tokens' | 'models' | 'model';

/** Provider usage figures, normalised. `estimated` when the provider gave none (≈4 characters a token). */
export interface Usage { input: number; output: number; total: number; estimated?: boolean }

/** One piece of text inside a request or response body that guards may read and redaction may rewrite in place. */
export interface TextSlot {
  /** user, system, assistant, tool…: whose words these are (tool results are scanned as documents). */
  role: string;
  get(): string;
  set(text: string): void;
  /** The text is a JSON value's serialisation (tool schemas, structured inputs): rewrites must keep it JSON. */
  json?: boolean;
}

export interface LlmRequest {
  model?: string;
  stream: boolean;
  /** Output-token fields present in the body (`max_tokens`, `max_completion_tokens`, `max_output_tokens`). */
  maxTokenFields: string[];
  /** Where a cap goes when the body names none; undefined for endpoints that produce no output tokens. */
  capField?: string;
  tools: string[];
  /** Every text the model will read, as the dialect's inventory finds it (inventory/). */
  slots: TextSlot[];
  /** Set when part of the prompt cannot be read (token arrays, files): refused whenever content rules apply. */
  uninspectable?: string;
  /** Request fields and beta flags the inventory does not know, each with what was wrong. */
  unknown: string[];
  /** Capabilities the request asks for outside the tools list (remote MCP servers, containers, web search). */
  capabilities: { name: string; where: string }[];
  /** Completions generated per request (`n`, `best_of`): output is reserved and capped for each. */
  choices: unknown;
}

/** How a dialect reads a request: whether unknown fields are forwarded (and scanned whole), and the beta flags sent. */
export interface ParseOptions {
  forwardUnknown: boolean;
  /** The values of the dialect's beta header (`anthropic-beta`, `openai-beta`), split at commas. */
  betas: string[];
}

/** Rewrites a streamed response event by event: redacts completions, reads usage, collects what the agent saw. */
export interface StreamHandler {
  event(ev: SseEvent): SseEvent[];
  end(): SseEvent[];
  usage(): Usage | undefined;
  text(): string;
}

export interface TextRedactorLike { push(chunk: string): string; flush(): string }

export interface StreamOptions {
  /** True when completions are redacted at all. */
  redacting: boolean;
  /** A fresh redactor per output channel (choice, content block), or undefined when nothing is redacted. */
  redactor: () => TextRedactorLike | undefined;
  /** Redacts a whole text (`done` events that repeat a streamed text). */
  redact: (text: string) => string;
  /** The agent asked for usage itself (OpenAI `stream_options.include_usage`); if not, the usage-only chunk is dropped. */
  clientWantsUsage: boolean;
}

/** What one API flavour knows about its bodies. */
export interface Dialect {
  /** The header carrying beta flags, and the flags Gatehouse knows (the capability each grants, or null). */
  beta: { header: string; known: Record<string, string | null> };
  parse(endpoint: Endpoint, body: Record<string, unknown>, opts: ParseOptions): LlmRequest;
  /** Prepares a streamed request (e.g. asks for usage); says whether the agent asked for usage itself. */
  prepareStream(endpoint: Endpoint, body: Record<string, unknown>): boolean;
  usage(endpoint: Endpoint, json: unknown): Usage | undefined;
  /** Completion texts of a whole response, rewritable. */
  completion(endpoint: Endpoint, json: unknown): TextSlot[];
  stream(endpoint: Endpoint, opts: StreamOptions): StreamHandler;
  /** Puts a note before everything else the model reads (the spotlighting note): a system message or instruction. */
  instruct(body: Record<string, unknown>, note: string): void;
  /** The agent-facing error body in this provider's shape (so its SDK reports the message). */
  error(status: number, code: string, message: string): unknown;
}

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
export const asArray = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** A slot for `obj[key]` when it holds a string. */
export function stringSlot(obj: Record<string, unknown>, key: string, role: string): TextSlot[] {
  return typeof obj[key] === 'string' ? [{ role, get: () => obj[key] as string, set: (t) => { obj[key] = t; } }] : [];
}

/** A slot over a JSON value (tool-call input): read as JSON text; a redacted text is parsed back (masks never add quotes). */
export function jsonSlot(obj: Record<string, unknown>, key: string, role: string): TextSlot[] {
  if (obj[key] === undefined) return [];
  return [{ role, get: () => JSON.stringify(obj[key]), set: (t) => { try { obj[key] = JSON.parse(t); } catch { obj[key] = t; } } }];
}

export const estimateTokens = (chars: number) => Math.ceil(chars / 4);
