// Redis glob patterns: the gateway's matcher against Redis's own (HSCAN ... MATCH on the real server), byte for byte, and
// pattern inclusion (what PSUBSCRIBE and SORT's BY/GET are judged by) sound on every sample.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { GlobSet, compileGlob, globCovers, matchGlob, reachable } from '../src/adapters/redis/glob.ts';

const KEY = 'gh_redis:glob-oracle';
let redis: Redis;
before(async () => {
  redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true, maxRetriesPerRequest: 0 });
  await redis.connect(); // fails loudly when Redis is not there
});
after(async () => {
  await redis.del(KEY);
  redis.disconnect();
});

/** Which of `names` Redis itself says `pattern` matches (a small hash is scanned whole, its fields filtered by stringmatchlen). */
async function redisMatches(pattern: Buffer, names: Buffer[]): Promise<Set<string>> {
  await redis.del(KEY);
  await redis.hset(KEY, ...names.flatMap((n) => [n, '1']));
  const found = new Set<string>();
  let cursor = '0';
  do {
    const [next, items] = (await redis.callBuffer('HSCAN', KEY, cursor, 'MATCH', pattern, 'COUNT', 1000)) as [Buffer, Buffer[]];
    cursor = next.toString();
    for (let i = 0; i < items.length; i += 2) found.add(items[i].toString('hex'));
  } while (cursor !== '0');
  return found;
}

// Bytes that matter to the pattern grammar, ASCII and high bytes (signed chars in class ranges), and NUL.
const byte = fc.constantFrom(0x61, 0x62, 0x63, 0x2a, 0x3f, 0x5b, 0x5d, 0x5e, 0x2d, 0x5c, 0x3a, 0x00, 0x7f, 0x80, 0xe9, 0xff);
const bytes = (max: number) => fc.array(byte, { minLength: 0, maxLength: max }).map((a) => Buffer.from(a));

describe('matching, against the real server', () => {
  test('random patterns and names: the gateway matches exactly what Redis matches', async () => {
    await fc.assert(fc.asyncProperty(bytes(8), fc.uniqueArray(bytes(6), { minLength: 1, maxLength: 40, selector: (b) => b.toString('hex') }), async (pattern, names) => {
      const redisSays = await redisMatches(pattern, names);
      for (const name of names) {
        assert.equal(matchGlob(compileGlob(pattern), name), redisSays.has(name.toString('hex')), `pattern ${JSON.stringify(pattern.toString('latin1'))} name ${JSON.stringify(name.toString('latin1'))}`);
      }
    }), { numRuns: 300 });
  });

  test('the corners, spelled out', async () => {
    const cases: [string, string[]][] = [
      ['*', ['', 'a']], // exactly `*` is everything, the empty name included (SCAN does not even filter)
      ['**', ['', 'a']], // ...but `**` is a pattern like any other
      ['', ['', 'a']],
      ['a*', ['a', 'ab', '']],
      ['a[b-', ['ab', 'a-', 'ac']], // unterminated class
      ['a[\\]]', ['a]', 'a\\']],
      ['[a-\xff]', ['a', '\x00', '\x80', '\xff', 'b']], // signed chars: [-1, 97]
      ['[^]', ['a', ']']],
      ['\\', ['\\']], // a trailing backslash is itself
      ['a\\*', ['a*', 'ab']],
      ['[z-a]', ['m', 'z']], // swapped range
    ];
    for (const [p, names] of cases) {
      const pattern = Buffer.from(p, 'latin1');
      const bufs = names.map((n) => Buffer.from(n, 'latin1'));
      const redisSays = await redisMatches(pattern, bufs);
      for (const n of bufs) assert.equal(matchGlob(compileGlob(pattern), n), redisSays.has(n.toString('hex')), `${p} vs ${n.toString('latin1')}`);
    }
  });

  test('GlobSet fast paths agree with the general matcher', () => {
    fc.assert(fc.property(fc.array(bytes(6), { maxLength: 4 }), bytes(8), (patterns, name) => {
      const set = new GlobSet(patterns);
      assert.equal(set.matches(name), patterns.some((p) => matchGlob(compileGlob(p), name)));
    }), { numRuns: 5000 });
  });
});

describe('inclusion', () => {
  const g = (s: string) => compileGlob(Buffer.from(s, 'latin1'));

  test('examples: narrower patterns are covered, broader ones and escapes are not', () => {
    const yes: [string, string][] = [
      ['events:agent-*', 'events:agent-1?'], ['events:agent-*', 'events:agent-[0-9]*'], ['a*', 'a*b*'], ['*', 'x'], ['a?c', 'a[bd]c'],
      ['a\\*', 'a\\*'], ['[a-z]*', 'q*'],
    ];
    const no: [string, string][] = [
      ['events:agent-*', 'events:*'], ['events:agent-*', '*'], ['events:agent-*', 'events:agent?*'], ['a*', '*a'], ['a?c', 'a*c'],
      ['a\\*', 'a*'], ['?*', '*'], ['events:agent-*', 'events:agent[-_]*'],
    ];
    for (const [outer, inner] of yes) assert.equal(globCovers(g(outer), g(inner)), true, `${outer} ⊇ ${inner}`);
    for (const [outer, inner] of no) assert.equal(globCovers(g(outer), g(inner)), false, `${outer} ⊉ ${inner}`);
  });

  test('the names a SORT pattern reaches: prefix, any element value, suffix', () => {
    const r = reachable(Buffer.from('user:'), Buffer.from(':name'));
    assert.equal(globCovers(g('user:*'), r), true);
    assert.equal(globCovers(g('user:*:name'), r), true);
    assert.equal(globCovers(g('user:[0-9]*'), r), false, 'element values are arbitrary');
    assert.equal(globCovers(g('?*'), reachable(Buffer.alloc(0), Buffer.alloc(0))), false, 'the empty key is reachable');
    assert.equal(globCovers(g('*'), reachable(Buffer.alloc(0), Buffer.alloc(0))), true);
  });

  test('sound: whenever inclusion is claimed, every sampled name of the inner pattern matches the outer', () => {
    fc.assert(fc.property(bytes(6), bytes(6), fc.array(bytes(7), { maxLength: 60 }), (outer, inner, names) => {
      const o = compileGlob(outer);
      const i = compileGlob(inner);
      if (!globCovers(o, i)) return;
      for (const name of names) if (matchGlob(i, name)) assert.ok(matchGlob(o, name), `${outer.toString('latin1')} ⊇ ${inner.toString('latin1')} but not for ${name.toString('latin1')}`);
    }), { numRuns: 20000 });
  });

  test('complete on small cases: when inclusion is denied, a name that shows it exists', () => {
    // Every name up to length 4 over the bytes the patterns use is tried; small patterns have short witnesses.
    const alphabet = [0x61, 0x62, 0x2a, 0x5d, 0x80, 0xff];
    const all: Buffer[] = [Buffer.alloc(0)];
    for (let len = 1; len <= 4; len++) for (const prev of all.filter((n) => n.length === len - 1)) for (const c of alphabet) all.push(Buffer.concat([prev, Buffer.from([c])]));
    const small = fc.array(fc.constantFrom(0x61, 0x62, 0x2a, 0x3f, 0x80), { maxLength: 3 }).map((a) => Buffer.from(a));
    fc.assert(fc.property(small, small, (outer, inner) => {
      const o = compileGlob(outer);
      const i = compileGlob(inner);
      if (globCovers(o, i)) return;
      assert.ok(all.some((n) => matchGlob(i, n) && !matchGlob(o, n)), `no witness for ${outer.toString('latin1')} ⊉ ${inner.toString('latin1')}`);
    }), { numRuns: 3000 });
  });
});
