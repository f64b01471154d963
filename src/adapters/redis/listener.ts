// The Redis listener: learns the upstream's commands, compiles every grant on this connection against them, then gives
// each agent connection a session of its own.

import { createServer, type Socket } from 'node:net';
import type { RedisConnection, RedisGrant } from '../../config/schema.ts';
import type { StartListener } from '../../pipeline/adapter.ts';
import type { Listener } from '../../services/services.ts';
import { compileRedisGrant, GrantError, type CompiledGrant } from './grant.ts';
import { RedisSession } from './session.ts';
import { learnServer, parseRedisUrl } from './upstream.ts';
import { listenOn } from '../kit/listen.ts';

export const startRedisListener: StartListener<RedisConnection> = async (name, conn, services): Promise<Listener> => {
  const target = parseRedisUrl(conn.upstream);
  const replyLimits = { maxReplyBytes: conn.max_reply_bytes, maxDepth: 32 };
  const { table, version } = await learnServer(target, replyLimits, conn.connect_timeout_ms);

  // Every grant on this connection is compiled now: a mistake stops the gateway, not a request.
  const compiled = new Map<RedisGrant, CompiledGrant>();
  const problems: string[] = [];
  for (const [role, grants] of Object.entries(services.config.roles)) {
    const grant = grants[name] as RedisGrant | undefined;
    if (!grant) continue;
    try {
      compiled.set(grant, compileRedisGrant(grant, table, role, name));
    } catch (err) {
      if (!(err instanceof GrantError)) throw err;
      problems.push(...err.problems.map((p) => `${p.path}: ${p.message}`));
    }
  }
  if (problems.length) throw new Error(`redis connection "${name}": invalid grants\n  ${problems.join('\n  ')}`);

  const options = {
    connection: name,
    services,
    table,
    target,
    serverVersion: version,
    requestLimits: { maxArgs: conn.max_command_args, maxArgBytes: conn.max_command_bytes, maxCommandBytes: conn.max_command_bytes },
    replyLimits,
    maxPipeline: conn.max_pipeline,
    connectTimeoutMs: conn.connect_timeout_ms,
    compiled: (grant: RedisGrant) => {
      const found = compiled.get(grant);
      if (!found) throw new Error(`no compiled grant for this role on "${name}"`);
      return found;
    },
  };
  const sessions = new Map<Socket, RedisSession>();
  let draining = false;
  const server = createServer({ noDelay: true }, (socket) => {
    const session = new RedisSession(socket, options);
    sessions.set(socket, session);
    socket.once('close', () => sessions.delete(socket));
    if (draining) session.drain();
  });

  const address = await listenOn(server, conn.listen);
  return {
    name,
    kind: 'redis',
    address,
    drain: () => new Promise<void>((resolve) => {
      draining = true;
      server.close(() => resolve());
      for (const s of sessions.values()) s.drain();
    }),
    close: () => new Promise<void>((resolve) => {
      for (const s of sessions.keys()) s.destroy();
      server.close(() => resolve());
    }),
  };
};
