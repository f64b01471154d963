// The MCP gateway (`kind: mcp`): several upstream servers behind one endpoint, each agent session judged by its token's grant.
import type { McpConnection, McpGrant } from '../../config/schema.ts';
import type { AdapterServices } from '../../pipeline/adapter.ts';
import type { Listener } from '../../services/services.ts';
import { serveMcp } from '../kit/mcp/server.ts';
import { openMcpHost } from './host.ts';
import { compileMcpGrant, type CompiledMcpGrant } from './policy.ts';
import { PinReviews } from './reviews.ts';
import { CLIENT_INFO } from './upstream/client.ts';
import { serverSpecs } from './upstream/servers.ts';

export async function startMcpListener(name: string, conn: McpConnection, services: AdapterServices): Promise<Listener> {
  // Programs are found and grants compiled at start-up: a mistake stops the gateway, not the first agent.
  // A stdio server's standard error is its own log: kept, line by line, with the gateway's.
  const specs = serverSpecs(conn.servers, process.cwd(), (server, line) => services.log.info({ connection: name, server, line }, 'mcp server stderr'));
  const servers = specs.map((s) => s.name);
  const compiled = new Map<McpGrant, CompiledMcpGrant>();
  for (const [role, byConnection] of Object.entries(services.config.roles)) {
    const grant = byConnection[name] as McpGrant | undefined;
    if (!grant) continue;
    try {
      compiled.set(grant, compileMcpGrant(grant, servers));
    } catch (err) {
      throw new Error(`roles.${role}.${name}: ${(err as Error).message}`);
    }
  }
  const reviews = new PinReviews(services.store, name);
  return serveMcp<McpGrant>(services, {
    connection: name,
    kind: 'mcp',
    listen: conn.listen,
    idleTimeoutMs: conn.idle_timeout_ms,
    maxSessionsPerToken: conn.max_sessions_per_token,
    headerTimeoutMs: conn.header_timeout_ms,
    bodyTimeoutMs: conn.body_timeout_ms,
    approvalWaitMs: conn.approval_wait_ms,
    maxResultBytes: conn.max_result_bytes,
    info: CLIENT_INFO,
    open: async ({ grant, gate, agent }) => openMcpHost({
      connection: name, specs, timeoutMs: conn.timeout_ms, connectTimeoutMs: conn.connect_timeout_ms, grant, compiled: compiled.get(grant)!, gate, agent,
      store: services.store, guards: services.guards, reviews, log: services.log,
    }),
  });
}
