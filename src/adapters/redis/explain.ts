// `gatehouse policy explain` for a Redis connection: what one command line would get, judged against the live upstream's
// command table exactly as the gateway judges it.

import type { RedisConnection, RedisGrant } from '../../config/schema.ts';
import { deny, type Verdict } from '../../services/policy/verdict.ts';
import { splitInline } from './codec/inline.ts';
import { analyse } from './facts.ts';
import { compileRedisGrant } from './grant.ts';
import { decideRedis } from './policy.ts';
import { learnServer, parseRedisUrl } from './upstream.ts';

/** Judges `line` (quoted as redis-cli and inline commands quote: `SET "a b" c`) for `role` on `connection`. */
export async function explainRedis(line: string, grant: RedisGrant | undefined, role: string, connection: string, conn: RedisConnection): Promise<Verdict> {
  const args = splitInline(Buffer.from(line, 'utf8'));
  if (!args?.length) return deny('redis.syntax', `cannot read "${line}" as a command (unbalanced quotes?)`);
  if (!grant) return deny('redis.grant', `role "${role}" has no grant on connection "${connection}"`);
  const target = parseRedisUrl(conn.upstream);
  const { table } = await learnServer(target, { maxReplyBytes: conn.max_reply_bytes, maxDepth: 32 }, conn.connect_timeout_ms);
  const facts = analyse(args, { connection, table, db: target.db });
  return decideRedis(facts, compileRedisGrant(grant, table, role, connection));
}
