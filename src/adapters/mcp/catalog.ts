// What one agent session can reach through its upstream servers: tools as `<server>__<tool>`, resources and prompts, routed back to their server.
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { RequestOptions } from '@modelcontextprotocol/sdk/shared/protocol.js';
import { UriTemplate } from '@modelcontextprotocol/sdk/shared/uriTemplate.js';
import {
  CallToolResultSchema, ErrorCode, McpError,
  type CallToolResult, type GetPromptResult, type Prompt, type ReadResourceResult, type Resource, type ResourceTemplate, type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import type { PinCheck } from './pins.ts';
import { SEPARATOR } from './policy.ts';
import type { Upstream } from './upstream/client.ts';
import type { ServerSpec } from './upstream/servers.ts';

/** SEP-986 tool names: anything else (spaces, look-alike Unicode letters) is withheld rather than shown to a model. */
const TOOL_NAME = /^[A-Za-z0-9._-]{1,128}$/;
/** Upper bound on list pages read from one server, so a server cannot keep a session listing forever. */
const MAX_PAGES = 100;

export interface ExposedTool {
  /** `<server>__<tool>`: what the agent sees and grants name. */
  name: string;
  upstream: Upstream;
  /** The tool as its server defines it. */
  tool: Tool;
}

export interface ExposedPrompt { name: string; upstream: Upstream; prompt: Prompt }

/** Something the catalog held back or could not reach, for the audit and the approvals inbox. */
export type CatalogEvent =
  | { kind: 'withheld'; server: ServerSpec; check: Extract<PinCheck, { definition: string }> }
  | { kind: 'pinned'; server: ServerSpec; tool: string; fingerprint: string }
  | { kind: 'invalid-name'; server: ServerSpec; tool: string }
  | { kind: 'shadowed'; server: ServerSpec; uri: string }
  | { kind: 'unavailable'; server: ServerSpec; error: string };

/** Why an upstream request failed, said so that an agent (and its developer) can tell what happened. */
export class UpstreamError extends Error {
  constructor(readonly rule: 'upstream.timeout' | 'upstream.closed' | 'upstream.unavailable' | 'upstream.error', message: string, readonly code?: number) {
    super(message);
  }
}

export interface CatalogOptions {
  /** How long one upstream request may take (progress resets it, up to ten times as long). */
  timeoutMs: number;
  checkPins(server: ServerSpec, tools: Tool[]): Promise<PinCheck[]>;
  report(event: CatalogEvent): void;
}

type Listing<T> = Promise<T[]>;

export class Catalog {
  private readonly tools = new Map<string, Listing<ExposedTool>>();
  private readonly resources = new Map<string, Listing<Resource>>();
  private readonly templates = new Map<string, Listing<ResourceTemplate>>();
  private readonly prompts = new Map<string, Listing<ExposedPrompt>>();
  /** Every visible tool by exposed name, built once per listing (each call looks its tool up here). */
  private toolIndex?: Promise<Map<string, ExposedTool>>;

  constructor(readonly upstreams: Upstream[], private readonly opts: CatalogOptions) {}

  /** A server said its lists changed (or went away): read them again on next use. */
  forget(server: string) {
    for (const cache of [this.tools, this.resources, this.templates, this.prompts]) cache.delete(server);
    this.toolIndex = undefined;
  }

  /** Every tool that passed its pin, from every server that answers. */
  listTools(): Promise<Map<string, ExposedTool>> {
    if (!this.toolIndex) {
      const building: Promise<Map<string, ExposedTool>> = this.gatherTools().then((all) => {
        // A server that failed is asked again next time: the index is kept only when every server answered.
        if (this.toolIndex === building && !this.upstreams.every((u) => this.tools.has(u.spec.name))) this.toolIndex = undefined;
        return new Map(all.map((t) => [t.name, t]));
      });
      this.toolIndex = building;
    }
    return this.toolIndex;
  }

  private gatherTools(): Promise<ExposedTool[]> {
    return this.gather(this.tools, 'tools', async (u, c) => {
      const listed = await this.paged((cursor) => c.listTools({ cursor }, this.request()).then((r) => ({ items: r.tools, next: r.nextCursor })));
      const named = listed.filter((tool) => {
        if (TOOL_NAME.test(tool.name)) return true;
        this.opts.report({ kind: 'invalid-name', server: u.spec, tool: tool.name });
        return false;
      });
      const checks = await this.opts.checkPins(u.spec, named);
      const visible: ExposedTool[] = [];
      for (const check of checks) {
        if (check.status === 'changed' || check.status === 'suspicious') this.opts.report({ kind: 'withheld', server: u.spec, check });
        else {
          if (check.status === 'new') this.opts.report({ kind: 'pinned', server: u.spec, tool: check.tool.name, fingerprint: check.fingerprint });
          visible.push({ name: `${u.spec.name}${SEPARATOR}${check.tool.name}`, upstream: u, tool: check.tool });
        }
      }
      return visible;
    });
  }

  async callTool(tool: ExposedTool, args: Record<string, unknown>, options: { signal?: AbortSignal; onprogress?: RequestOptions['onprogress'] }): Promise<CallToolResult> {
    return this.forward(tool.upstream, 'tools/call', (c) =>
      c.request({ method: 'tools/call', params: { name: tool.tool.name, arguments: args } }, CallToolResultSchema, this.request(options)) as Promise<CallToolResult>);
  }

  async listPrompts(): Promise<Map<string, ExposedPrompt>> {
    const all = await this.gather(this.prompts, 'prompts', async (u, c) =>
      (await this.paged((cursor) => c.listPrompts({ cursor }, this.request()).then((r) => ({ items: r.prompts, next: r.nextCursor }))))
        .filter((p) => TOOL_NAME.test(p.name))
        .map((prompt) => ({ name: `${u.spec.name}${SEPARATOR}${prompt.name}`, upstream: u, prompt })));
    return new Map(all.map((p) => [p.name, p]));
  }

  getPrompt(prompt: ExposedPrompt, args: Record<string, string> | undefined, options: { signal?: AbortSignal } = {}): Promise<GetPromptResult> {
    return this.forward(prompt.upstream, 'prompts/get', (c) => c.getPrompt({ name: prompt.prompt.name, arguments: args }, this.request(options)));
  }

  /** Resources keep their URIs; a URI that two servers both list is withheld from both (neither may shadow the other). */
  async listResources(): Promise<Map<string, { upstream: Upstream; resource: Resource }>> {
    const byServer = await Promise.all(this.upstreams.map(async (u) => ({ u, items: await this.listOf(this.resources, u, 'resources', (c) =>
      this.paged((cursor) => c.listResources({ cursor }, this.request()).then((r) => ({ items: r.resources, next: r.nextCursor })))) })));
    const out = new Map<string, { upstream: Upstream; resource: Resource }>();
    const shadowed = new Set<string>();
    for (const { u, items } of byServer) {
      for (const resource of items) {
        const other = out.get(resource.uri);
        if (other && other.upstream !== u) {
          shadowed.add(resource.uri);
          this.opts.report({ kind: 'shadowed', server: u.spec, uri: resource.uri });
        } else out.set(resource.uri, { upstream: u, resource });
      }
    }
    for (const uri of shadowed) out.delete(uri);
    return out;
  }

  async listResourceTemplates(): Promise<{ upstream: Upstream; template: ResourceTemplate }[]> {
    const byServer = await Promise.all(this.upstreams.map(async (u) => (await this.listOf(this.templates, u, 'resources', (c) =>
      this.paged((cursor) => c.listResourceTemplates({ cursor }, this.request()).then((r) => ({ items: r.resourceTemplates, next: r.nextCursor })))))
      .map((template) => ({ upstream: u, template }))));
    return byServer.flat();
  }

  /** The one server a URI belongs to: the one that lists it, else the one whose template matches it; none when ambiguous. */
  async resourceServer(uri: string): Promise<Upstream | undefined> {
    const listed = (await this.listResources()).get(uri);
    if (listed) return listed.upstream;
    const owners = new Set((await this.listResourceTemplates()).filter(({ template }) => {
      try { return new UriTemplate(template.uriTemplate).match(uri) !== null; } catch { return false; }
    }).map((t) => t.upstream));
    return owners.size === 1 ? [...owners][0] : undefined;
  }

  readResource(upstream: Upstream, uri: string, options: { signal?: AbortSignal } = {}): Promise<ReadResourceResult> {
    return this.forward(upstream, 'resources/read', (c) => c.readResource({ uri }, this.request(options)));
  }

  async close() {
    await Promise.all(this.upstreams.map((u) => u.close()));
  }

  private request(options: { signal?: AbortSignal; onprogress?: RequestOptions['onprogress'] } = {}): RequestOptions {
    return { timeout: this.opts.timeoutMs, maxTotalTimeout: this.opts.timeoutMs * 10, resetTimeoutOnProgress: true, ...options };
  }

  private async paged<T>(page: (cursor: string | undefined) => Promise<{ items: T[]; next?: string }>): Promise<T[]> {
    const out: T[] = [];
    let cursor: string | undefined;
    for (let n = 0; n < MAX_PAGES; n++) {
      const { items, next } = await page(cursor);
      out.push(...items);
      if (!next) return out;
      cursor = next;
    }
    throw new Error(`more than ${MAX_PAGES} pages`);
  }

  /** Lists one kind from every server at once; a server that fails is reported and left out, the others still count. */
  private async gather<T>(cache: Map<string, Listing<T>>, capability: 'tools' | 'prompts', list: (u: Upstream, c: Client) => Promise<T[]>): Promise<T[]> {
    return (await Promise.all(this.upstreams.map((u) => this.listOf(cache, u, capability, (c) => list(u, c))))).flat();
  }

  private listOf<T>(cache: Map<string, Listing<T>>, u: Upstream, capability: 'tools' | 'prompts' | 'resources', list: (c: Client) => Promise<T[]>): Listing<T> {
    let listing = cache.get(u.spec.name);
    if (!listing) {
      listing = (async () => {
        const c = await u.client();
        return c.getServerCapabilities()?.[capability] ? list(c) : [];
      })().catch((err: Error) => {
        cache.delete(u.spec.name);
        this.opts.report({ kind: 'unavailable', server: u.spec, error: err.message });
        return [];
      });
      cache.set(u.spec.name, listing);
    }
    return listing;
  }

  private async forward<T>(upstream: Upstream, method: string, send: (c: Client) => Promise<T>): Promise<T> {
    const name = upstream.spec.name;
    let client: Client;
    try {
      client = await upstream.client();
    } catch (err) {
      throw new UpstreamError('upstream.unavailable', (err as Error).message);
    }
    try {
      return await send(client);
    } catch (err) {
      if (!(err instanceof McpError)) throw new UpstreamError('upstream.error', `server "${name}" failed on ${method}: ${(err as Error).message}`);
      if (err.code === ErrorCode.RequestTimeout) throw new UpstreamError('upstream.timeout', `server "${name}" did not answer ${method} in time (${this.opts.timeoutMs} ms)`);
      if (err.code === ErrorCode.ConnectionClosed) {
        this.forget(name);
        throw new UpstreamError('upstream.closed', `server "${name}" ${upstream.spec.kind === 'stdio' ? 'exited' : 'closed the connection'} during ${method}`);
      }
      throw new UpstreamError('upstream.error', `server "${name}" refused ${method}: ${err.message.replace(/^MCP error -?\d+: /, '')}`, err.code);
    }
  }
}
