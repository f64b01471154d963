// Which LangChain run and chain step a request belongs to, as the agent tagged it (see packages/langchain): one reading for every adapter.
import type { IncomingHttpHeaders } from 'node:http';

export interface Correlation {
  runId: string | null;
  step: string | null;
}

/** What a run id or step name may look like: they land in the store, the audit and the CLI, so nothing else is taken. */
const VALUE = /^[\w.:-]{1,64}$/;
const NONE: Correlation = Object.freeze({ runId: null, step: null });

/** HTTP request headers: `X-Gatehouse-Run` and `X-Gatehouse-Step`. */
export const RUN_HEADER = 'x-gatehouse-run';
export const STEP_HEADER = 'x-gatehouse-step';
/** The run header's earlier name, still read so agents tagged with it keep correlating. */
const RUN_HEADER_ALIAS = 'x-gatehouse-run-id';

/**
 * PostgreSQL `application_name`, read at connect time: `... run=<id> step=<name>` in any order, after anything else
 * the client put there (`langchain run=0193... step=retrieve`).
 */
export function correlationFromApplicationName(name: string | null | undefined): Correlation {
  if (!name) return NONE;
  const run = /(?:^|\s)run=(\S+)/.exec(name)?.[1];
  const step = /(?:^|\s)step=(\S+)/.exec(name)?.[1];
  return { runId: valid(run), step: valid(step) };
}

/**
 * A Redis client name (`CLIENT SETNAME`, `HELLO ... SETNAME`), which cannot hold spaces: the same tags separated by `;`
 * or `,` (`langchain;run=0193...;step=retrieve`).
 */
export const correlationFromClientName = (name: string | null | undefined): Correlation => correlationFromApplicationName(name?.replace(/[;,]/g, ' '));

/**
 * HTTP headers, as Node gives them (lower-case keys) or as a fetch `Headers`. A header sent twice is ambiguous and ignored;
 * a value that is not a plain id is ignored too (the request itself goes on).
 */
export function correlationFromHeaders(headers: IncomingHttpHeaders | Headers | Record<string, string | string[] | undefined>): Correlation {
  const get = (name: string): string | undefined => {
    if (headers instanceof Headers) return headers.get(name) ?? undefined;
    const record = headers as Record<string, string | string[] | undefined>;
    const v = name in record ? record[name] : Object.entries(record).find(([k]) => k.toLowerCase() === name)?.[1];
    return typeof v === 'string' ? v : undefined;
  };
  return { runId: valid(get(RUN_HEADER) ?? get(RUN_HEADER_ALIAS)), step: valid(get(STEP_HEADER)) };
}

/**
 * An LLM request body's `metadata` (OpenAI's field), when the agent tags it there instead of, or as well as, headers:
 * `{ "gatehouse_run": "...", "gatehouse_step": "..." }`.
 */
export function correlationFromMetadata(metadata: unknown): Correlation {
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) return NONE;
  const m = metadata as Record<string, unknown>;
  return { runId: valid(m.gatehouse_run), step: valid(m.gatehouse_step) };
}

function valid(v: unknown): string | null {
  if (typeof v !== 'string') return null;
  const t = v.trim();
  return VALUE.test(t) ? t : null;
}
