// Which agent paths an LLM connection serves, per flavour; anything else is refused rather than forwarded blind.
import type { LlmConnection } from '../../config/schema.ts';
import { anthropicDialect, anthropicError } from './anthropic.ts';
import type { Dialect, Endpoint } from './dialect.ts';
import { chatDialect, openaiError } from './openai.ts';
import { responsesDialect } from './responses.ts';

/** Endpoints whose calls spend no budget. */
export const FREE: ReadonlySet<Endpoint> = new Set(['models', 'model', 'count_tokens']);

export interface Route {
  endpoint: Endpoint;
  dialect?: Dialect;
  /** For `GET /v1/models/{id}`. */
  modelId?: string;
}

const OPENAI: Record<string, [Endpoint, Dialect?]> = {
  'POST /v1/chat/completions': ['chat', chatDialect],
  'POST /v1/completions': ['completions', chatDialect],
  'POST /v1/embeddings': ['embeddings', chatDialect],
  'POST /v1/responses': ['responses', responsesDialect],
  'GET /v1/models': ['models'],
};
const ANTHROPIC: Record<string, [Endpoint, Dialect?]> = {
  'POST /v1/messages': ['messages', anthropicDialect],
  'POST /v1/messages/count_tokens': ['count_tokens', anthropicDialect],
  'GET /v1/models': ['models'],
};

export function route(flavor: LlmConnection['flavor'], method: string, path: string): Route | undefined {
  const table = flavor === 'anthropic' ? ANTHROPIC : OPENAI;
  const hit = table[`${method} ${path.replace(/\/$/, '')}`];
  if (hit) return { endpoint: hit[0], dialect: hit[1] };
  const model = /^\/v1\/models\/([^/]+)$/.exec(path);
  if (method === 'GET' && model) return { endpoint: 'model', modelId: decodeURIComponent(model[1]) };
  return undefined;
}

export const served = (flavor: LlmConnection['flavor']) => Object.keys(flavor === 'anthropic' ? ANTHROPIC : OPENAI).concat('GET /v1/models/{id}');

export const errorShape = (flavor: LlmConnection['flavor']) => (flavor === 'anthropic' ? anthropicError : openaiError);

/** The upstream path: an upstream configured with its `/v1` (https://api.openai.com/v1) gets the rest after the agent's `/v1`. */
export function upstreamLlmPath(base: URL, path: string, query: string | null): string {
  const prefix = base.pathname.replace(/\/$/, '');
  const rest = prefix.endsWith('/v1') ? path.slice(3) : path;
  return prefix + rest + (query === null ? '' : `?${query}`);
}
