// The command table learned from the real upstream, the keys each command line touches (checked against Redis's own
// COMMAND GETKEYSANDFLAGS), grants compiled with precise errors, and the pure policy over it all.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import type { RedisGrant } from '../src/config/schema.ts';
import { redisGrant } from '../src/config/schema.ts';
import { splitInline } from '../src/adapters/redis/codec/inline.ts';
import { findKeys } from '../src/adapters/redis/commands/keys.ts';
import type { CommandSpec, CommandTable } from '../src/adapters/redis/commands/table.ts';
import { analyse } from '../src/adapters/redis/facts.ts';
import { compileRedisGrant, GrantError } from '../src/adapters/redis/grant.ts';
import { decideRedis } from '../src/adapters/redis/policy.ts';
import { learnServer, parseRedisUrl } from '../src/adapters/redis/upstream.ts';

let table: CommandTable;
before(async () => {
  ({ table } = await learnServer(parseRedisUrl('redis://127.0.0.1:6379/0'), { maxReplyBytes: 64 << 20, maxDepth: 32 }, 5000));
});

const line = (text: string) => splitInline(Buffer.from(text, 'latin1'))!;
const grant = (g: Partial<RedisGrant>, role = 'agent') => compileRedisGrant(redisGrant.parse(g), table, role, 'cache');
const judge = (g: ReturnType<typeof grant>, text: string) => {
  return decideRedis(analyse(line(text), { connection: 'cache', table, db: 0 }), g);
};
const verdict = (g: ReturnType<typeof grant>, text: string) => {
  const v = judge(g, text);
  return v.kind === 'deny' ? `deny ${v.rule}` : v.kind;
};

describe('the command table', () => {
  test('learned from the upstream: commands, subcommands, categories, key specs', () => {
    assert.ok([...table.all()].length > 300, 'commands and subcommands');
    const kill = table.get('client|kill')!;
    assert.ok(kill.categories.has('dangerous'));
    assert.ok(table.get('get')!.categories.has('read'));
    assert.deepEqual([...table.get('georadius')!.keySpecs.map((s) => s.begin.type)], ['index', 'keyword', 'keyword']);
    for (const c of ['read', 'write', 'keyspace', 'admin', 'dangerous', 'scripting', 'pubsub']) assert.ok(table.categories.has(c), c);
  });

  test('lookup answers what Redis would for an unknown command, subcommand or arity', () => {
    assert.deepEqual(table.lookup(line('NOSUCH a')), { error: "ERR unknown command 'nosuch'" });
    assert.deepEqual(table.lookup(line('CLIENT NOSUCH')), { error: "ERR unknown subcommand 'nosuch'. Try CLIENT HELP." });
    assert.deepEqual(table.lookup(line('GET')), { error: "ERR wrong number of arguments for 'get' command" });
    assert.equal((table.lookup(line('client kill 1.2.3.4:5')) as CommandSpec).name, 'client|kill');
  });
});

describe('keys: what the gateway finds covers what Redis finds', () => {
  let redis: Redis;
  before(async () => {
    redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true });
    await redis.connect();
  });
  after(() => redis.disconnect());

  const corpus = [
    'GET a', 'SET a b', 'SET a b GET', 'SET a b EX 10 get', 'MSET a 1 b 2 c 3', 'MGET a b c', 'DEL a b', 'GETDEL a', 'INCR a', 'LPUSH l x',
    'RENAME a b', 'COPY a b', 'COPY a b REPLACE', 'SMOVE s t m', 'LMOVE a b LEFT RIGHT', 'BLMOVE a b LEFT RIGHT 0', 'RPOPLPUSH a b',
    'BITOP AND d a b c', 'ZUNIONSTORE d 2 a b WEIGHTS 1 2', 'ZINTER 2 a b', 'ZDIFFSTORE d 2 a b', 'SINTERCARD 2 a b LIMIT 1', 'LMPOP 2 a b LEFT',
    'BZMPOP 0 2 a b MIN', 'XREAD COUNT 1 STREAMS s t 0 0', 'XREADGROUP GROUP g c STREAMS s t > >', 'XADD s * f v', 'XINFO STREAM s',
    'GEORADIUS g 0 0 1 km STORE d', 'GEORADIUS g 0 0 1 km STORE d STORE e', 'GEORADIUSBYMEMBER g m 1 km STOREDIST d', 'GEOSEARCHSTORE d g FROMLONLAT 0 0 BYRADIUS 1 km',
    'EVAL "return 1" 2 a b x', 'EVAL "return 1" 0', 'FCALL f 1 a', 'OBJECT ENCODING a', 'MEMORY USAGE a', 'BITFIELD a GET u8 0', 'BITFIELD a SET u8 0 1',
    'BITFIELD_RO a GET u8 0', 'SORT a', 'SORT a STORE d', 'SORT_RO a LIMIT 0 1', 'WATCH a b', 'PFMERGE d a b', 'LCS a b', 'EXISTS a b', 'TOUCH a b',
    'HSET h f v', 'ZADD z 1 m', 'RESTORE a 0 x', 'DUMP a', 'SUNIONSTORE d a b', 'XCLAIM s g c 0 1', 'XAUTOCLAIM s g c 0 0',
  ];

  for (const text of corpus) {
    test(text, async () => {
      const args = line(text);
      const spec = table.lookup(args) as CommandSpec;
      const ours = findKeys(spec, args);
      assert.ok(ours.ok, `found keys for ${text}`);
      const theirs = (await redis.call('COMMAND', 'GETKEYSANDFLAGS', ...args).catch(() => [])) as [string, string[]][];
      for (const [key, flags] of theirs) {
        const found = ours.keys.filter((k) => k.key.toString() === key);
        assert.ok(found.length, `${text}: Redis names key ${key}`);
        const write = flags.some((f) => ['RW', 'OW', 'RM', 'insert', 'delete', 'update'].includes(f));
        const read = flags.some((f) => f === 'RO' || f === 'access');
        if (write) assert.ok(found.some((k) => k.write), `${text}: ${key} is written`);
        if (read) assert.ok(found.some((k) => k.read), `${text}: ${key} is read`);
      }
    });
  }

  test('where Redis\'s key specs are wrong, the gateway is not: GEORADIUS writes the last STORE', async () => {
    const args = line('GEORADIUS g 0 0 1 km STORE first STORE second');
    const keys = findKeys(table.lookup(args) as CommandSpec, args);
    assert.ok(keys.ok);
    assert.deepEqual(keys.keys.filter((k) => k.write).map((k) => k.key.toString()), ['first', 'second']);
    const redisSays = (await redis.call('COMMAND', 'GETKEYS', ...args)) as string[];
    assert.ok(!redisSays.includes('second'), 'Redis itself overlooks it (the command then writes "second")');
  });

  test('SET without GET only writes; with GET (even spelled GET\\0x) it also reads', () => {
    const k = (text: string | Buffer[]) => {
      const args = typeof text === 'string' ? line(text) : text;
      const f = findKeys(table.lookup(args) as CommandSpec, args);
      return f.ok ? f.keys.map((x) => `${x.read ? 'r' : ''}${x.write ? 'w' : ''}`) : [];
    };
    assert.deepEqual(k('SET a b'), ['w']);
    assert.deepEqual(k('SET a b PX 5 Get'), ['rw']);
    assert.deepEqual(k([Buffer.from('SET'), Buffer.from('a'), Buffer.from('b'), Buffer.from('GET\0x')]), ['rw']);
    assert.deepEqual(k('BITFIELD a GET u8 0 OVERFLOW SAT'), ['r']);
    assert.deepEqual(k('BITFIELD a GET u8 0 INCRBY u8 0 1'), ['rw']);
  });

  test('SORT: STORE anywhere, BY/GET patterns as the names they reach; syntax Redis would refuse is refused', () => {
    const f = (text: string) => {
      const args = line(text);
      return findKeys(table.lookup(args) as CommandSpec, args);
    };
    const s = f('SORT l BY w_* GET # GET user:*->name LIMIT 0 5 ALPHA STORE out');
    assert.ok(s.ok);
    assert.deepEqual(s.keys.map((k) => [k.key.toString(), k.write]), [['l', false], ['out', true]]);
    assert.deepEqual(s.reached.map((r) => [r.prefix.toString(), r.suffix.toString()]), [['w_', ''], ['user:', '']]);
    const constant = f('SORT l BY nosort GET constant');
    assert.ok(constant.ok && constant.reached.length === 0, 'a pattern without * looks nothing up');
    assert.equal(f('SORT l FROB x').ok, false);
    assert.equal(f('SORT_RO l STORE out').ok, false, 'SORT_RO has no STORE');
  });
});

describe('grants', () => {
  const memory = () => grant({ commands: ['+@read', '+@write', '-@dangerous'], read: ['session:*', 'doc:*'], write: ['session:*'], channels: ['events:agent-*'], approve: ['DEL doc:*', 'DEL session:*'] });

  test('compiled with every mistake named by its key path', () => {
    assert.throws(() => grant({ commands: ['+@reed', '+fluhsall', '+get'], approve: ['DEL x:*', 'NOSUCH y'] }), (e: unknown) => {
      assert.ok(e instanceof GrantError);
      const text = e.message;
      assert.match(text, /roles\.agent\.cache\.commands\.0: unknown category "@reed"/);
      assert.match(text, /roles\.agent\.cache\.commands\.1: the upstream has no command "fluhsall"/);
      assert.match(text, /roles\.agent\.cache\.approve: approve entry "NOSUCH y": "NOSUCH" is not one of/);
      assert.match(text, /roles\.agent\.cache\.approve\.0: "DEL x:\*" can never match: the grant's commands do not allow del/);
      return true;
    });
  });

  test('keys: read and write patterns, each access judged; a refusal names the missing grant', () => {
    const g = memory();
    assert.equal(verdict(g, 'GET session:1'), 'allow');
    assert.equal(verdict(g, 'SET session:1 x'), 'allow');
    assert.equal(verdict(g, 'GET doc:1'), 'allow');
    const w = judge(g, 'SET doc:1 x');
    assert.equal(w.kind === 'deny' && w.message, "no write access to key 'doc:1' (roles.agent.cache.write: session:*)");
    const r = judge(g, 'GET user:1');
    assert.equal(r.kind === 'deny' && r.message, "no read access to key 'user:1' (roles.agent.cache.read: session:*, doc:*)");
    assert.equal(verdict(g, 'MSET session:1 a user:1 b'), 'deny redis.key.write', 'every key of a multi-key command');
    assert.equal(verdict(g, 'COPY doc:1 session:1'), 'allow');
    assert.equal(verdict(g, 'COPY session:1 doc:1'), 'deny redis.key.write');
    assert.equal(verdict(g, 'GETDEL session:1'), 'allow');
    assert.equal(verdict(grant({ commands: ['+@all'], write: ['log:*'] }), 'GETDEL log:1'), 'deny redis.key.read', 'GETDEL returns the value');
    assert.equal(verdict(grant({ commands: ['+@all'], write: ['log:*'] }), 'RPUSH log:1 x'), 'allow', 'a push only writes');
  });

  test('commands: rules in order, categories, subcommands; +@all never grants the named-only commands', () => {
    const all = grant({ commands: ['+@all'], read: ['*'], write: ['*'] });
    for (const text of ['FLUSHALL', 'FLUSHDB', 'KEYS *', 'CONFIG SET dir /tmp', 'EVAL "return 1" 0', 'CLIENT KILL ID 1', 'MONITOR', 'DEBUG SLEEP 0', 'SWAPDB 0 1', 'MOVE a 1', 'MIGRATE h 1 a 0 10', 'SHUTDOWN', 'MODULE LIST', 'CLIENT TRACKING ON', 'RANDOMKEY', 'FUNCTION LIST', 'SCRIPT FLUSH']) {
      assert.equal(verdict(all, text), 'deny redis.command', text);
    }
    assert.equal(verdict(all, 'COPY a b'), 'allow');
    assert.equal(verdict(all, 'COPY a b DB 1'), 'deny redis.command', 'COPY ... DB must be named');
    assert.equal(verdict(all, 'SELECT 0'), 'allow');
    assert.equal(verdict(all, 'SELECT 1'), 'deny redis.command', 'another database must be named');
    const named = grant({ commands: ['+@all', '+flushdb', '+client|kill', '+copy', '+config|get'], read: ['*'], write: ['*'] });
    assert.equal(verdict(named, 'FLUSHDB'), 'allow');
    assert.equal(verdict(named, 'CLIENT KILL ID 1'), 'allow');
    assert.equal(verdict(named, 'CLIENT TRACKING ON'), 'deny redis.command');
    assert.equal(verdict(named, 'COPY a b DB 1'), 'allow');
    assert.equal(verdict(named, 'CONFIG GET dir'), 'allow');
    assert.equal(verdict(named, 'CONFIG SET dir /'), 'deny redis.command');
    assert.equal(verdict(grant({ commands: ['+migrate'], read: ['*'], write: ['*'] }), 'MIGRATE h 1 a 0 10'), 'deny redis.keys', 'named, but its keys cannot all be located');
    const later = grant({ commands: ['+flushdb', '-@dangerous'] });
    assert.equal(verdict(later, 'FLUSHDB'), 'deny redis.command', 'a later rule wins');
    const g = memory();
    assert.equal(verdict(g, 'SORT session:l'), 'deny redis.command', '@dangerous taken away');
    assert.equal(verdict(g, 'PING'), 'allow', 'housekeeping needs no rule');
    assert.equal(verdict(g, 'INFO'), 'deny redis.command');
    assert.equal(verdict(grant({ commands: ['+@all', '+client'] }), 'CLIENT REPLY OFF'), 'deny redis.never', 'nothing grants CLIENT REPLY');
    assert.equal(verdict(g, 'NOSUCH x'), 'deny redis.syntax');
  });

  test('SORT BY/GET: allowed only when every name the pattern reaches is readable', () => {
    const g = grant({ commands: ['+sort', '+sort_ro'], read: ['list:*', 'w_*', 'user:*'], write: ['out:*'] });
    assert.equal(verdict(g, 'SORT list:1 BY w_* GET # GET user:*->name STORE out:1'), 'allow');
    assert.equal(verdict(g, 'SORT list:1 BY secret_*'), 'deny redis.key.read');
    assert.equal(verdict(g, 'SORT list:1 GET *'), 'deny redis.key.read', 'a bare * reaches every key');
    assert.equal(verdict(g, 'SORT list:1 GET user:*:x'), 'allow');
    assert.equal(verdict(g, 'SORT list:1 GET u*'), 'deny redis.key.read', 'u·anything is wider than user:*');
    assert.equal(verdict(g, 'SORT list:1 STORE list:2'), 'deny redis.key.write');
  });

  test('channels: SUBSCRIBE and PUBLISH by name, PSUBSCRIBE only within the grant; channels grant the pub/sub commands', () => {
    const g = memory();
    assert.equal(verdict(g, 'SUBSCRIBE events:agent-1'), 'allow');
    assert.equal(verdict(g, 'PUBLISH events:agent-1 hi'), 'allow');
    assert.equal(verdict(g, 'PUBLISH events:admin hi'), 'deny redis.channel');
    assert.equal(verdict(g, 'PSUBSCRIBE events:agent-?'), 'allow');
    assert.equal(verdict(g, 'PSUBSCRIBE events:*'), 'deny redis.channel');
    assert.equal(verdict(g, 'PSUBSCRIBE events:agent[-]*'), 'allow');
    assert.equal(verdict(g, 'PSUBSCRIBE events:agent[-_]*'), 'deny redis.channel');
    assert.equal(verdict(g, 'UNSUBSCRIBE anything'), 'allow');
    assert.equal(verdict(grant({ commands: ['-@pubsub'], channels: ['x'] }), 'PUBLISH x 1'), 'deny redis.command');
    assert.equal(verdict(grant({ commands: ['+@read'] }), 'SUBSCRIBE x'), 'deny redis.command');
  });

  test('approve: a listed command on a matching key is held; others pass', () => {
    const g = memory();
    const held = judge(g, 'DEL session:1');
    assert.equal(held.kind, 'hold');
    assert.match(held.kind === 'hold' ? held.reason : '', /approve: "DEL session:\*"/);
    assert.equal(verdict(g, 'SET session:1 x'), 'allow');
    assert.equal(verdict(g, 'DEL doc:1'), 'deny redis.key.write', 'an approval never grants what the grant does not');
  });
});

describe('the config contract', () => {
  test('a redis connection and its grant load as PRODUCT.md writes them; mistakes name their key path', async () => {
    const { parseConfig, ConfigError } = await import('../src/config/load.ts');
    const config = parseConfig(`
connections:
  cache: { kind: redis, listen: 127.0.0.1:6380, upstream: "redis://default:\${REDIS_PASSWORD}@127.0.0.1:6379/0" }
roles:
  researcher:
    cache: { commands: ["+@read", "+@write", "-@dangerous"], read: ["session:*"], write: ["session:*"] }
`, 'test', { REDIS_PASSWORD: 'pw' });
    const grant = config.roles.researcher.cache as RedisGrant;
    assert.deepEqual([grant.commands, grant.read, grant.channels, grant.audit.values], [['+@read', '+@write', '-@dangerous'], ['session:*'], [], false]);
    assert.throws(() => parseConfig(`
connections:
  cache: { kind: redis, listen: 127.0.0.1:6380, upstream: "rediss://h:1" }
roles:
  r:
    cache: { commands: ["read"], keys: ["x"] }
`, 'test'), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      const text = e.message;
      assert.match(text, /connections\.cache\.upstream: expected redis:\/\//);
      assert.match(text, /roles\.r\.cache\.commands\.0: expected \+@category/);
      assert.match(text, /roles\.r\.cache: unknown key: keys/);
      return true;
    });
  });

  test('policy explain judges one command line against the live command table', async () => {
    const { explainRedis } = await import('../src/adapters/redis/explain.ts');
    const conn = { kind: 'redis' as const, listen: '127.0.0.1:0', upstream: 'redis://127.0.0.1:6379/0', max_command_bytes: 1 << 20, max_command_args: 1000, max_reply_bytes: 1 << 26, max_pipeline: 64, connect_timeout_ms: 5000 };
    const g = redisGrant.parse({ commands: ['+@read'], read: ['doc:*'] });
    assert.equal((await explainRedis('GET doc:1', g, 'r', 'cache', conn)).kind, 'allow');
    const refused = await explainRedis('GET "user 1"', g, 'r', 'cache', conn);
    assert.equal(refused.kind === 'deny' && refused.message, "no read access to key 'user 1' (roles.r.cache.read: doc:*)");
  });
});
