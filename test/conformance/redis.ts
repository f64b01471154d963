// The Redis adapter in the conformance suite: the real server on 127.0.0.1:6379 and ioredis as the agent.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Agent, Answer, Driver } from './driver.ts';

// Keys of this run only: the server is shared with other test runs, and nothing here flushes it.
const PREFIX = `gh_redis:conformance:${randomUUID()}:`;
const HELD = `${PREFIX}held`;
let direct: Redis;

const answer = (p: Promise<unknown>): Promise<Answer> => p.then(() => ({ ok: true }) as const, (err: Error) => ({ ok: false, refusal: err.message }));

export const redis: Driver = {
  name: 'redis',
  async setup() {
    direct = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true });
    await direct.connect();
    return `
connections:
  cache:
    kind: redis
    listen: 127.0.0.1:0
    upstream: redis://127.0.0.1:6379/0
roles:
  agent:
    cache:
      commands: ["+@read", "+@write", "-@dangerous"]
      read: ["${PREFIX}*"]
      write: ["${PREFIX}*"]
      approve: ["INCR ${HELD}"]
`;
  },
  async teardown() {
    const keys = await direct.keys(`${PREFIX}*`);
    if (keys.length) await direct.del(...keys);
    direct.disconnect();
  },
  async connect(address, token, tags) {
    const [host, port] = address.split(':');
    const client = new Redis({
      host, port: Number(port), username: token.label, password: token.token,
      // A Redis client name cannot hold spaces: the LangChain tags go `;`-separated.
      connectionName: `conformance;run=${tags.run};step=${tags.step}`,
      lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null,
    });
    // ioredis reports a refused AUTH as an 'error' event, then fails connect() with "Connection is closed".
    let refused: Error | undefined;
    client.on('error', (err: Error) => { refused ??= err; });
    await client.connect().catch((err: Error) => { throw refused ?? err; });
    const agent: Agent = {
      allowed: async () => { await client.get(`${PREFIX}x`); },
      held: () => answer(client.incr(HELD)),
      live() {
        const queue = `${PREFIX}queue:${randomUUID()}`;
        const ended = answer(client.blpop(queue, 0));
        return { started: until(async () => (await direct.client('LIST') as string).includes('cmd=blpop')), ended };
      },
      close: async () => client.disconnect(),
    };
    return agent;
  },
  authRefusal(outcome) {
    assert.ok(outcome instanceof Error && outcome.name === 'ReplyError', `a Redis error reply, got ${String(outcome)}`);
    assert.match(outcome.message, /^WRONGPASS Gatehouse: /);
    return outcome.message;
  },
  forwardedHeld: async () => Number(await direct.get(HELD) ?? 0),
};

async function until(fn: () => Promise<boolean>, ms = 4000) {
  for (const end = Date.now() + ms; !(await fn()); ) {
    if (Date.now() > end) throw new Error('timed out waiting for the upstream');
    await new Promise((r) => setTimeout(r, 10));
  }
}
