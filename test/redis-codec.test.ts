// The RESP2 codec: golden bytes, every chunking, inline commands, bounded lengths, and arbitrary bytes only ever
// becoming a protocol error.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { splitInline } from '../src/adapters/redis/codec/inline.ts';
import { RequestReader, UNAUTHENTICATED, type Command, type RequestLimits } from '../src/adapters/redis/codec/request.ts';
import { ReplyReader, decodeReply } from '../src/adapters/redis/codec/reply.ts';
import { NIL_ARRAY, ProtocolError, encodeCommand, encodeReply, errorReply, isWord, parseInteger, printable } from '../src/adapters/redis/codec/resp.ts';

const OPEN: RequestLimits = { maxArgs: 1000, maxArgBytes: 1 << 20, maxCommandBytes: 4 << 20 };
const b = (s: string) => Buffer.from(s, 'latin1');

/** Feeds the chunks one push at a time and returns each command's arguments (and raw bytes), as text. */
function commands(chunks: Buffer[], limits = OPEN): { args: string[]; raw?: string }[] {
  const reader = new RequestReader(limits);
  const out: Command[] = [];
  for (const chunk of chunks) {
    reader.push(chunk);
    for (let c = reader.next(); c; c = reader.next()) out.push(c);
  }
  assert.equal(reader.buffered, 0, 'every byte was read');
  // Views stay valid after later pushes: read them only now.
  return out.map((c) => ({ args: c.args.map((a) => a.toString('latin1')), ...(c.raw ? { raw: c.raw.toString('latin1') } : {}) }));
}

const splitsOf = (bytes: Buffer) => Array.from({ length: bytes.length - 1 }, (_, i) => [bytes.subarray(0, i + 1), bytes.subarray(i + 1)]);
const throwsProtocol = (fn: () => unknown, pattern: RegExp) => assert.throws(fn, (e: unknown) => e instanceof ProtocolError && pattern.test(e.message));

describe('request reader', () => {
  const pipeline = b('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\nv\r\nx\r\n*1\r\n$4\r\nPING\r\nPING\r\n*2\r\n$3\r\nGET\r\n$0\r\n\r\n');
  const expected = [
    { args: ['SET', 'k', 'v\r\nx'], raw: '*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\nv\r\nx\r\n' },
    { args: ['PING'], raw: '*1\r\n$4\r\nPING\r\n' },
    { args: ['PING'] },
    { args: ['GET', ''], raw: '*2\r\n$3\r\nGET\r\n$0\r\n\r\n' },
  ];

  test('golden: arrays of bulk strings keep their exact bytes; inline commands have none (they are re-encoded)', () => {
    assert.deepEqual(commands([pipeline]), expected);
  });

  test('the same commands whatever the chunking: every single split point, and byte by byte', () => {
    for (const chunks of splitsOf(pipeline)) assert.deepEqual(commands(chunks), expected);
    assert.deepEqual(commands([...pipeline].map((x) => Buffer.from([x]))), expected);
  });

  test('a command returned earlier is not overwritten by later pushes', () => {
    const reader = new RequestReader(OPEN);
    reader.push(b('*2\r\n$3\r\nGET\r\n$3\r\nabc\r\n*2\r\n$3\r\nGET\r\n$3\r\nd'));
    const first = reader.next()!;
    assert.equal(reader.next(), undefined);
    reader.push(b('ef\r\n'));
    reader.push(Buffer.alloc(100_000, 0x41)); // forces a new store
    const second = reader.next()!;
    assert.deepEqual([first.args[1].toString(), second.args[1].toString()], ['abc', 'def']);
  });

  test('empty arrays and empty inline lines are skipped, as Redis does', () => {
    assert.deepEqual(commands([b('*0\r\n*-1\r\n\r\n \r\n*1\r\n$4\r\nPING\r\n')]), [{ args: ['PING'], raw: '*1\r\n$4\r\nPING\r\n' }]);
  });

  test('inline commands: quotes and escapes as sdssplitargs reads them; bare LF ends a line', () => {
    assert.deepEqual(commands([b('SET "a b" \'c\\\'d\' "\\x41\\n"\nGET x\r\n')]).map((c) => c.args), [['SET', 'a b', "c'd", 'A\n'], ['GET', 'x']]);
    assert.deepEqual(splitInline(b('a"b c"d'))?.map(String), undefined, 'a closing quote must be followed by a space');
    assert.deepEqual(splitInline(b('ab"c d" e'))?.map(String), ['abc d', 'e']);
    assert.equal(splitInline(b('"unterminated')), undefined);
  });

  test('malformed input: a precise protocol error, never a partial command', () => {
    const cases: [string, RegExp][] = [
      ['*1\r\n*1\r\n$4\r\nPING\r\n', /expected '\$', got '\*'/], // nested arrays
      ['*1\r\n:1\r\n', /expected '\$', got ':'/],
      ['*x\r\n', /invalid multibulk length/],
      ['*+1\r\n$4\r\nPING\r\n', /invalid multibulk length/],
      ['*01\r\n$4\r\nPING\r\n', /invalid multibulk length/],
      ['*2147483648\r\n', /invalid multibulk length/],
      ['*1\r\n$-5\r\n', /invalid bulk length/],
      ['*1\r\n$2147483648\r\n', /invalid bulk length/], // 2^31: an error, not an allocation
      ['*1\r\n$99999999999999999999999\r\n', /invalid bulk length/],
      ['*1\r\n$4\r\nPINGxx', /not terminated by CRLF/],
      ['*1\n$4\r\nPING\r\n', /invalid multibulk length/],
      ['*1\r\n$4\rxPING\r\n', /invalid bulk length/],
      ['"unbalanced\r\n', /unbalanced quotes/],
      ['GET a\0b\r\n', /NUL byte in inline request/],
      ['*1\r\n$' + '1'.repeat(30), /invalid bulk length/],
    ];
    for (const [input, pattern] of cases) {
      const reader = new RequestReader(OPEN);
      reader.push(b(input));
      throwsProtocol(() => { while (reader.next()); }, pattern);
    }
  });

  test('limits: arguments, argument size, command size; tighter before AUTH, as Redis has them', () => {
    const limits = { maxArgs: 3, maxArgBytes: 10, maxCommandBytes: 40 };
    const read = (input: Buffer | string, l: RequestLimits = limits) => {
      const r = new RequestReader(l);
      r.push(typeof input === 'string' ? b(input) : input);
      return () => { while (r.next()); };
    };
    throwsProtocol(read('*4\r\n'), /more than 3 arguments/);
    throwsProtocol(read('*1\r\n$11\r\n'), /invalid bulk length/);
    throwsProtocol(read('*3\r\n$10\r\naaaaaaaaaa\r\n$10\r\naaaaaaaaaa\r\n$10\r\n'), /command larger than 40 bytes/);
    throwsProtocol(read('*11\r\n', UNAUTHENTICATED), /unauthenticated multibulk length/);
    throwsProtocol(read('*1\r\n$16385\r\n', UNAUTHENTICATED), /unauthenticated bulk length/);
    throwsProtocol(read(Buffer.alloc(70 * 1024, 0x61)), /too big inline request/);
  });

  test('an incomplete command waits without error and keeps nothing but its own bytes', () => {
    const reader = new RequestReader(OPEN);
    reader.push(b('*2\r\n$3\r\nGET\r\n$1000\r\nabc'));
    assert.equal(reader.next(), undefined);
    assert.equal(reader.buffered, 23);
  });

  test('arbitrary bytes: commands or a ProtocolError, never another exception or a hang', () => {
    const alphabet = fc.constantFrom(...'*$\r\n:+-01239abc" \\\'x'.split('').map((c) => c.charCodeAt(0)), 0, 0xff);
    fc.assert(fc.property(fc.array(fc.oneof(alphabet, fc.integer({ min: 0, max: 255 })), { maxLength: 200 }), fc.integer({ min: 1, max: 50 }), (bytes, cut) => {
      const reader = new RequestReader({ maxArgs: 20, maxArgBytes: 64, maxCommandBytes: 512 });
      const input = Buffer.from(bytes);
      try {
        for (let i = 0; i < input.length; i += cut) {
          reader.push(input.subarray(i, i + cut));
          for (let c = reader.next(); c; c = reader.next()) assert.ok(c.args.length > 0);
        }
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
      }
    }), { numRuns: 3000 });
  });
});

describe('reply reader', () => {
  const replies = ['+OK\r\n', '-ERR no\r\n', ':-42\r\n', '$-1\r\n', '$3\r\na\r\n\r\n', '*-1\r\n', '*0\r\n', '*2\r\n*2\r\n:1\r\n$1\r\nx\r\n*0\r\n', '*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$2\r\nhi\r\n'];
  const stream = b(replies.join(''));

  test('whole replies, whatever the chunking, nested arrays included', () => {
    for (const chunks of [[stream], ...splitsOf(stream), [...stream].map((x) => Buffer.from([x]))]) {
      const reader = new ReplyReader();
      const out: string[] = [];
      for (const c of chunks) {
        reader.push(c);
        for (let r = reader.next(); r; r = reader.next()) out.push(r.toString('latin1'));
      }
      assert.deepEqual(out, replies);
    }
  });

  test('decode and re-encode are byte-identical (lines kept as Latin-1 text)', () => {
    for (const r of [...replies, '+caf\xe9\r\n']) assert.equal(encodeReply(decodeReply(b(r))).toString('latin1'), r);
    assert.deepEqual(decodeReply(b('*2\r\n$-1\r\n*-1\r\n')), [null, NIL_ARRAY]);
  });

  test('bounded: reply size and nesting depth; a bad type byte is an error', () => {
    const small = new ReplyReader({ maxReplyBytes: 64, maxDepth: 3 });
    small.push(b('$2147483648\r\n'));
    throwsProtocol(() => small.next(), /reply larger than 64 bytes/);
    const deep = new ReplyReader({ maxReplyBytes: 1024, maxDepth: 3 });
    deep.push(b('*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n'));
    throwsProtocol(() => deep.next(), /nested deeper than 3/);
    const odd = new ReplyReader();
    odd.push(b('%1\r\n'));
    throwsProtocol(() => odd.next(), /unexpected reply type byte 0x25/);
  });
});

describe('values', () => {
  test('parseInteger is Redis string2ll: strict, 64-bit', () => {
    const yes: [string, number][] = [['0', 0], ['-1', -1], ['123', 123], ['9223372036854775807', 9223372036854775807]];
    for (const [s, n] of yes) assert.equal(parseInteger(b(s)), n, s);
    for (const s of ['', '-', '-0', '+1', '01', ' 1', '1 ', '1.0', '9223372036854775808', '-9223372036854775809', '1'.repeat(21)]) assert.equal(parseInteger(b(s)), undefined, s);
    assert.equal(parseInteger(b('-9223372036854775808')), -9223372036854775808);
  });

  test('isWord is strcasecmp: ASCII case folded, stops at NUL', () => {
    assert.ok(isWord(b('STORE'), 'store'));
    assert.ok(isWord(b('StOrE\0junk'), 'store'));
    assert.ok(!isWord(b('stores'), 'store'));
    assert.ok(!isWord(b('st\xcfre'), 'store'));
  });

  test('encoders: golden bytes; an error reply cannot be split by CR/LF in its text', () => {
    assert.equal(encodeCommand(['SET', Buffer.from('k'), '']).toString(), '*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n');
    assert.equal(errorReply("NOPERM key 'a\r\n+OK'").toString(), "-NOPERM key 'a +OK'\r\n");
    assert.equal(printable(b('ok:1')), 'ok:1');
    assert.equal(printable(b('a\r\n\xff')), 'a\\x0d\\x0a\\xff');
  });
});
