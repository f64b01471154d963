// The served directory (`kind: filesystem`): MCP tools over one root, each agent session judged by its token's grant.
import { resolve } from 'node:path';
import type { FilesystemConnection, FilesystemGrant } from '../../config/schema.ts';
import type { AdapterServices } from '../../pipeline/adapter.ts';
import type { Listener } from '../../services/services.ts';
import { serveMcp } from '../kit/mcp/server.ts';
import { openFsHost } from './host.ts';
import { Jail } from './jail.ts';
import { compileFsGrant, type CompiledFsGrant } from './policy.ts';

const SERVER_INFO = { name: 'gatehouse-filesystem', version: '0.1.0' };

export async function startFilesystemListener(name: string, conn: FilesystemConnection, services: AdapterServices): Promise<Listener> {
  // The root and every grant are checked at start-up: a mistake stops the gateway, not the first agent.
  const compiled = new Map<FilesystemGrant, CompiledFsGrant>();
  for (const [role, byConnection] of Object.entries(services.config.roles)) {
    const grant = byConnection[name] as FilesystemGrant | undefined;
    if (!grant) continue;
    try {
      compiled.set(grant, compileFsGrant(grant));
    } catch (err) {
      throw new Error(`roles.${role}.${name}: ${(err as Error).message}`);
    }
  }
  let jail: Jail;
  try {
    jail = await Jail.open(resolve(process.cwd(), conn.root));
  } catch (err) {
    throw new Error(`connections.${name}.root (${conn.root}): ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such directory' : (err as Error).message}`);
  }
  const listener = await serveMcp<FilesystemGrant>(services, {
    connection: name,
    kind: 'filesystem',
    listen: conn.listen,
    idleTimeoutMs: conn.idle_timeout_ms,
    maxSessionsPerToken: conn.max_sessions_per_token,
    headerTimeoutMs: conn.header_timeout_ms,
    bodyTimeoutMs: conn.body_timeout_ms,
    approvalWaitMs: conn.approval_wait_ms,
    maxResultBytes: conn.max_result_bytes,
    info: SERVER_INFO,
    open: async ({ grant }) => openFsHost({ connection: name, jail, grant, compiled: compiled.get(grant)!, guards: services.guards }),
  }).catch(async (err) => { await jail.close(); throw err; });
  return {
    name: listener.name,
    kind: listener.kind,
    address: listener.address,
    async close() {
      await listener.close();
      await jail.close();
    },
  };
}
