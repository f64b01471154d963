// One agent's MCP session: an SDK server whose every call goes through the gate, waits boundedly for approvals, and returns guarded results.
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema, GetPromptRequestSchema, ListPromptsRequestSchema, ListResourcesRequestSchema, ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema, ReadResourceRequestSchema,
  type CallToolResult, type GetPromptResult, type Prompt, type ReadResourceResult, type Resource, type ResourceTemplate,
  type ServerCapabilities, type ServerNotification, type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import type { ContentGuards, GuardPolicy } from '../../../pipeline/content-guards.ts';
import type { Ask, Forward, GateSession, Outcome, Refuse } from '../../../pipeline/gate.ts';
import type { Facts } from '../../../services/policy/facts.ts';
import { allow } from '../../../services/policy/verdict.ts';
import { awaitApproval } from './approval.ts';
import { canonicalJson, sha256 } from './canonical.ts';
import { RpcError, toolError, unknownPrompt, unknownResource, unknownTool } from './refusals.ts';
import { guardResult } from './results.ts';

/**
 * Refusal rules that mean "not there for you": an agent is told "unknown tool" (or resource, prompt) whether the thing
 * does not exist or is not granted, so it cannot map what lies beyond its grant. Adapters name their rules so.
 */
export const isHidden = (rule: string) => rule.endsWith('.unknown') || rule.endsWith('.ungranted');

/** A failure on the way to the upstream, rendered as a tool error (or JSON-RPC error for lists and reads). */
export interface Failure { rule: string; message: string }
export const isFailure = (e: unknown): e is Failure & Error => e instanceof Error && typeof (e as Partial<Failure>).rule === 'string';

export interface CallOptions {
  signal: AbortSignal;
  /** Relays the upstream's progress to the agent (only when the agent asked for progress). */
  onprogress?: (p: { progress: number; total?: number; message?: string }) => void;
}

/** What an adapter serves one agent session: listing is filtered by the grant; every use is asked of the gate first. */
export interface HostSession {
  /** What the session serves (tools, resources, prompts, list-changed notifications). */
  capabilities: ServerCapabilities;
  listTools(): Promise<Tool[]>;
  /**
   * What calling `name` with `args` means: facts, the policy over them, what binds an approval (`args` exactly), audit
   * detail. `shown` is the arguments as canonical JSON with secrets and personal data redacted, for the summary.
   */
  askCall(name: string, args: Record<string, unknown>, shown: string): Promise<Ask<Facts>>;
  callTool(name: string, args: Record<string, unknown>, options: CallOptions): Promise<CallToolResult>;
  resources?: {
    list(): Promise<Resource[]>;
    templates(): Promise<ResourceTemplate[]>;
    askRead(uri: string): Promise<Ask<Facts>>;
    read(uri: string, options: CallOptions): Promise<ReadResourceResult>;
  };
  prompts?: {
    list(): Promise<Prompt[]>;
    askGet(name: string, args: Record<string, string>): Promise<Ask<Facts>>;
    get(name: string, args: Record<string, string>, options: CallOptions): Promise<GetPromptResult>;
  };
  /** The grant's guards, applied to every result. */
  guards: GuardPolicy;
  /** What the host found since last asked (tools pinned or withheld, servers unavailable): kept with the next result record. */
  notes?(): Record<string, unknown>;
  close(reason: string): Promise<void>;
}

export interface SessionLimits {
  approvalWaitMs: number;
  maxResultBytes: number;
}

/** Arguments larger than this are audited by digest and size only. */
const AUDIT_ARGS_BYTES = 4096;
/** How much of a result's text the audit keeps for replay. */
const PREVIEW_CHARS = 2000;

/**
 * Serves `host` on `server` (one agent session): lists as the host filters them, every use through the gate first.
 * When `cut` aborts (revocation, shutdown), every request in flight is answered at once with an error saying why.
 */
export function attachHost(server: Server, host: HostSession, gate: GateSession, guards: ContentGuards, limits: SessionLimits, cut: AbortSignal) {
  server.registerCapabilities(host.capabilities);
  type Send = (n: ServerNotification) => Promise<void>;
  const handle: typeof server.setRequestHandler = (schema, handler) => server.setRequestHandler(schema, (req, extra) => untilCut(handler(req, extra), cut));

  /** The gate's outcome, a held request waited for within the bound. */
  const judge = async (ask: Ask<Facts>, signal: AbortSignal, progressToken: string | number | undefined, send: Send): Promise<Forward | Refuse> => {
    const outcome: Outcome = await gate.pass(ask);
    if (outcome.kind !== 'held') return outcome;
    const progress = progressToken === undefined ? undefined : (progress: number, message: string) =>
      send({ method: 'notifications/progress', params: { progressToken, progress, message } });
    return awaitApproval(outcome, { waitMs: limits.approvalWaitMs, signal, progress });
  };

  /** Forwards, guards the result and records it; a failure on the way comes back as one. */
  const run = async <T>(forward: Forward, started: number, call: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; failure: Failure }> => {
    let value: T;
    try {
      value = await call();
    } catch (err) {
      const failure = isFailure(err) ? { rule: err.rule, message: err.message } : { rule: 'upstream.error', message: (err as Error).message };
      forward.done({ protocol: 'mcp', ms: ms(started), status: 'error', error: failure.message, rule: failure.rule });
      return { ok: false, failure };
    }
    const guarded = guardResult(value, host.guards, guards, limits.maxResultBytes);
    const notes = guarded.notes.length ? { guards: guarded.notes } : {};
    if (!guarded.ok) {
      forward.done({ protocol: 'mcp', ms: ms(started), bytes: guarded.bytes, status: 'withheld', error: guarded.message, rule: guarded.rule, ...notes });
      return { ok: false, failure: { rule: guarded.rule, message: guarded.message } };
    }
    forward.done({ protocol: 'mcp', ms: ms(started), bytes: guarded.bytes, ...resultSummary(guarded.value), ...notes, ...host.notes?.() });
    return { ok: true, value: guarded.value };
  };

  /** Lists are audited too (what the agent was shown is part of its session), after the gate lets them through. */
  const list = async <T extends { name: string } | { uri: string } | { uriTemplate: string }>(method: string, items: () => Promise<T[]>): Promise<T[]> => {
    const outcome = await gate.pass({ facts: { protocol: 'mcp', connection: gate.ctx.connection, effect: 'read', summary: method, targets: [] }, policy: () => allow(method) });
    if (outcome.kind !== 'forward') throw refusal(outcome.kind === 'refuse' ? outcome : { rule: 'policy', message: 'refused' });
    let found: T[];
    try {
      found = await items();
    } catch (err) {
      outcome.done({ protocol: 'mcp', status: 'error', error: (err as Error).message, ...host.notes?.() });
      throw err;
    }
    const names = found.map((i) => ('name' in i ? i.name : 'uri' in i ? i.uri : i.uriTemplate));
    outcome.done({ protocol: 'mcp', status: 'ok', output: names.join(', '), listed: names.length, ...host.notes?.() });
    return found;
  };

  handle(ListToolsRequestSchema, async () => ({ tools: await list('tools/list', () => host.listTools()) }));

  handle(CallToolRequestSchema, async (req, extra): Promise<CallToolResult> => {
    const started = performance.now();
    const { name } = req.params;
    const args = req.params.arguments ?? {};
    const redacted = redactArgs(args, guards);
    const shown = canonicalJson(redacted);
    const ask = await host.askCall(name, args, shown);
    const audited = shown.length <= AUDIT_ARGS_BYTES ? redacted : { sha256: sha256(canonicalJson(args)), bytes: Buffer.byteLength(shown) };
    const outcome = await judge({ ...ask, detail: { ...ask.detail, method: 'tools/call', tool: name, args: audited } }, extra.signal, extra._meta?.progressToken, extra.sendNotification);
    if (outcome.kind === 'refuse') {
      if (isHidden(outcome.rule)) throw unknownTool(name);
      return toolError(outcome.rule, outcome.message, outcome.approval);
    }
    const token = extra._meta?.progressToken;
    const onprogress = token === undefined ? undefined : (p: { progress: number; total?: number; message?: string }) =>
      void extra.sendNotification({ method: 'notifications/progress', params: { ...p, progressToken: token } }).catch(() => {});
    const done = await run(outcome, started, () => host.callTool(name, args, { signal: extra.signal, onprogress }));
    return done.ok ? done.value : toolError(done.failure.rule, done.failure.message);
  });

  const { resources, prompts } = host;
  if (resources) {
    handle(ListResourcesRequestSchema, async () => ({ resources: await list('resources/list', () => resources.list()) }));
    handle(ListResourceTemplatesRequestSchema, async () => ({ resourceTemplates: await list('resources/templates/list', () => resources.templates()) }));
    handle(ReadResourceRequestSchema, async (req, extra) => {
      const started = performance.now();
      const { uri } = req.params;
      const outcome = await judge(await resources.askRead(uri), extra.signal, extra._meta?.progressToken, extra.sendNotification);
      if (outcome.kind === 'refuse') throw isHidden(outcome.rule) ? unknownResource(uri) : refusal(outcome);
      const done = await run(outcome, started, () => resources.read(uri, { signal: extra.signal }));
      if (!done.ok) throw refusal(done.failure);
      return done.value;
    });
  }
  if (prompts) {
    handle(ListPromptsRequestSchema, async () => ({ prompts: await list('prompts/list', () => prompts.list()) }));
    handle(GetPromptRequestSchema, async (req, extra) => {
      const started = performance.now();
      const { name } = req.params;
      const args = req.params.arguments ?? {};
      const outcome = await judge(await prompts.askGet(name, args), extra.signal, extra._meta?.progressToken, extra.sendNotification);
      if (outcome.kind === 'refuse') throw isHidden(outcome.rule) ? unknownPrompt(name) : refusal(outcome);
      const done = await run(outcome, started, () => prompts.get(name, args, { signal: extra.signal }));
      if (!done.ok) throw refusal(done.failure);
      return done.value;
    });
  }
}

/** `work`, unless the session is cut first: then the request is answered with the reason. */
function untilCut<T>(work: T | Promise<T>, cut: AbortSignal): Promise<T> {
  const refused = () => new RpcError(-32000, `Gatehouse: the session was cut (${String(cut.reason)})`);
  if (cut.aborted) return Promise.reject(refused());
  return new Promise<T>((resolve, reject) => {
    const onCut = () => reject(refused());
    cut.addEventListener('abort', onCut, { once: true });
    Promise.resolve(work).then(resolve, reject).finally(() => cut.removeEventListener('abort', onCut));
  });
}

/** Reads and prompts have no tool-error shape: a refusal is a JSON-RPC error naming the rule. */
const refusal = (r: { rule: string; message: string; approval?: string }) =>
  new RpcError(-32000, `Gatehouse [${r.rule}]: ${r.message}${r.approval && !r.message.includes(r.approval) ? ` (approval ${r.approval})` : ''}`);

const ms = (started: number) => Math.round((performance.now() - started) * 1000) / 1000;

/** Arguments as the audit and approvers see them: secrets and personal data in their strings redacted. */
function redactArgs(args: Record<string, unknown>, guards: ContentGuards): Record<string, unknown> {
  return guards.maskJson(args, NO_FIELD_RULES, ARGS_REDACTION).value as Record<string, unknown>;
}
const ARGS_REDACTION: GuardPolicy = { secrets: 'redact', pii: 'redact', injection: 'off' };
const NO_FIELD_RULES = {};

/** What the agent was shown, for replay: the text it read (clipped), its size and digest, and whether it was an error. */
function resultSummary(value: unknown): Record<string, unknown> {
  const v = value as { isError?: boolean; content?: { type: string; text?: string }[]; contents?: { text?: string }[]; messages?: { content: { text?: string } }[] };
  const texts = [
    ...(v.content ?? []).map((c) => c.text ?? `[${c.type}]`),
    ...(v.contents ?? []).map((c) => c.text ?? '[blob]'),
    ...(v.messages ?? []).map((m) => m.content.text ?? ''),
  ].join('\n');
  return {
    status: v.isError ? 'tool error' : 'ok',
    sha256: sha256(canonicalJson(value)),
    output: texts.length > PREVIEW_CHARS ? `${texts.slice(0, PREVIEW_CHARS)}…` : texts,
  };
}

