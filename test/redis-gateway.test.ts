// The Redis gateway end to end, with real clients against the real server: ioredis (pipelines, MULTI, pub/sub),
// @redis/client, redis-cli, LangChain's Redis chat history and cache with only the URL changed; the audit, guards,
// SCAN filtering, the connection commands answered here, revocation, and the upstream password kept from the agent.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '@redis/client';
import { Redis } from 'ioredis';
import { HumanMessage, AIMessage } from '@langchain/core/messages';
import { RedisChatMessageHistory } from '@langchain/redis';
import { RedisCache } from '@langchain/redis';
import { createClient as createV4Client } from 'redis';
import { auditRecords, gateway } from './helpers/gateway.ts';
import { run } from './support/run.ts';
import { RawClient, directRedis, keyspace, privateRedis, resp } from './support/redis.ts';

const ks = keyspace('gateway');
const K = ks.key;
type Gw = Awaited<ReturnType<typeof gateway>>;
let gw: Gw;
let direct: Redis;
let address: string;
let port: number;

before(async () => {
  direct = await directRedis();
  gw = await gateway(`
approvals: { timeout: 2s }
connections:
  cache:
    kind: redis
    listen: 127.0.0.1:0
    upstream: redis://127.0.0.1:6379/0
roles:
  memory:
    cache:
      commands: ["+@read", "+@write", "-@dangerous"]
      read: ["${K('session:*')}", "${K('doc:*')}", "${K('langchain:*')}"]
      write: ["${K('session:*')}", "${K('langchain:*')}"]
      channels: ["${K('events:agent-*')}"]
  recorder:
    cache:
      commands: ["+@read", "+@write"]
      read: ["${K('rec:*')}"]
      write: ["${K('rec:*')}"]
      audit: { values: true }
  guarded:
    cache:
      commands: ["+@read"]
      read: ["${K('pii:*')}"]
      guards: { pii: redact, secrets: redact }
  llm-cache:
    cache:
      commands: ["+get", "+set"]
      read: ["${'[0-9a-f]'.repeat(64)}"]
      write: ["${'[0-9a-f]'.repeat(64)}"]
  operator:
    cache:
      commands: ["+@all", "+keys", "+monitor"]
      read: ["${K('op:*')}"]
      write: ["${K('op:*')}"]
`);
  address = gw.listeners.find((l) => l.name === 'cache')!.address;
  port = Number(address.split(':')[1]);
});
after(async () => {
  await gw?.close();
  await ks.cleanup(direct);
  direct?.disconnect();
});

const mint = async (role: string, label = role) => await gw.mint(role, label);
async function ioredis(role: string, extra: Record<string, unknown> = {}) {
  const t = await mint(role);
  const r = new Redis({ host: '127.0.0.1', port, username: role, password: t.token, lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null, ...extra });
  r.on('error', () => undefined);
  return Object.assign(r, { tokenId: t.id, token: t.token });
}
const errorOf = async (p: Promise<unknown>) => p.then(() => 'no error', (e: Error) => e.message);

describe('ioredis', () => {
  test('commands the grant allows pass; others get NOPERM naming the grant; the connection stays usable', async () => {
    const r = await ioredis('memory');
    await r.connect();
    assert.equal(await r.set(K('session:1'), 'hello'), 'OK');
    assert.equal(await r.get(K('session:1')), 'hello');
    assert.match(await errorOf(r.get(K('user:1'))), /^NOPERM Gatehouse: no read access to key '.*user:1' \(roles\.memory\.cache\.read: /);
    assert.match(await errorOf(r.set(K('doc:1'), 'x')), /^NOPERM Gatehouse: no write access to key/);
    assert.match(await errorOf(r.flushall()), /'flushall' is refused unless roles\.memory\.cache\.commands names it explicitly/);
    assert.equal(await r.get(K('session:1')), 'hello');
    r.disconnect();
  });

  test('a pipeline: each command judged, replies in order, a refusal in its place', async () => {
    const r = await ioredis('memory');
    await r.connect();
    const results = await r.pipeline().set(K('session:p'), '1').get(K('secret')).incr(K('session:p')).del(K('doc:x')).get(K('session:p')).exec();
    assert.deepEqual(results!.map(([err, v]) => (err ? err.message.split(':')[0] : v)), ['OK', 'NOPERM Gatehouse', 2, 'NOPERM Gatehouse', '2']);
    r.disconnect();
  });

  test('MULTI/EXEC: judged as queued; a refused command aborts the transaction (nothing runs), as Redis does', async () => {
    const r = await ioredis('memory');
    await r.connect();
    assert.deepEqual(await r.multi().set(K('session:m'), 'a').get(K('session:m')).exec(), [[null, 'OK'], [null, 'a']]);
    await direct.set(K('session:m'), 'before');
    const aborted = await errorOf(r.multi().set(K('session:m'), 'after').flushdb().exec());
    assert.match(aborted, /EXECABORT/);
    assert.equal(await direct.get(K('session:m')), 'before', 'the allowed half did not run either');
    assert.equal(await r.get(K('session:m')), 'before', 'the connection is out of MULTI and usable');
    r.disconnect();
  });

  test('pub/sub: SUBSCRIBE / PSUBSCRIBE within the grant receive messages; broader or other channels are refused', async () => {
    const sub = await ioredis('memory');
    const pub = await ioredis('memory');
    await Promise.all([sub.connect(), pub.connect()]);
    const got: string[] = [];
    sub.on('message', (channel: string, message: string) => got.push(`${channel.slice(ks.prefix.length)}=${message}`));
    sub.on('pmessage', (_p: string, channel: string, message: string) => got.push(`p:${channel.slice(ks.prefix.length)}=${message}`));
    await sub.subscribe(K('events:agent-1'));
    await sub.psubscribe(K('events:agent-?'));
    assert.match(await errorOf(sub.psubscribe(K('events:*'))), /NOPERM Gatehouse: the pattern '.*events:\*' is broader than roles\.memory\.cache\.channels/);
    assert.match(await errorOf(sub.subscribe(K('events:admin'))), /NOPERM Gatehouse: no access to channel/);
    assert.equal(await pub.publish(K('events:agent-1'), 'hi'), 2);
    assert.match(await errorOf(pub.publish(K('events:admin'), 'x')), /NOPERM/);
    for (let i = 0; i < 100 && got.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(got.sort(), ['events:agent-1=hi', 'p:events:agent-1=hi']);
    await sub.unsubscribe(K('events:agent-1'));
    await sub.punsubscribe(K('events:agent-?'));
    assert.equal(await sub.get(K('session:1')), 'hello', 'back out of subscribed mode');
    sub.disconnect();
    pub.disconnect();
  });

  test('UNSUBSCRIBE without arguments: one reply per channel held, then replies line up again', async () => {
    const t = await mint('memory', 'unsub');
    const c = await RawClient.open(address);
    c.send(resp('AUTH', t.token));
    c.send(resp('SUBSCRIBE', K('events:agent-1'), K('events:agent-2')));
    c.send(resp('PSUBSCRIBE', K('events:agent-?')));
    c.send(resp('UNSUBSCRIBE'));
    c.send(resp('PUNSUBSCRIBE'));
    c.send(resp('UNSUBSCRIBE'));
    c.send(resp('GET', K('session:1')));
    const text = await c.until((d) => d.includes('hello'));
    const counts = [...text.matchAll(/\$(\d+)\r\n(p?(?:un)?subscribe)\r\n(?:\$-1|\$\d+\r\n[^\r]*)\r\n:(\d+)/g)].map((m) => `${m[2]}:${m[3]}`);
    assert.deepEqual(counts, ['subscribe:1', 'subscribe:2', 'psubscribe:3', 'unsubscribe:2', 'unsubscribe:1', 'punsubscribe:0', 'unsubscribe:0']);
    assert.ok(text.endsWith('$5\r\nhello\r\n'));
    c.close();
  });
});

describe('other clients', () => {
  test('@redis/client with RESP2: commands, a SCAN iterator filtered to the grant', async () => {
    const t = await mint('memory', 'node-redis');
    await direct.set(K('doc:visible'), '1');
    await direct.set(K('hidden:1'), '1');
    const client = createClient({ url: `redis://node-redis:${t.token}@${address}`, RESP: 2 });
    await client.connect();
    assert.equal(await client.set(K('session:nr'), 'v'), 'OK');
    assert.equal(await client.get(K('session:nr')), 'v');
    const seen: string[] = [];
    for await (const keys of client.scanIterator({ MATCH: `${ks.prefix}*`, COUNT: 1000 })) seen.push(...keys);
    assert.ok(seen.includes(K('doc:visible')) && seen.includes(K('session:nr')));
    assert.ok(!seen.includes(K('hidden:1')), 'keys outside the grant are withheld from SCAN');
    await client.close();
  });

  test('@redis/client\'s default RESP3 handshake gets a clear refusal (HELLO 3 is not supported)', async () => {
    const t = await mint('memory', 'resp3');
    const client = createClient({ url: `redis://resp3:${t.token}@${address}`, socket: { reconnectStrategy: false } });
    client.on('error', () => undefined);
    assert.match(await errorOf(client.connect()), /NOPROTO Gatehouse speaks RESP2 only/);
  });

  test('redis-cli: a URL with label and token; a refusal printed as an error', async () => {
    const t = await mint('memory', 'cli');
    const url = `redis://cli:${t.token}@${address}`;
    const set = await run('redis-cli', ['-u', url, '--no-auth-warning', 'SET', K('session:cli'), 'from cli']);
    assert.equal(set.stdout.trim(), 'OK');
    const get = await run('redis-cli', ['-u', url, '--no-auth-warning', 'GET', K('session:cli')]);
    assert.equal(get.stdout.trim(), 'from cli');
    const refused = await run('redis-cli', ['-u', url, '--no-auth-warning', 'CONFIG', 'GET', 'dir']);
    assert.match(refused.stdout, /NOPERM Gatehouse: 'config\|get' is refused unless/);
  });

  test('LangChain: RedisChatMessageHistory and RedisCache through the gateway with only the URL changed', async () => {
    const t = await mint('memory', 'langchain');
    const url = `redis://langchain:${t.token}@${address}`;
    const history = new RedisChatMessageHistory({ sessionId: K('langchain:chat'), sessionTTL: 300, config: { url } });
    await history.addMessage(new HumanMessage('What is Gatehouse?'));
    await history.addMessage(new AIMessage('An access gateway for agents.'));
    const messages = await history.getMessages();
    assert.deepEqual(messages.map((m) => m.content), ['What is Gatehouse?', 'An access gateway for agents.']);
    await history.clear();
    assert.equal(await direct.exists(K('langchain:chat')), 0);
    await history.client.quit();
    // The cache's keys are SHA-256 hex digests of prompt and model: its grant names exactly that shape of key.
    const v4 = createV4Client({ url: `redis://cache:${(await mint('llm-cache', 'cache')).token}@${address}` });
    await v4.connect();
    const cache = new RedisCache(v4 as never);
    const prompt = `What is ${ks.prefix}?`;
    await cache.update(prompt, 'llm', [{ text: 'cached answer' }]);
    assert.deepEqual((await cache.lookup(prompt, 'llm'))?.map((g) => g.text), ['cached answer']);
    assert.match(await errorOf(v4.set(K('other'), 'x')), /NOPERM/, 'and nothing else');
    await v4.quit();
    await direct.del((cache as unknown as { keyEncoder: (...parts: string[]) => string }).keyEncoder(prompt, 'llm', '0'));
    const sessions = (await auditRecords(gw)).filter((r) => r.kind === 'session.open' && (r.data.label === 'langchain' || r.data.label === 'cache'));
    assert.equal(sessions.length, 2);
  });
});

describe('the connection commands answered by the gateway', () => {
  test('AUTH <token> alone, HELLO 2 AUTH, SELECT of its own database; NOAUTH before, WRONGPASS for a bad token', async () => {
    const t = await mint('memory', 'raw');
    const c = await RawClient.open(address);
    c.send(resp('GET', K('session:1')));
    c.send(resp('AUTH', 'gth_' + 'A'.repeat(43)));
    c.send(resp('AUTH', t.token));
    c.send(resp('SELECT', '0'));
    c.send(resp('SELECT', '1'));
    c.send(resp('HELLO', '2', 'AUTH', 'raw', t.token, 'SETNAME', 'raw-client'));
    const text = await c.until((d) => d.includes('modules'));
    const lines = text.split('\r\n');
    assert.equal(lines[0], '-NOAUTH Authentication required.');
    assert.match(lines[1], /^-WRONGPASS Gatehouse: the token is not a valid Gatehouse token/);
    assert.deepEqual(lines.slice(2, 4), ['+OK', '+OK']);
    assert.match(lines[4], /^-NOPERM Gatehouse: SELECT of another database is refused unless/);
    assert.ok(text.includes('$5\r\nproto\r\n:2\r\n') && text.includes('$7\r\nversion\r\n'), 'HELLO answers in RESP2');
    c.close();
    const named = await until(async () => (await direct.client('LIST') as string).split('\n').find((l) => l.includes('name=raw-client')));
    assert.ok(named, 'SETNAME reached the upstream');
  });

  test('RESET ends MULTI and subscriptions on a fresh upstream connection; QUIT says OK and closes', async () => {
    const t = await mint('memory', 'reset');
    const c = await RawClient.open(address);
    c.send(resp('AUTH', 'reset', t.token));
    c.send(resp('MULTI'));
    c.send(resp('SET', K('session:r'), 'queued'));
    c.send(resp('RESET'));
    c.send(resp('GET', K('session:r')));
    c.send(resp('QUIT'));
    const text = await c.until(() => false, 1500);
    assert.equal(text, '+OK\r\n+OK\r\n+QUEUED\r\n+RESET\r\n$-1\r\n+OK\r\n');
    assert.ok(c.closed);
  });

  test('MONITOR, named explicitly, streams; after it only QUIT and RESET are taken', async () => {
    const t = await mint('operator', 'monitor');
    const c = await RawClient.open(address);
    c.send(resp('AUTH', t.token));
    c.send(resp('MONITOR'));
    await c.until((d) => d.includes('+OK\r\n+OK\r\n'));
    await direct.get(K('op:watched'));
    const seen = await c.until((d) => d.includes('op:watched'));
    assert.match(seen, /"get" ".*op:watched"/i);
    c.send(resp('GET', K('op:1')));
    assert.match(await c.until((d) => d.includes('only QUIT and RESET')), /-ERR Gatehouse: only QUIT and RESET are accepted after MONITOR/);
    c.close();
  });
});

describe('audit, values and guards', () => {
  test('each command is recorded with its key names and access, never its values unless the grant asks', async () => {
    const plain = await ioredis('memory');
    await plain.connect();
    await plain.set(K('session:audit'), 'secret-value-1');
    const rec = await ioredis('recorder');
    await rec.connect();
    await rec.set(K('rec:1'), 'recorded-value');
    assert.match(await errorOf(plain.incr(K('session:audit'))), /not an integer/);
    const records = (await auditRecords(gw)).filter((r) => r.kind === 'request' && r.tokenId === plain.tokenId);
    const set = records.find((r) => String(r.data.summary).startsWith('SET '))!;
    assert.equal(set.verdict, 'allow');
    assert.equal(set.data.summary, `SET ${K('session:audit')}`);
    assert.deepEqual(set.data.targets, [{ kind: 'key', name: K('session:audit'), access: 'write' }]);
    assert.ok(!JSON.stringify(await auditRecords(gw)).includes('secret-value-1'), 'no value anywhere in the audit');
    const recorded = (await auditRecords(gw)).find((r) => r.kind === 'request' && r.tokenId === rec.tokenId && String(r.data.summary).startsWith('SET'))!;
    assert.deepEqual(recorded.data.args, ['set', K('rec:1'), 'recorded-value']);
    // A plain success says nothing the request record does not; an error reply gets a result record.
    const incr = records.find((r) => String(r.data.summary).startsWith('INCR '))!;
    const result = await until(async () => (await auditRecords(gw)).find((r) => r.kind === 'result' && r.data.request === incr.seq));
    assert.deepEqual([result.data.ok, result.data.error], [false, 'ERR value is not an integer or out of range']);
    assert.ok(!(await auditRecords(gw)).some((r) => r.kind === 'result' && r.data.request === set.seq));
    plain.disconnect();
    rec.disconnect();
  });

  test('guards redact personal data and secrets in string replies, nested ones too; the audit notes what', async () => {
    await direct.set(K('pii:1'), 'mail jane.doe@example.com, key AKIAZ7QW3ER4TY5UI6OP');
    await direct.rpush(K('pii:list'), 'call +1 415 555 0100', 'plain');
    const r = await ioredis('guarded');
    await r.connect();
    const value = (await r.get(K('pii:1')))!;
    assert.ok(!value.includes('jane.doe@example.com') && !value.includes('AKIAZ7QW3ER4TY5UI6OP'), value);
    assert.match(value, /^mail .+, key .+$/);
    const list = await r.lrange(K('pii:list'), 0, -1);
    assert.ok(!list[0].includes('555 0100'), list[0]);
    assert.equal(list[1], 'plain');
    const result = await until(async () => (await auditRecords(gw)).find((x) => x.kind === 'result' && JSON.stringify(x.data).includes('"guards"')));
    assert.ok(JSON.stringify(result.data.guards).includes('email'));
    r.disconnect();
  });

  test('SCAN with MATCH * lists only granted keys, inside MULTI too; KEYS (named) is filtered the same way', async () => {
    await direct.set(K('op:a'), '1');
    await direct.set(K('op-hidden'), '1');
    const r = await ioredis('operator');
    await r.connect();
    const all: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', '*', 'COUNT', 10000);
      all.push(...keys);
      cursor = next;
    } while (cursor !== '0');
    assert.ok(all.includes(K('op:a')));
    assert.ok(all.every((k) => k.startsWith(K('op:'))), 'nothing outside the grant');
    const [[, scanned]] = (await r.multi().scan('0', 'MATCH', '*', 'COUNT', 100000).exec()) as [[null, [string, string[]]]];
    assert.ok(scanned[1].every((k) => k.startsWith(K('op:'))));
    const keys = await r.keys(`${ks.prefix}*`);
    assert.deepEqual(keys.filter((k) => !k.startsWith(K('op:'))), []);
    assert.ok(keys.includes(K('op:a')));
    r.disconnect();
  });
});

describe('revocation and the upstream credential', () => {
  test('revoking a token cuts a client blocked in XREAD BLOCK at once', async () => {
    const r = await ioredis('memory');
    await r.connect();
    const blocked = errorOf(r.xread('BLOCK', 0, 'STREAMS', K('session:stream'), '$'));
    await until(async () => (await direct.client('LIST') as string).includes('cmd=xread'));
    const t0 = performance.now();
    await gw.services.tokens.revoke(r.tokenId);
    assert.match(await blocked, /session ended: token revoked|Connection is closed/);
    assert.ok(performance.now() - t0 < 100);
  });

  test('the upstream password lives in the gateway: agents authenticate with tokens and never see it', async () => {
    const server = await privateRedis(['--requirepass', 'upstream-secret-0123']);
    const g = await gateway(`
connections:
  guarded:
    kind: redis
    listen: 127.0.0.1:0
    upstream: redis://:upstream-secret-0123@127.0.0.1:${server.port}/2
roles:
  agent:
    guarded:
      commands: ["+@all"]
      read: ["*"]
      write: ["*"]
`);
    try {
      const t = await g.mint('agent');
      const a = g.listeners[0].address;
      const c = await RawClient.open(a);
      c.send(resp('AUTH', t.token));
      for (const cmd of [['SET', 'k', 'v'], ['GET', 'k'], ['HELLO'], ['CLIENT', 'INFO'], ['CONFIG', 'GET', 'requirepass'], ['ACL', 'LIST'], ['INFO'], ['AUTH', 'default', 'upstream-secret-0123']]) c.send(resp(...cmd));
      c.send(resp('SELECT', '2'));
      const text = await c.until((d) => /-WRONGPASS[^\r]*\r\n\+OK\r\n$/.test(d), 2000);
      assert.ok(text.startsWith('+OK\r\n+OK\r\n$1\r\nv\r\n'), text.slice(0, 40));
      assert.ok(!text.includes('upstream-secret-0123'));
      assert.match(text, /-WRONGPASS Gatehouse/, 'the upstream password is no token');
      c.close();
      const check = new Redis({ port: server.port, password: 'upstream-secret-0123', db: 2, lazyConnect: true });
      await check.connect();
      assert.equal(await check.get('k'), 'v', 'the write landed in the configured database');
      check.disconnect();
    } finally {
      await g.close();
      await server.stop();
    }
  });
});

describe('drain', () => {
  test('a graceful stop lets an open transaction finish, ends idle connections at once, refuses new ones', async () => {
    const g = await gateway(`
connections:
  cache: { kind: redis, listen: "127.0.0.1:0", upstream: "redis://127.0.0.1:6379/0" }
roles:
  agent:
    cache: { commands: ["+@write"], write: ["${K('drain:*')}"] }
`);
    const a = g.listeners[0].address;
    const t = (await g.mint('agent')).token;
    const idle = await RawClient.open(a);
    const busy = await RawClient.open(a);
    for (const c of [idle, busy]) c.send(resp('AUTH', t));
    busy.send(Buffer.concat([resp('MULTI'), resp('SET', K('drain:1'), 'x')]));
    await busy.until((d) => d.includes('QUEUED'));
    await idle.until((d) => d.includes('+OK'));
    const stopped = g.close(3000);
    assert.ok(await idle.closedWithin(1000), 'an idle connection ends at once');
    assert.ok(!busy.closed, 'a transaction in flight may finish');
    busy.send(resp('EXEC'));
    assert.ok(await busy.closedWithin(2000));
    assert.match(busy.data, /\*1\r\n\+OK\r\n-ERR Gatehouse: the gateway is shutting down\r\n$/);
    await stopped;
    assert.equal(await direct.get(K('drain:1')), 'x');
  });
});

async function until<T>(fn: () => Promise<T | undefined | null | false>, ms = 3000): Promise<T> {
  for (const end = Date.now() + ms; ; ) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
