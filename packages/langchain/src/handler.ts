// GatehouseCallbackHandler: follows a LangChain run tree so any request made inside it can say which run and step it serves.
import { AsyncLocalStorage } from 'node:async_hooks';
import { BaseCallbackHandler } from '@langchain/core/callbacks/base';
import type { Serialized } from '@langchain/core/load/serializable';
import type { RunnableConfig } from '@langchain/core/runnables';
import { AsyncLocalStorageProviderSingleton } from '@langchain/core/singletons';

/** The run (the outermost LangChain run this handler saw) and the step (the tool, retriever or model inside it). */
export interface Correlation {
  runId: string;
  step: string;
}

type Kind = 'chain' | 'tool' | 'retriever' | 'llm';

interface Run {
  id: string;
  parent?: Run;
  top: Run;
  kind: Kind;
  step: string;
  order: number;
  ended: boolean;
  children: Run[];
}

export interface CorrelationOptions {
  /** The step name to send, whatever run is current (e.g. `chat` for a model client). */
  step?: string;
  /** The runnable config a tool function received; by default the one LangChain keeps in async-local storage. */
  config?: RunnableConfig;
}

export interface FetchOptions extends Omit<CorrelationOptions, 'config'> {
  /** The fetch to wrap (default: the global one). */
  fetch?: typeof globalThis.fetch;
  /**
   * Also put `gatehouse_run` / `gatehouse_step` into the JSON body's `metadata` (OpenAI's request metadata) of POST
   * requests that name a `model`. Off by default: some providers accept `metadata` only with `store: true`.
   */
  metadata?: boolean;
}

// LangChain finds the current run in async-local storage, which its Node entry points (LangGraph, `langchain`) set up;
// a chain built from @langchain/core alone would otherwise have none, and every step would look the same.
AsyncLocalStorageProviderSingleton.initializeGlobalInstance(new AsyncLocalStorage());

/** Header names Gatehouse reads (case does not matter on the wire). */
export const RUN_HEADER = 'X-Gatehouse-Run';
export const STEP_HEADER = 'X-Gatehouse-Step';
/** What Gatehouse accepts as a run id or step name; anything else is rewritten to fit. */
const UNSAFE = /[^\w.:-]+/g;

/** A step name Gatehouse will accept: letters, digits, `_ . : -`, at most 64 characters. */
export function stepName(name: string): string {
  const s = name.trim().replace(UNSAFE, '-').replace(/^-+|-+$/g, '').slice(0, 64);
  return s || 'step';
}

/**
 * Records every run it is told about (chains, tools, retrievers, models) and answers "which run and step is this?" for
 * code running inside one: the fetch wrapper, the PostgreSQL pool (see `./pg.ts`), or your own client.
 *
 * Pass it once, at the top: `chain.invoke(input, { callbacks: [handler] })`; LangChain hands it to every nested step.
 * The run id is the id of the outermost run it saw (set it with `{ runId }` in that config if you want your own).
 */
export class GatehouseCallbackHandler extends BaseCallbackHandler {
  name = 'gatehouse';
  /** Runs must be recorded before the step they start makes its first request, so LangChain waits for this handler. */
  override awaitHandlers = true;

  private readonly runs = new Map<string, Run>();
  private readonly endListeners = new Set<(runId: string) => void>();
  private order = 0;

  // LangChain calls handleChainStart(chain, inputs, runId, parentRunId, tags, metadata, runType, runName): its declared
  // parameter names differ from the order it passes them in, so these are named by what actually arrives.
  override handleChainStart(chain: Serialized, _inputs: unknown, runId: string, parentRunId?: string, _tags?: string[], metadata?: Record<string, unknown>, _runType?: string, runName?: string) {
    this.start(runId, parentRunId, 'chain', runName ?? nameOf(chain), metadata);
  }

  override handleToolStart(tool: Serialized, _input: string, runId: string, parentRunId?: string, _tags?: string[], metadata?: Record<string, unknown>, runName?: string) {
    this.start(runId, parentRunId, 'tool', runName ?? nameOf(tool), metadata);
  }

  override handleRetrieverStart(retriever: Serialized, _query: string, runId: string, parentRunId?: string, _tags?: string[], metadata?: Record<string, unknown>, name?: string) {
    this.start(runId, parentRunId, 'retriever', name ?? nameOf(retriever), metadata);
  }

  override handleChatModelStart(llm: Serialized, _messages: unknown[][], runId: string, parentRunId?: string, _extra?: Record<string, unknown>, _tags?: string[], metadata?: Record<string, unknown>, runName?: string) {
    this.start(runId, parentRunId, 'llm', runName ?? nameOf(llm), metadata);
  }

  override handleLLMStart(llm: Serialized, _prompts: string[], runId: string, parentRunId?: string, _extra?: Record<string, unknown>, _tags?: string[], metadata?: Record<string, unknown>, runName?: string) {
    this.start(runId, parentRunId, 'llm', runName ?? nameOf(llm), metadata);
  }

  override handleChainEnd(_outputs: unknown, runId: string) { this.end(runId); }
  override handleChainError(_err: unknown, runId: string) { this.end(runId); }
  override handleToolEnd(_output: unknown, runId: string) { this.end(runId); }
  override handleToolError(_err: unknown, runId: string) { this.end(runId); }
  override handleRetrieverEnd(_docs: unknown, runId: string) { this.end(runId); }
  override handleRetrieverError(_err: unknown, runId: string) { this.end(runId); }
  override handleLLMEnd(_output: unknown, runId: string) { this.end(runId); }
  override handleLLMError(_err: unknown, runId: string) { this.end(runId); }

  /**
   * The run and step of the code calling this, or undefined outside any run this handler saw. The step is the tool
   * being run, else the retriever or model the current runnable is waiting on, else the nearest named step above it.
   */
  correlation(opts: CorrelationOptions = {}): Correlation | undefined {
    const run = this.current(opts.config);
    if (!run) return undefined;
    return { runId: run.top.id, step: stepName(opts.step ?? this.stepOf(run)) };
  }

  /** `X-Gatehouse-Run` / `X-Gatehouse-Step` for the current step (empty outside a run): for HTTP clients other than fetch. */
  headers(opts: CorrelationOptions = {}): Record<string, string> {
    const c = this.correlation(opts);
    return c ? { [RUN_HEADER]: c.runId, [STEP_HEADER]: c.step } : {};
  }

  /** A PostgreSQL `application_name` that Gatehouse reads at connect time: `<prefix> run=<id> step=<name>`. */
  applicationName(opts: CorrelationOptions & { prefix?: string } = {}): string {
    const prefix = opts.prefix ?? 'langchain';
    const c = this.correlation(opts);
    return c ? `${prefix} run=${c.runId} step=${c.step}` : prefix;
  }

  /**
   * A fetch that tags each request made inside a run. Give it to ChatOpenAI (`configuration: { fetch }`), to the
   * OpenAI/Anthropic SDKs, or use it in your tools. Outside a run it is the plain fetch.
   */
  fetch(opts: FetchOptions = {}): typeof globalThis.fetch {
    const base = opts.fetch ?? globalThis.fetch;
    return (input, init) => {
      const c = this.correlation({ step: opts.step });
      if (!c) return base(input, init);
      const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
      headers.set(RUN_HEADER, c.runId);
      headers.set(STEP_HEADER, c.step);
      const body = opts.metadata ? withMetadata(init?.body, c) : init?.body;
      return base(input, { ...init, headers, ...(body !== undefined ? { body } : {}) });
    };
  }

  /** Called with the run id when an outermost run ends (pools use it to close that run's connections). */
  onRunEnd(listener: (runId: string) => void): () => void {
    this.endListeners.add(listener);
    return () => this.endListeners.delete(listener);
  }

  /** Runs currently open, for tests and diagnostics. */
  get openRuns(): number {
    return this.runs.size;
  }

  private start(id: string, parentId: string | undefined, kind: Kind, name: string, metadata?: Record<string, unknown>) {
    const parent = parentId ? this.runs.get(parentId) : undefined;
    const step = typeof metadata?.gatehouse_step === 'string' ? metadata.gatehouse_step : name;
    const run: Run = { id, parent, top: undefined as unknown as Run, kind, step, order: this.order++, ended: false, children: [] };
    run.top = parent?.top ?? run;
    parent?.children.push(run);
    this.runs.set(id, run);
  }

  private end(id: string) {
    const run = this.runs.get(id);
    if (!run) return;
    run.ended = true;
    if (run.top !== run) return;
    // The outermost run is over: forget its tree, then tell whoever holds resources for it.
    const forget = (r: Run) => { this.runs.delete(r.id); r.children.forEach(forget); };
    forget(run);
    for (const listener of this.endListeners) {
      try { listener(id); } catch { /* a listener's failure is its own */ }
    }
  }

  /** The run LangChain says is current (async-local storage, or the given config); else the only open run, if one. */
  private current(config?: RunnableConfig): Run | undefined {
    const id = parentRunIdOf(config ?? AsyncLocalStorageProviderSingleton.getRunnableConfig());
    if (id) return this.runs.get(id);
    const tops = new Set([...this.runs.values()].map((r) => r.top));
    if (tops.size !== 1) return undefined;
    // Called outside LangChain's context (a client that lost it): only unambiguous with one run open.
    const [top] = tops;
    return latestOpenStep(top) ?? top;
  }

  private stepOf(run: Run): string {
    if (run.kind !== 'chain') return run.step;
    const waitingOn = latestOpenStep(run);
    if (waitingOn) return waitingOn.step;
    for (let r: Run | undefined = run; r; r = r.parent) if (r.kind !== 'chain') return r.step;
    return run.step;
  }
}

/** The most recently started tool/retriever/model run below `run` that has not ended. */
function latestOpenStep(run: Run): Run | undefined {
  let best: Run | undefined;
  const visit = (r: Run) => {
    for (const c of r.children) {
      if (!c.ended && c.kind !== 'chain' && (!best || c.order > best.order)) best = c;
      if (!c.ended) visit(c);
    }
  };
  visit(run);
  return best;
}

function parentRunIdOf(config: RunnableConfig | undefined): string | undefined {
  const callbacks = config?.callbacks as { getParentRunId?: () => string | undefined } | undefined;
  return typeof callbacks?.getParentRunId === 'function' ? callbacks.getParentRunId() : undefined;
}

function nameOf(s: Serialized | undefined): string {
  const named = (s as { name?: unknown } | undefined)?.name;
  if (typeof named === 'string' && named) return named;
  return s?.id?.at(-1) ?? 'step';
}

/** Adds `gatehouse_run` / `gatehouse_step` to a JSON body's `metadata` when the body names a model. */
function withMetadata(body: RequestInit['body'] | undefined, c: Correlation): RequestInit['body'] | undefined {
  if (typeof body !== 'string') return body;
  try {
    const json = JSON.parse(body) as Record<string, unknown>;
    if (typeof json !== 'object' || json === null || typeof json.model !== 'string') return body;
    const metadata = typeof json.metadata === 'object' && json.metadata !== null ? json.metadata : {};
    return JSON.stringify({ ...json, metadata: { ...metadata, gatehouse_run: c.runId, gatehouse_step: c.step } });
  } catch {
    return body;
  }
}
