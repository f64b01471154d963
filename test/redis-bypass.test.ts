// The Redis bypass suite: every way found to get around a Redis grant, each beside the request it must still allow.
// It only grows: a new escape gets its row here before it is fixed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { redisGrant } from '../src/config/schema.ts';
import { splitInline } from '../src/adapters/redis/codec/inline.ts';
import type { CommandTable } from '../src/adapters/redis/commands/table.ts';
import { analyse } from '../src/adapters/redis/facts.ts';
import { compileRedisGrant } from '../src/adapters/redis/grant.ts';
import { decideRedis } from '../src/adapters/redis/policy.ts';
import { learnServer, parseRedisUrl } from '../src/adapters/redis/upstream.ts';
import { gateway } from './helpers/gateway.ts';
import { RawClient, directRedis, keyspace, resp } from './support/redis.ts';

const ks = keyspace('bypass');
const K = ks.key;

describe('policy: attack and twin, judged against the live command table', () => {
  let table: CommandTable;
  before(async () => {
    ({ table } = await learnServer(parseRedisUrl('redis://127.0.0.1:6379/0'), { maxReplyBytes: 64 << 20, maxDepth: 32 }, 5000));
  });

  const GRANTS = {
    // What an agent's memory gets: its own keys, read-only documents.
    memory: { commands: ['+@read', '+@write', '-@dangerous'], read: ['session:*', 'doc:a', 'café:*'], write: ['session:*'], channels: ['events:agent-*'], approve: ['DEL session:keep*', '@write session:vault*'] },
    readonly: { commands: ['+@read', '+@write'], read: ['stream:*', 'hll:*', 'ro:*'], write: ['out:*'] },
    everything: { commands: ['+@all'], read: ['*'], write: ['*'], channels: ['*'] },
    sorter: { commands: ['+sort', '+sort_ro'], read: ['list:*', 'weight:*'], write: ['out:*'] },
    geo: { commands: ['+@geo'], read: ['places'], write: ['near'] },
  } as const;
  const verdict = (grant: keyof typeof GRANTS, line: string | Buffer[]) => {
    const args = typeof line === 'string' ? splitInline(Buffer.from(line, 'latin1'))! : line;
    const g = compileRedisGrant(redisGrant.parse(GRANTS[grant]), table, grant, 'cache');
    const v = decideRedis(analyse(args, { connection: 'cache', table, db: 0 }), g);
    return v.kind === 'deny' ? v.rule : v.kind;
  };
  const b = (s: string) => Buffer.from(s, 'latin1');

  // [what is tried, grant, attack, expected, twin that must pass, expected]
  const ROWS: [string, keyof typeof GRANTS, string | Buffer[], string, string | Buffer[], string][] = [
    ['glob metacharacters in a key name are bytes, not a pattern', 'memory', 'GET doc:?', 'redis.key.read', 'GET doc:a', 'allow'],
    ['a key named like the grant\'s pattern is only that key', 'memory', 'GET doc:*', 'redis.key.read', 'GET session:*', 'allow'],
    ['a class in a key name is bytes', 'memory', 'GET doc:[a]', 'redis.key.read', 'GET doc:a', 'allow'],
    ['the prefix without its separator', 'memory', 'GET session', 'redis.key.read', 'GET session:', 'allow'],
    ['case is not folded', 'memory', 'GET Session:1', 'redis.key.read', 'GET session:1', 'allow'],
    ['Latin-1 bytes that print like the UTF-8 pattern', 'memory', [b('GET'), b('caf\xe9:1')], 'redis.key.read', [b('GET'), Buffer.from('café:1')], 'allow'],
    ['a read grant is not a write grant', 'memory', 'SET doc:a x', 'redis.key.write', 'GET doc:a', 'allow'],
    ['every key of MSET is judged, not the first', 'memory', 'MSET session:1 a doc:a b', 'redis.key.write', 'MSET session:1 a session:2 b', 'allow'],
    ['RENAME into a key the grant cannot write', 'memory', 'RENAME session:1 doc:a', 'redis.key.write', 'RENAME session:1 session:2', 'allow'],
    ['COPY into another key is a write', 'memory', 'COPY session:1 doc:b', 'redis.key.write', 'COPY doc:a session:2', 'allow'],
    ['SMOVE / LMOVE destinations', 'memory', 'LMOVE session:l other LEFT RIGHT', 'redis.key.write', 'LMOVE session:l session:m LEFT RIGHT', 'allow'],
    ['BITOP destination', 'memory', 'BITOP OR doc:a session:1', 'redis.key.write', 'BITOP OR session:d doc:a', 'allow'],
    ['ZUNIONSTORE source past numkeys', 'memory', 'ZUNIONSTORE session:d 2 session:a secret', 'redis.key.read', 'ZUNIONSTORE session:d 2 session:a doc:a', 'allow'],
    ['numkeys Redis would not read as a number', 'memory', 'ZUNIONSTORE session:d 02 session:a session:b', 'redis.keys', 'ZUNIONSTORE session:d 2 session:a session:b', 'allow'],
    ['a write hidden after a second STORE (Redis\'s own key spec misses it)', 'geo', 'GEORADIUS places 0 0 1 km STORE near STORE secret', 'redis.key.write', 'GEORADIUS places 0 0 1 km STORE near', 'allow'],
    ['STOREDIST after STORE', 'geo', 'GEORADIUSBYMEMBER places m 1 km STORE near STOREDIST secret', 'redis.key.write', 'GEORADIUSBYMEMBER places m 1 km STOREDIST near', 'allow'],
    ['SORT with a second STORE', 'sorter', 'SORT list:1 STORE out:1 STORE list:2', 'redis.key.write', 'SORT list:1 STORE out:1', 'allow'],
    ['GETEX looks like GET and changes the key\'s TTL', 'readonly', 'GETEX ro:1 PERSIST', 'redis.key.write', 'GET ro:1', 'allow'],
    ['PFCOUNT is @read but rewrites its cache', 'readonly', 'PFCOUNT hll:1', 'redis.key.write', 'GET hll:1', 'allow'],
    ['XREADGROUP reads a stream and moves its group', 'readonly', 'XREADGROUP GROUP g c STREAMS stream:1 >', 'redis.key.write', 'XREAD STREAMS stream:1 0', 'allow'],
    ['SET ... GET reads the old value', 'readonly', 'SET out:1 v GET', 'redis.key.read', 'SET out:1 v', 'allow'],
    ['SET ... GET hidden behind a NUL (strcasecmp stops there)', 'readonly', [b('SET'), b('out:1'), b('v'), b('GET\0x')], 'redis.key.read', 'SET out:1 v', 'allow'],
    ['BITFIELD with a SET inside', 'readonly', 'BITFIELD ro:1 GET u8 0 SET u8 0 1', 'redis.key.write', 'BITFIELD ro:1 GET u8 0', 'allow'],
    ['SORT BY reaches keys named after the elements', 'sorter', 'SORT list:1 BY secret:*', 'redis.key.read', 'SORT list:1 BY weight:*', 'allow'],
    ['SORT GET with a bare *', 'sorter', 'SORT list:1 GET *', 'redis.key.read', 'SORT list:1 GET #', 'allow'],
    ['SORT GET a hash field outside', 'sorter', 'SORT list:1 GET user:*->password', 'redis.key.read', 'SORT list:1 GET weight:*->n', 'allow'],
    ['SORT BY a pattern whose * hides after a NUL looks nothing up', 'sorter', [b('SORT'), b('list:1'), b('BY'), b('x\0*')], 'allow', 'SORT list:1 BY nosort', 'allow'],
    ['EXISTS / TYPE / TTL reveal a key outside', 'memory', 'EXISTS secret', 'redis.key.read', 'EXISTS session:1', 'allow'],
    ['WATCH outside the grant', 'memory', 'WATCH secret', 'redis.key.read', 'WATCH session:1', 'allow'],
    ['scripts can touch any key: +@all does not grant them', 'everything', 'EVAL "return redis.call(\'get\',\'x\')" 0', 'redis.command', 'GET x', 'allow'],
    ['FUNCTION / SCRIPT LOAD', 'everything', 'SCRIPT LOAD "return 1"', 'redis.command', 'PING', 'allow'],
    ['KEYS lists every name', 'everything', 'KEYS *', 'redis.command', 'SCAN 0 MATCH *', 'allow'],
    ['RANDOMKEY names a key outside the grant', 'everything', 'RANDOMKEY', 'redis.command', 'DBSIZE', 'allow'],
    ['another database by SELECT', 'everything', 'SELECT 1', 'redis.command', 'SELECT 0', 'allow'],
    ['another database by COPY ... DB', 'everything', 'COPY a b DB 1', 'redis.command', 'COPY a b REPLACE', 'allow'],
    ['another database by MOVE / SWAPDB', 'everything', 'SWAPDB 0 1', 'redis.command', 'DEL a', 'allow'],
    ['FLUSHALL / FLUSHDB', 'everything', 'FLUSHDB ASYNC', 'redis.command', 'UNLINK a', 'allow'],
    ['CONFIG SET dir (the classic RCE step)', 'everything', 'CONFIG SET dir /tmp', 'redis.command', 'TIME', 'allow'],
    ['MODULE LOAD', 'everything', 'MODULE LOAD /tmp/x.so', 'redis.command', 'TIME', 'allow'],
    ['DEBUG', 'everything', 'DEBUG SLEEP 10', 'redis.command', 'TIME', 'allow'],
    ['other clients: CLIENT KILL / LIST / UNBLOCK', 'everything', 'CLIENT UNBLOCK 7', 'redis.command', 'CLIENT GETNAME', 'allow'],
    ['CLIENT TRACKING pushes key names', 'everything', 'CLIENT TRACKING ON', 'redis.command', 'CLIENT ID', 'allow'],
    ['CLIENT REPLY OFF would desynchronise replies: nothing grants it', 'everything', 'CLIENT REPLY OFF', 'redis.never', 'CLIENT ID', 'allow'],
    ['replication streams the dataset', 'everything', 'SYNC', 'redis.never', 'PING', 'allow'],
    ['MONITOR sees every client', 'everything', 'MONITOR', 'redis.command', 'PING', 'allow'],
    ['MIGRATE moves keys to another server', 'everything', 'MIGRATE 127.0.0.1 6379 "" 0 5000 KEYS a', 'redis.command', 'DUMP a', 'allow'],
    ['SLOWLOG shows other clients\' arguments', 'everything', 'SLOWLOG GET', 'redis.command', 'LATENCY LATEST', 'allow'],
    ['PUBSUB CHANNELS lists channel names', 'everything', 'PUBSUB CHANNELS', 'redis.command', 'PUBLISH c 1', 'allow'],
    ['a command name with a NUL is no command', 'everything', [b('GET\0'), b('a')], 'redis.syntax', [b('gEt'), b('a')], 'allow'],
    ['a subcommand spelled in mixed case is still itself', 'memory', 'client KiLl ID 1', 'redis.command', 'client getname', 'allow'],
    ['PSUBSCRIBE broader than the grant', 'memory', 'PSUBSCRIBE events:*', 'redis.channel', 'PSUBSCRIBE events:agent-?', 'allow'],
    ['an escaped character in a pattern is that character', 'memory', 'PSUBSCRIBE events:agent\\-*', 'allow', 'PSUBSCRIBE events:agent[-]*', 'allow'],
    ['a class wider than the grant\'s literal', 'memory', 'PSUBSCRIBE events:agent[-_]*', 'redis.channel', 'PSUBSCRIBE events:agent-[0-9]', 'allow'],
    ['keyspace notifications name keys', 'memory', 'PSUBSCRIBE __keyspace@0__:*', 'redis.channel', 'SUBSCRIBE events:agent-1', 'allow'],
    ['PUBLISH outside the channels', 'memory', 'PUBLISH events:admin x', 'redis.channel', 'PUBLISH events:agent-1 x', 'allow'],
    ['UNLINK is not DEL, but @write holds it', 'memory', 'UNLINK session:vault1', 'hold', 'UNLINK session:keep1', 'allow'],
    ['the approve entry holds DEL on its keys only', 'memory', 'DEL session:keep1', 'hold', 'DEL session:other', 'allow'],
  ];

  for (const [what, grant, attack, expected, twin, twinExpected] of ROWS) {
    test(what, () => {
      assert.equal(verdict(grant, attack), expected, `attack: ${String(attack)}`);
      assert.equal(verdict(grant, twin), twinExpected, `twin: ${String(twin)}`);
    });
  }
});

describe('on the wire: the gateway refuses, and keeps serving everyone else', () => {
  let gw: Awaited<ReturnType<typeof gateway>>;
  let address: string;
  let direct: Redis;
  before(async () => {
    direct = await directRedis();
    gw = await gateway(`
connections:
  cache:
    kind: redis
    listen: 127.0.0.1:0
    upstream: redis://127.0.0.1:6379/0
    max_pipeline: 64
roles:
  agent:
    cache:
      commands: ["+@read", "+@write", "-@dangerous"]
      read: ["${K('*')}"]
      write: ["${K('*')}"]
      channels: ["${K('ch:*')}"]
`);
    address = gw.listeners[0].address;
  });
  after(async () => {
    await gw?.close();
    await ks.cleanup(direct);
    direct?.disconnect();
  });

  const token = async () => (await gw.mint('agent')).token;
  async function authed() {
    const c = await RawClient.open(address);
    c.send(resp('AUTH', await token()));
    await c.until((d) => d.startsWith('+OK\r\n'));
    c.data = '';
    return c;
  }
  /** Another client gets an answer promptly: the attack did not take the gateway down. */
  async function othersServed() {
    const c = await authed();
    const t0 = performance.now();
    c.send(resp('PING'));
    assert.equal(await c.until((d) => d.includes('PONG')), '+PONG\r\n');
    assert.ok(performance.now() - t0 < 500, `PING took ${(performance.now() - t0).toFixed(0)} ms`);
    c.close();
  }

  test('a bulk length of 2^31 is a protocol error, not an allocation, before and after AUTH', async () => {
    for (const c of [await RawClient.open(address), await authed()]) {
      c.send('*1\r\n$2147483648\r\n');
      assert.match(await c.until(() => false, 1000), /^-ERR Protocol error: (unauthenticated|invalid) bulk length\r\n$/);
      assert.ok(c.closed);
    }
    await othersServed();
  });

  test('nested arrays and other RESP violations are protocol errors; commands before them are answered', async () => {
    const c = await authed();
    c.send(Buffer.concat([resp('SET', K('n'), '1'), Buffer.from('*1\r\n*1\r\n$4\r\nPING\r\n')]));
    assert.equal(await c.until(() => false, 1000), "+OK\r\n-ERR Protocol error: expected '$', got '*'\r\n");
    assert.ok(c.closed);
    await othersServed();
  });

  test('before AUTH: only AUTH, HELLO and QUIT; a large multibulk is refused at once', async () => {
    const c = await RawClient.open(address);
    c.send(Buffer.concat([resp('SET', 'x', 'y'), resp('KEYS', '*')]));
    assert.equal(await c.until((d) => d.split('\r\n').length > 2), '-NOAUTH Authentication required.\r\n-NOAUTH Authentication required.\r\n');
    c.send('*11\r\n');
    assert.match(await c.until(() => false, 1000), /Protocol error: unauthenticated multibulk length/);
    assert.ok(c.closed);
  });

  test('inline commands are judged as the arguments they split into, and re-encoded before they go upstream', async () => {
    const c = await authed();
    c.send(`SET "${K('in line')}" "a\\x00b"\r\nGET "${K('in line')}"\r\nFLUSHDB\r\nGET 'other:x'\r\n`);
    const text = await c.until((d) => d.split('\r\n').length > 5);
    const lines = text.split('\r\n');
    assert.deepEqual(lines.slice(0, 3), ['+OK', '$3', 'a\0b']);
    assert.match(lines[3], /^-NOPERM Gatehouse: 'flushdb' is refused/);
    assert.match(lines[4], /^-NOPERM Gatehouse: no read access to key 'other:x'/);
    assert.equal(await direct.get(K('in line')), 'a\0b');
    c.send('GET "unterminated\r\n');
    assert.match(await c.until(() => false, 1000), /-ERR Protocol error: unbalanced quotes in request\r\n$/);
  });

  test('a key name cannot break the error reply that names it', async () => {
    const c = await authed();
    c.send(resp('GET', 'x\r\n+OK'));
    const text = await c.until((d) => d.endsWith('\r\n'));
    assert.equal(text.split('\r\n').length, 2, JSON.stringify(text));
    assert.match(text, /^-NOPERM Gatehouse: no read access to key 'x\\x0d\\x0a\+OK'/);
  });

  test('a refused command inside MULTI aborts the transaction; pub/sub inside MULTI is refused', async () => {
    const c = await authed();
    await direct.set(K('m'), 'before');
    c.send(Buffer.concat([resp('MULTI'), resp('SET', K('m'), 'after'), resp('GET', 'outside'), resp('EXEC'), resp('GET', K('m'))]));
    const text = await c.until((d) => d.includes('before'));
    assert.match(text, /^\+OK\r\n\+QUEUED\r\n-NOPERM [^\r]*\r\n-EXECABORT Transaction discarded because of previous errors\.\r\n\$6\r\nbefore\r\n$/);
    c.data = '';
    c.send(Buffer.concat([resp('MULTI'), resp('SUBSCRIBE', K('ch:1')), resp('EXEC')]));
    assert.match(await c.until((d) => d.includes('EXECABORT')), /-ERR Gatehouse: [^\r]*'subscribe' inside MULTI is not supported/);
    c.close();
  });

  test('a client that stops mid-frame holds only its own connection', async () => {
    const stalled = await authed();
    stalled.send('*3\r\n$3\r\nSET\r\n$4\r\nstal\r\n$100\r\nabc');
    await othersServed();
    const preauth = await RawClient.open(address);
    preauth.send('*2\r\n$4\r\nAUTH\r\n$50\r\ngth_');
    await othersServed();
    stalled.close();
    preauth.close();
  });

  test('a huge pipeline is read as fast as its replies are: bounded memory, others served, every reply in order', async () => {
    await direct.set(K('big'), 'x'.repeat(256 * 1024));
    const c = await authed();
    c.socket.pause(); // the attacker does not read
    const n = 2000;
    const rss = process.memoryUsage().rss;
    const one = resp('GET', K('big'));
    c.send(Buffer.concat(Array.from({ length: n }, () => one))); // 512 MB of replies if nothing pushed back
    await new Promise((r) => setTimeout(r, 500));
    await othersServed();
    const grown = (process.memoryUsage().rss - rss) / 2 ** 20;
    assert.ok(grown < 128, `the gateway grew by ${grown.toFixed(0)} MB`);
    let replies = 0;
    let pending = '';
    c.socket.removeAllListeners('data');
    const done = new Promise<void>((resolve) => c.socket.on('data', (d: Buffer) => {
      pending += d.toString('latin1');
      const frame = `$${256 * 1024}\r\n${'x'.repeat(256 * 1024)}\r\n`;
      while (pending.startsWith(frame)) { pending = pending.slice(frame.length); replies++; }
      if (replies === n) resolve();
    }));
    c.socket.resume();
    await done;
    assert.equal(pending, '');
    c.close();
  });

  test('re-AUTH with another token on a live connection is refused; the first identity stays', async () => {
    const c = await authed();
    c.send(resp('AUTH', await token()));
    assert.match(await c.until((d) => d.endsWith('\r\n')), /^-ERR Gatehouse: this connection is already authenticated with another token/);
    c.close();
  });
});
