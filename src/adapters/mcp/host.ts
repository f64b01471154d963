// What one agent session reaches through an MCP connection: its grant over the catalog of upstream servers, and the server-to-agent requests it allows.
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CreateMessageRequestSchema, ElicitRequestSchema, ErrorCode, PromptListChangedNotificationSchema, ResourceListChangedNotificationSchema,
  ToolListChangedNotificationSchema, type ClientCapabilities, type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import type { McpGrant } from '../../config/schema.ts';
import type { ContentGuards, GuardPolicy } from '../../pipeline/content-guards.ts';
import type { GateSession } from '../../pipeline/gate.ts';
import { allow, deny } from '../../services/policy/verdict.ts';
import type { ToolPinStore } from '../../services/store/store.ts';
import type { Logger } from '../../services/telemetry/logger.ts';
import { canonicalJson } from '../kit/mcp/canonical.ts';
import { RpcError } from '../kit/mcp/refusals.ts';
import type { HostSession } from '../kit/mcp/session.ts';
import { Catalog, UpstreamError, type CatalogEvent } from './catalog.ts';
import { checkPins } from './pins.ts';
import { decideNamed, decideToolCall, mayCall, mayListTemplate, promptRule, resourceRule, type CompiledMcpGrant, type ToolCallFacts } from './policy.ts';
import type { PinReviews } from './reviews.ts';
import { Upstream } from './upstream/client.ts';
import type { ServerSpec } from './upstream/servers.ts';

export interface HostContext {
  connection: string;
  specs: ServerSpec[];
  timeoutMs: number;
  connectTimeoutMs: number;
  grant: McpGrant;
  compiled: CompiledMcpGrant;
  gate: GateSession;
  agent: Server;
  store: ToolPinStore;
  guards: ContentGuards;
  reviews: PinReviews;
  log: Logger;
}

const INJECTION_ONLY: GuardPolicy = { injection: 'flag', secrets: 'off', pii: 'off' };

/** Longest summary of a call's arguments in the audit and the approvals inbox (the approval binds to all of them). */
const SUMMARY_ARGS = 2000;

export function openMcpHost(ctx: HostContext): HostSession {
  const { gate, agent, compiled, connection } = ctx;
  const reviewing: Promise<void>[] = [];
  /** What listing found since it was last recorded: it rides along with the next result record. */
  let found: Record<string, unknown[]> = {};
  const note = (key: string, value: unknown) => (found[key] ??= []).push(value);

  const report = (e: CatalogEvent) => {
    if (e.kind === 'withheld') {
      note('withheld', { server: e.server.name, tool: e.check.tool.name, status: e.check.status });
      reviewing.push(ctx.reviews.raise(gate, e).catch((err: Error) => ctx.log.warn({ err, connection, tool: e.check.tool.name }, 'raising a pin review failed')));
    } else if (e.kind === 'pinned') note('pinned', { server: e.server.name, tool: e.tool, fingerprint: e.fingerprint });
    else if (e.kind === 'invalid-name') note('invalid', { server: e.server.name, tool: e.tool });
    else if (e.kind === 'shadowed') note('shadowed', { server: e.server.name, uri: e.uri });
    else note('unavailable', { server: e.server.name, error: e.error });
  };
  // A description the classifier flags without a named rule still counts: it is reviewed, not pinned.
  const scan = (text: string) => ctx.guards.scan(text, INJECTION_ONLY, 'document').notes.flatMap((n) => (n.types.length ? n.types : ['injection-score']));

  const upstreams = ctx.specs.map((spec) => new Upstream(spec, { capabilities: () => offered(ctx.grant, agent), prepare: (client) => prepare(spec, client), connectTimeoutMs: ctx.connectTimeoutMs }));
  const catalog = new Catalog(upstreams, { timeoutMs: ctx.timeoutMs, report, checkPins: (server, tools) => checkPins(ctx.store, server, tools, scan) });
  const stopListening = ctx.reviews.onAccepted((server) => changed(server, 'tools'));

  /** A server's lists changed (it said so, or a person accepted a pin): list it again, and tell the agent. */
  function changed(server: string, what: 'tools' | 'resources' | 'prompts') {
    catalog.forget(server);
    const send = what === 'tools' ? agent.sendToolListChanged() : what === 'resources' ? agent.sendResourceListChanged() : agent.sendPromptListChanged();
    void send.catch(() => {});
  }

  /** Server-to-agent requests: relayed through the gate when the grant allows them, refused (and audited) otherwise. */
  function prepare(spec: ServerSpec, client: Client) {
    client.setNotificationHandler(ToolListChangedNotificationSchema, async () => changed(spec.name, 'tools'));
    client.setNotificationHandler(ResourceListChangedNotificationSchema, async () => changed(spec.name, 'resources'));
    client.setNotificationHandler(PromptListChangedNotificationSchema, async () => changed(spec.name, 'prompts'));
    const relay = async (method: string, allowed: boolean, send: () => Promise<Record<string, unknown>>) => {
      const outcome = await gate.pass({
        facts: { protocol: 'mcp', connection, effect: method === 'sampling/createMessage' ? 'complete' : 'read', summary: `${method} from server ${spec.name}`, targets: [{ kind: 'tool', name: spec.name, access: method }] },
        policy: () => (allowed ? allow(method === 'sampling/createMessage' ? 'sampling' : 'elicitation') : deny(`mcp.${method.split('/')[0]}`, `the grant does not let servers send ${method} to the agent`)),
      });
      if (outcome.kind !== 'forward') throw new RpcError(ErrorCode.InvalidRequest, `Gatehouse: ${outcome.kind === 'refuse' ? outcome.message : 'refused'}`);
      try {
        const result = await send();
        outcome.done({ protocol: 'mcp', status: 'ok' });
        return result;
      } catch (err) {
        outcome.done({ protocol: 'mcp', status: 'error', error: (err as Error).message });
        throw err;
      }
    };
    const caps = offered(ctx.grant, agent);
    if (caps.sampling) client.setRequestHandler(CreateMessageRequestSchema, (req, extra) => relay(req.method, true, () => agent.createMessage(req.params, { signal: extra.signal })));
    if (caps.elicitation) client.setRequestHandler(ElicitRequestSchema, (req, extra) => relay(req.method, true, () => agent.elicitInput(req.params, { signal: extra.signal })));
    // Anything else a server asks of the agent (ungranted sampling or elicitation, roots) is refused, on the record.
    client.fallbackRequestHandler = async (req) => relay(req.method, false, async () => ({}));
  }

  const visibleTools = async () => [...(await catalog.listTools()).values()].filter((t) => mayCall(compiled, t.name));

  return {
    capabilities: { tools: { listChanged: true }, resources: { listChanged: true }, prompts: { listChanged: true } },
    guards: ctx.grant.guards,
    notes() {
      const out = found;
      found = {};
      return out;
    },

    async listTools(): Promise<Tool[]> {
      return (await visibleTools()).map((t) => ({ ...t.tool, name: t.name }));
    },

    async askCall(name, args, shown) {
      const known = (await catalog.listTools()).has(name);
      const facts: ToolCallFacts = {
        protocol: 'mcp', connection, effect: 'call', tool: name, args, known,
        summary: `${name} ${shown.length > SUMMARY_ARGS ? `${shown.slice(0, SUMMARY_ARGS)}…` : shown}`,
        targets: [{ kind: 'tool', name, access: 'call' }],
      };
      // Same tool, same arguments (in any key order), same token: that is what an approval lets through.
      return { facts, policy: () => decideToolCall(facts, compiled), exact: `tools/call ${name} ${canonicalJson(args)}` };
    },

    async callTool(name, args, options) {
      const tool = (await catalog.listTools()).get(name);
      if (!tool) throw new UpstreamError('upstream.error', `tool ${name} went away while the call was judged; list the tools again`);
      return catalog.callTool(tool, args, options);
    },

    resources: {
      list: async () => [...(await catalog.listResources()).values()].map((r) => r.resource).filter((r) => resourceRule(compiled, r.uri)),
      templates: async () => (await catalog.listResourceTemplates()).map((t) => t.template).filter((t) => mayListTemplate(compiled, t.uriTemplate)),
      async askRead(uri) {
        const known = (await catalog.resourceServer(uri)) !== undefined;
        return {
          facts: { protocol: 'mcp', connection, effect: 'read', summary: `resources/read ${uri}`, targets: [{ kind: 'path', name: uri, access: 'read' }] },
          policy: () => decideNamed('resource', uri, known, resourceRule(compiled, uri)),
        };
      },
      async read(uri, options) {
        const owner = await catalog.resourceServer(uri);
        if (!owner) throw new UpstreamError('upstream.error', `resource ${uri} went away while the read was judged`);
        return catalog.readResource(owner, uri, options);
      },
    },

    prompts: {
      list: async () => [...(await catalog.listPrompts()).values()].filter((p) => promptRule(compiled, p.name)).map((p) => ({ ...p.prompt, name: p.name })),
      async askGet(name, args) {
        const known = (await catalog.listPrompts()).has(name);
        return {
          facts: { protocol: 'mcp', connection, effect: 'read', summary: `prompts/get ${name} ${canonicalJson(args)}`, targets: [{ kind: 'tool', name, access: 'prompt' }] },
          policy: () => decideNamed('prompt', name, known, promptRule(compiled, name)),
        };
      },
      async get(name, args, options) {
        const prompt = (await catalog.listPrompts()).get(name);
        if (!prompt) throw new UpstreamError('upstream.error', `prompt ${name} went away while the request was judged`);
        return catalog.getPrompt(prompt, args, options);
      },
    },

    async close() {
      stopListening();
      await catalog.close();
      // Reviews this session raised stay in the inbox until decided; the session (and its token's audit trail) waits.
      await Promise.allSettled(reviewing);
    },
  };
}

/** What the gateway offers upstream servers for this agent: only what the grant allows and the agent itself supports. */
function offered(grant: McpGrant, agent: Server): ClientCapabilities {
  const theirs = agent.getClientCapabilities() ?? {};
  return {
    ...(grant.sampling && theirs.sampling ? { sampling: {} } : {}),
    ...(grant.elicitation && theirs.elicitation ? { elicitation: theirs.elicitation } : {}),
  };
}
