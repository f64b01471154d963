// The PostgreSQL codec: golden bytes, round trips, every chunking, malformed input, and a real PostgreSQL.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import * as be from '../src/adapters/postgres/codec/backend.ts';
import * as fe from '../src/adapters/postgres/codec/frontend.ts';
import { ProtocolError } from '../src/adapters/postgres/codec/cursor.ts';
import { Backend, Untyped } from '../src/adapters/postgres/codec/messages.ts';
import { FrameReader, type FrameReaderOptions } from '../src/adapters/postgres/codec/reader.ts';

/** Hand-written bytes: numbers are bytes, strings are their ASCII characters. */
function bytes(...parts: (number | string)[]): Buffer {
  return Buffer.from(parts.flatMap((part) => (typeof part === 'string' ? [...part].map((c) => c.charCodeAt(0)) : [part])));
}

/** The body of the single frame in `frame`, read back through a FrameReader. */
function bodyOf(frame: Buffer, source: 'frontend' | 'backend', startup = false): Buffer {
  const reader = new FrameReader({ source, startup });
  reader.push(frame);
  const frames = [...reader];
  assert.equal(frames.length, 1);
  assert.equal(reader.buffered, 0);
  return frames[0].body;
}

interface Seen {
  type: number;
  raw: string;
  body: string;
}

/** Feeds the chunks one push at a time, copying what each frame shows before the next push invalidates it. */
function decode(chunks: Buffer[], options: FrameReaderOptions): Seen[] {
  const reader = new FrameReader(options);
  const seen: Seen[] = [];
  for (const chunk of chunks) {
    reader.push(chunk);
    for (const frame of reader) seen.push({ type: frame.type, raw: frame.raw.toString('hex'), body: frame.body.toString('hex') });
  }
  assert.equal(reader.buffered, 0, 'every byte was framed');
  return seen;
}

function expected(frames: Buffer[], startupFrames = 0): Seen[] {
  return frames.map((raw, i) => {
    const header = i < startupFrames ? 4 : 5;
    return { type: i < startupFrames ? Untyped : raw[0], raw: raw.toString('hex'), body: raw.subarray(header).toString('hex') };
  });
}

const isProtocolError = (pattern: RegExp) => (err: unknown) => err instanceof ProtocolError && err.code === '08P01' && pattern.test(err.message);

describe('frontend encoders: golden bytes', () => {
  const cases: [string, Buffer, Buffer][] = [
    ['StartupMessage', fe.startupMessage({ user: 'bob', database: 'db' }), bytes(0, 0, 0, 30, 0, 3, 0, 0, 'user', 0, 'bob', 0, 'database', 0, 'db', 0, 0)],
    ['SSLRequest', fe.sslRequest(), bytes(0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f)],
    ['CancelRequest', fe.cancelRequest(1234, bytes(1, 2, 3, 4)), bytes(0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0x04, 0xd2, 1, 2, 3, 4)],
    ['Query', fe.query('SELECT 1'), bytes('Q', 0, 0, 0, 13, 'SELECT 1', 0)],
    ['Parse', fe.parse('s1', 'SELECT $1', [23]), bytes('P', 0, 0, 0, 23, 's1', 0, 'SELECT $1', 0, 0, 1, 0, 0, 0, 23)],
    [
      'Bind',
      fe.bind({ portal: 'p', statement: 's1', paramFormats: [0, 0, 1], params: ['42', null, bytes(1, 2)], resultFormats: [1] }),
      bytes('B', 0, 0, 0, 39, 'p', 0, 's1', 0, 0, 3, 0, 0, 0, 0, 0, 1, 0, 3, 0, 0, 0, 2, '42', 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2, 1, 2, 0, 1, 0, 1),
    ],
    ['Bind (all defaults)', fe.bind({ params: [] }), bytes('B', 0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0)],
    ['Describe', fe.describe('P', 'p'), bytes('D', 0, 0, 0, 7, 'P', 'p', 0)],
    ['Close', fe.close('S', 's1'), bytes('C', 0, 0, 0, 8, 'S', 's1', 0)],
    ['Execute', fe.execute('p', 0), bytes('E', 0, 0, 0, 10, 'p', 0, 0, 0, 0, 0)],
    ['Sync', fe.sync(), bytes('S', 0, 0, 0, 4)],
    ['Flush', fe.flush(), bytes('H', 0, 0, 0, 4)],
    ['Terminate', fe.terminate(), bytes('X', 0, 0, 0, 4)],
    ['PasswordMessage', fe.passwordMessage('pw'), bytes('p', 0, 0, 0, 7, 'pw', 0)],
    ['SASLInitialResponse', fe.saslInitialResponse('SCRAM-SHA-256', 'n,,n=,r=abc'), bytes('p', 0, 0, 0, 33, 'SCRAM-SHA-256', 0, 0, 0, 0, 11, 'n,,n=,r=abc')],
    ['SASLResponse', fe.saslResponse('c=biws'), bytes('p', 0, 0, 0, 10, 'c=biws')],
  ];
  for (const [name, actual, golden] of cases) test(name, () => assert.deepEqual(actual, golden));
});

describe('backend encoders: golden bytes', () => {
  const cases: [string, Buffer, Buffer][] = [
    ['AuthenticationOk', be.authenticationOk(), bytes('R', 0, 0, 0, 8, 0, 0, 0, 0)],
    ['AuthenticationCleartextPassword', be.authenticationCleartextPassword(), bytes('R', 0, 0, 0, 8, 0, 0, 0, 3)],
    ['AuthenticationSASL', be.authenticationSASL(['SCRAM-SHA-256']), bytes('R', 0, 0, 0, 23, 0, 0, 0, 10, 'SCRAM-SHA-256', 0, 0)],
    ['AuthenticationSASLContinue', be.authenticationSASLContinue('r=x'), bytes('R', 0, 0, 0, 11, 0, 0, 0, 11, 'r=x')],
    ['AuthenticationSASLFinal', be.authenticationSASLFinal('v=y'), bytes('R', 0, 0, 0, 11, 0, 0, 0, 12, 'v=y')],
    ['ParameterStatus', be.parameterStatus('client_encoding', 'UTF8'), bytes('S', 0, 0, 0, 25, 'client_encoding', 0, 'UTF8', 0)],
    ['BackendKeyData', be.backendKeyData(77, bytes(9, 9, 9, 9)), bytes('K', 0, 0, 0, 12, 0, 0, 0, 77, 9, 9, 9, 9)],
    ['ReadyForQuery I', be.readyForQuery('I'), bytes('Z', 0, 0, 0, 5, 'I')],
    ['ReadyForQuery T', be.readyForQuery('T'), bytes('Z', 0, 0, 0, 5, 'T')],
    ['ReadyForQuery E', be.readyForQuery('E'), bytes('Z', 0, 0, 0, 5, 'E')],
    [
      'ErrorResponse',
      be.errorResponse({ severity: 'ERROR', code: '42601', message: 'syntax error', position: '5' }),
      bytes('E', 0, 0, 0, 43, 'S', 'ERROR', 0, 'V', 'ERROR', 0, 'C', '42601', 0, 'M', 'syntax error', 0, 'P', '5', 0, 0),
    ],
    [
      'NoticeResponse',
      be.noticeResponse({ severity: 'NOTICE', code: '00000', message: 'hi', detail: 'd', hint: 'h' }),
      bytes('N', 0, 0, 0, 38, 'S', 'NOTICE', 0, 'V', 'NOTICE', 0, 'C', '00000', 0, 'M', 'hi', 0, 'D', 'd', 0, 'H', 'h', 0, 0),
    ],
    [
      'RowDescription',
      be.rowDescription([{ name: '?column?', typeOid: 23, typeSize: 4 }]),
      bytes('T', 0, 0, 0, 33, 0, 1, '?column?', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 23, 0, 4, 0xff, 0xff, 0xff, 0xff, 0, 0),
    ],
    [
      'DataRow',
      be.dataRow(['1', null, bytes(0xde, 0xad)]),
      bytes('D', 0, 0, 0, 21, 0, 3, 0, 0, 0, 1, '1', 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2, 0xde, 0xad),
    ],
    ['CommandComplete', be.commandComplete('SELECT 1'), bytes('C', 0, 0, 0, 13, 'SELECT 1', 0)],
    ['EmptyQueryResponse', be.emptyQueryResponse(), bytes('I', 0, 0, 0, 4)],
    ['ParseComplete', be.parseComplete(), bytes('1', 0, 0, 0, 4)],
    ['BindComplete', be.bindComplete(), bytes('2', 0, 0, 0, 4)],
    ['CloseComplete', be.closeComplete(), bytes('3', 0, 0, 0, 4)],
    ['NoData', be.noData(), bytes('n', 0, 0, 0, 4)],
    ['SSL response S', be.sslResponse('S'), bytes('S')],
    ['SSL response N', be.sslResponse('N'), bytes('N')],
  ];
  for (const [name, actual, golden] of cases) test(name, () => assert.deepEqual(actual, golden));

  test('UTF-8 is counted in bytes, not characters', () => {
    assert.deepEqual(be.commandComplete('é'), bytes('C', 0, 0, 0, 7, 0xc3, 0xa9, 0));
    assert.deepEqual(be.dataRow(['é']), bytes('D', 0, 0, 0, 12, 0, 1, 0, 0, 0, 2, 0xc3, 0xa9));
    assert.deepEqual(be.dataRow(['😀']), bytes('D', 0, 0, 0, 14, 0, 1, 0, 0, 0, 4, 0xf0, 0x9f, 0x98, 0x80));
  });

  test('encoders return a fresh copy that later encodings do not disturb', () => {
    const first = fe.query('one');
    const second = fe.query('two');
    second.fill(0);
    assert.deepEqual(first, bytes('Q', 0, 0, 0, 8, 'one', 0));
    assert.deepEqual(fe.query('two'), bytes('Q', 0, 0, 0, 8, 'two', 0));
  });

  test('a NUL inside a protocol string is refused, not silently truncating the field', () => {
    assert.throws(() => fe.query('SELECT 1\0; DROP TABLE t'), RangeError);
    assert.throws(() => be.parameterStatus('a\0b', 'c'), RangeError);
  });

  test('an error or notice whose text quotes a NUL still encodes (as U+FFFD): building an error never fails', () => {
    const encoded = be.errorResponse({ severity: 'FATAL', code: '08P01', message: "kind '\0' is neither", detail: 'a\0b' });
    assert.deepEqual(be.parseErrorResponse(encoded.subarray(5)), { severity: 'FATAL', code: '08P01', message: "kind '\uFFFD' is neither", detail: 'a\uFFFDb' });
    assert.match(be.parseNoticeResponse(be.noticeResponse({ severity: 'NOTICE', code: '01000', message: '\0' }).subarray(5)).message, /^\uFFFD$/);
  });

  test('bytes a peer sent are named in hex in error messages, never echoed raw', () => {
    assert.throws(() => fe.parseDescribe(bytes(0, 'x', 0)), isProtocolError(/kind 0x00 is neither 'S' nor 'P'/));
    assert.throws(() => fe.parseClose(bytes('Z', 'x', 0)), isProtocolError(/kind 'Z' is neither/));
    assert.throws(() => be.parseReadyForQuery(bytes(7)), isProtocolError(/transaction status 0x07/));
  });

  test('the writer grows for a large message and still encodes small ones after', () => {
    const big = Buffer.alloc(3 * 1024 * 1024, 7);
    assert.deepEqual(be.parseDataRow(bodyOf(be.dataRow([big, 'x']), 'backend')), [big, Buffer.from('x')]);
    assert.deepEqual(be.commandComplete('SELECT 1'), bytes('C', 0, 0, 0, 13, 'SELECT 1', 0));
  });
});

describe('frontend parsers round-trip', () => {
  test('StartupMessage', () => {
    const params = new Map([['user', 'agent'], ['database', 'app'], ['application_name', 'gatehouse ✓']]);
    assert.deepEqual(fe.parseStartup(bodyOf(fe.startupMessage(params), 'frontend', true)), { kind: 'startup', major: 3, minor: 0, params });
  });
  test('SSLRequest and GSSENCRequest', () => {
    assert.deepEqual(fe.parseStartup(bodyOf(fe.sslRequest(), 'frontend', true)), { kind: 'ssl' });
    assert.deepEqual(fe.parseStartup(bodyOf(bytes(0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30), 'frontend', true)), { kind: 'gssenc' });
  });
  test('CancelRequest with 4-byte and 256-byte (protocol 3.2) keys', () => {
    for (const key of [bytes(1, 2, 3, 4), Buffer.alloc(256, 0xab)]) {
      assert.deepEqual(fe.parseStartup(bodyOf(fe.cancelRequest(4242, key), 'frontend', true)), { kind: 'cancel', pid: 4242, key });
    }
  });
  test('protocol 3.2 is reported with its minor version', () => {
    const body = bodyOf(bytes(0, 0, 0, 16, 0, 3, 0, 2, 'user', 0, 'u', 0, 0), 'frontend', true);
    assert.deepEqual(fe.parseStartup(body), { kind: 'startup', major: 3, minor: 2, params: new Map([['user', 'u']]) });
  });
  test('Query', () => assert.equal(fe.parseQuery(bodyOf(fe.query("SELECT 'ß'"), 'frontend')), "SELECT 'ß'"));
  test('Parse', () => {
    const message = { name: 'stmt', text: 'SELECT $1, $2', paramTypes: [23, 4294967295] };
    assert.deepEqual(fe.parseParse(bodyOf(fe.parse(message.name, message.text, message.paramTypes), 'frontend')), message);
  });
  test('Bind', () => {
    const message = { portal: 'p1', statement: 's1', paramFormats: [0, 1] as (0 | 1)[], params: [Buffer.from('42'), null], resultFormats: [1, 0] as (0 | 1)[] };
    assert.deepEqual(fe.parseBind(bodyOf(fe.bind(message), 'frontend')), message);
  });
  test('Bind with an empty (not NULL) parameter', () => {
    assert.deepEqual(fe.parseBind(bodyOf(fe.bind({ params: [''] }), 'frontend')).params, [Buffer.alloc(0)]);
  });
  test('Describe, Close and Execute', () => {
    assert.deepEqual(fe.parseDescribe(bodyOf(fe.describe('S', 'stmt'), 'frontend')), { kind: 'S', name: 'stmt' });
    assert.deepEqual(fe.parseDescribe(bodyOf(fe.describe('P'), 'frontend')), { kind: 'P', name: '' });
    assert.deepEqual(fe.parseClose(bodyOf(fe.close('P', 'p1'), 'frontend')), { kind: 'P', name: 'p1' });
    assert.deepEqual(fe.parseExecute(bodyOf(fe.execute('p1', 50), 'frontend')), { portal: 'p1', maxRows: 50 });
  });
  test('PasswordMessage, SASLInitialResponse and SASLResponse', () => {
    assert.equal(fe.parsePassword(bodyOf(fe.passwordMessage('md5abc'), 'frontend')), 'md5abc');
    assert.deepEqual(fe.parseSASLInitialResponse(bodyOf(fe.saslInitialResponse('SCRAM-SHA-256', 'n,,n=,r=x'), 'frontend')), {
      mechanism: 'SCRAM-SHA-256',
      data: Buffer.from('n,,n=,r=x'),
    });
    const noData = bytes('p', 0, 0, 0, 22, 'SCRAM-SHA-256', 0, 0xff, 0xff, 0xff, 0xff);
    assert.deepEqual(fe.parseSASLInitialResponse(bodyOf(noData, 'frontend')), { mechanism: 'SCRAM-SHA-256', data: null });
    assert.deepEqual(fe.parseSASLResponse(bodyOf(fe.saslResponse('c=biws,r=x,p=y'), 'frontend')), Buffer.from('c=biws,r=x,p=y'));
  });
});

describe('backend parsers round-trip', () => {
  test('Authentication requests', () => {
    assert.deepEqual(be.parseAuthentication(bodyOf(be.authenticationOk(), 'backend')), { kind: 'ok' });
    assert.deepEqual(be.parseAuthentication(bodyOf(be.authenticationCleartextPassword(), 'backend')), { kind: 'cleartext' });
    const md5 = bytes('R', 0, 0, 0, 12, 0, 0, 0, 5, 1, 2, 3, 4);
    assert.deepEqual(be.parseAuthentication(bodyOf(md5, 'backend')), { kind: 'md5', salt: bytes(1, 2, 3, 4) });
    const mechanisms = ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'];
    assert.deepEqual(be.parseAuthentication(bodyOf(be.authenticationSASL(mechanisms), 'backend')), { kind: 'sasl', mechanisms });
    assert.deepEqual(be.parseAuthentication(bodyOf(be.authenticationSASLContinue('r=1,s=2,i=3'), 'backend')), { kind: 'saslContinue', data: Buffer.from('r=1,s=2,i=3') });
    assert.deepEqual(be.parseAuthentication(bodyOf(be.authenticationSASLFinal('v=sig'), 'backend')), { kind: 'saslFinal', data: Buffer.from('v=sig') });
  });
  test('RowDescription', () => {
    const fields = [
      { name: 'id', tableOid: 16384, columnAttr: 1, typeOid: 23, typeSize: 4, typeMod: -1, format: 0 as const },
      { name: 'émail', tableOid: 4294967295, columnAttr: 2, typeOid: 1043, typeSize: -1, typeMod: 259, format: 1 as const },
    ];
    assert.deepEqual(be.parseRowDescription(bodyOf(be.rowDescription(fields), 'backend')), fields);
  });
  test('DataRow, with NULL, empty and binary values', () => {
    assert.deepEqual(be.parseDataRow(bodyOf(be.dataRow(['a', null, '', bytes(0, 255)]), 'backend')), [Buffer.from('a'), null, Buffer.alloc(0), bytes(0, 255)]);
    assert.deepEqual(be.parseDataRow(bodyOf(be.dataRow([]), 'backend')), []);
  });
  test('ErrorResponse and NoticeResponse with every field', () => {
    const notice = {
      severity: 'ERROR', code: '23505', message: 'duplicate key', detail: 'Key (id)=(1) exists.', hint: 'h', position: '8',
      internalPosition: '2', internalQuery: 'q', where: 'w', schema: 'public', table: 't', column: 'c', dataType: 'd',
      constraint: 't_pkey', file: 'nbtinsert.c', line: '666', routine: '_bt_check_unique',
    };
    assert.deepEqual(be.parseErrorResponse(bodyOf(be.errorResponse(notice), 'backend')), notice);
    assert.deepEqual(be.parseNoticeResponse(bodyOf(be.noticeResponse(notice), 'backend')), notice);
  });
  test('severity comes from the never-localised V field; unknown fields are ignored', () => {
    const body = bytes('S', 'FEHLER', 0, 'V', 'ERROR', 0, 'C', '42P01', 0, 'M', 'nope', 0, 'Z', 'future', 0, 0);
    assert.deepEqual(be.parseErrorResponse(body), { severity: 'ERROR', code: '42P01', message: 'nope' });
    const vFirst = bytes('V', 'ERROR', 0, 'S', 'FEHLER', 0, 'C', '42P01', 0, 'M', 'nope', 0, 0);
    assert.equal(be.parseErrorResponse(vFirst).severity, 'ERROR');
  });
  test('CommandComplete, ReadyForQuery, ParameterStatus, BackendKeyData', () => {
    assert.equal(be.parseCommandComplete(bodyOf(be.commandComplete('INSERT 0 3'), 'backend')), 'INSERT 0 3');
    for (const status of ['I', 'T', 'E'] as const) assert.equal(be.parseReadyForQuery(bodyOf(be.readyForQuery(status), 'backend')), status);
    assert.deepEqual(be.parseParameterStatus(bodyOf(be.parameterStatus('TimeZone', 'UTC'), 'backend')), { name: 'TimeZone', value: 'UTC' });
    for (const key of [bytes(1, 2, 3, 4), Buffer.alloc(32, 5), Buffer.alloc(256, 6)]) {
      assert.deepEqual(be.parseBackendKeyData(bodyOf(be.backendKeyData(-7, key), 'backend')), { pid: -7, key });
    }
  });
});

describe('FrameReader: every chunking decodes identically', () => {
  const clientFrames = [
    fe.sslRequest(),
    fe.startupMessage({ user: 'agent', database: 'app', client_encoding: 'UTF8' }),
    fe.query('SELECT 1'),
    fe.parse('s', 'SELECT $1::int', [23]),
    fe.bind({ statement: 's', params: ['7', null] }),
    fe.describe('P'),
    fe.execute(),
    fe.sync(),
    fe.terminate(),
  ];
  const serverFrames = [
    be.authenticationOk(),
    be.parameterStatus('server_version', '15.0'),
    be.backendKeyData(42, bytes(1, 2, 3, 4)),
    be.readyForQuery('I'),
    be.rowDescription([{ name: 'n', typeOid: 23, typeSize: 4 }]),
    be.dataRow(['1', null]),
    be.commandComplete('SELECT 1'),
    be.errorResponse({ severity: 'ERROR', code: '42601', message: 'syntax error' }),
    be.readyForQuery('E'),
  ];
  const client = Buffer.concat(clientFrames);
  const server = Buffer.concat(serverFrames);
  const clientOptions: FrameReaderOptions = { source: 'frontend', startup: true };
  const clientExpected = expected(clientFrames, 2);
  const serverExpected = expected(serverFrames);

  test('in one chunk, frames are zero-copy views of it', () => {
    assert.deepEqual(decode([client], clientOptions), clientExpected);
    const reader = new FrameReader({ source: 'backend' });
    reader.push(server);
    for (const frame of reader) assert.equal(frame.raw.buffer, server.buffer, 'a view, not a copy');
  });

  test('split at every byte boundary', () => {
    for (let at = 0; at <= client.length; at++) {
      assert.deepEqual(decode([client.subarray(0, at), client.subarray(at)], clientOptions), clientExpected, `client split at ${at}`);
    }
    for (let at = 0; at <= server.length; at++) {
      assert.deepEqual(decode([server.subarray(0, at), server.subarray(at)], { source: 'backend' }), serverExpected, `server split at ${at}`);
    }
  });

  test('split at every pair of byte boundaries', () => {
    for (let i = 0; i <= server.length; i++) {
      for (let j = i; j <= server.length; j++) {
        const chunks = [server.subarray(0, i), server.subarray(i, j), server.subarray(j)];
        assert.deepEqual(decode(chunks, { source: 'backend' }), serverExpected, `server split at ${i} and ${j}`);
      }
    }
  });

  test('byte by byte', () => {
    const oneByOne = (stream: Buffer) => [...stream].map((byte) => Buffer.from([byte]));
    assert.deepEqual(decode(oneByOne(client), clientOptions), clientExpected);
    assert.deepEqual(decode(oneByOne(server), { source: 'backend' }), serverExpected);
  });

  test('a frame much larger than the internal buffer, in uneven chunks, then zero-copy again', () => {
    const big = be.dataRow([Buffer.alloc(300_000, 0x61), null, 'tail']);
    const stream = Buffer.concat([big, be.commandComplete('SELECT 1'), big]);
    const frames = expected([big, be.commandComplete('SELECT 1'), big]);
    for (const size of [1, 7, 1000, 16_384, 65_536, 299_999]) {
      const chunks: Buffer[] = [];
      for (let at = 0; at < stream.length; at += size) chunks.push(stream.subarray(at, at + size));
      assert.deepEqual(decode(chunks, { source: 'backend' }), frames, `chunks of ${size}`);
    }
    const reader = new FrameReader({ source: 'backend' });
    reader.push(big.subarray(0, 10));
    reader.push(big.subarray(10));
    assert.equal(reader.next()?.raw.length, big.length);
    const whole = be.readyForQuery('I');
    reader.push(whole);
    assert.equal(reader.next()?.raw.buffer, whole.buffer, 'borrowing resumes once nothing is left over');
  });

  test('leaving a for-of early loses no frame; next() and iteration share one position', () => {
    const reader = new FrameReader({ source: 'backend' });
    reader.push(server);
    for (const frame of reader) {
      assert.equal(frame.type, Backend.Authentication);
      break;
    }
    assert.equal(reader.next()?.type, Backend.ParameterStatus);
    assert.deepEqual([...reader].map((f) => f.raw.toString('hex')), serverExpected.slice(2).map((f) => f.raw));
  });

  test('an incomplete frame waits and is counted as buffered', () => {
    const reader = new FrameReader({ source: 'frontend', startup: true });
    const startup = fe.startupMessage({ user: 'agent' });
    reader.push(startup.subarray(0, 10));
    assert.equal(reader.next(), undefined);
    assert.equal(reader.buffered, 10);
    assert.equal(reader.mode, 'startup');
    reader.push(startup.subarray(10));
    assert.equal(reader.next()?.type, Untyped);
    assert.equal(reader.mode, 'typed');
  });

  test('SSLRequest keeps the reader in startup mode; bytes sent behind it stay visible as buffered', () => {
    const reader = new FrameReader({ source: 'frontend', startup: true });
    reader.push(Buffer.concat([fe.sslRequest(), fe.query('smuggled')]));
    assert.equal(fe.parseStartup(reader.next()!.body).kind, 'ssl');
    assert.equal(reader.mode, 'startup');
    assert.ok(reader.buffered > 0, 'the caller can see clear-text bytes sent before the TLS handshake');
  });
});

describe('malformed input raises ProtocolError (08P01)', () => {
  const read = (options: FrameReaderOptions, ...chunks: Buffer[]) => () => {
    const reader = new FrameReader(options);
    for (const chunk of chunks) {
      reader.push(chunk);
      [...reader];
    }
  };

  test('typed length 3', () => assert.throws(read({ source: 'frontend' }, bytes('Q', 0, 0, 0, 3)), isProtocolError(/invalid message length 3/)));
  test('negative length', () => assert.throws(read({ source: 'backend' }, bytes('D', 0xff, 0xff, 0xff, 0xfe)), isProtocolError(/invalid message length -2/)));
  test('huge length is refused as soon as the header arrives', () => {
    assert.throws(read({ source: 'backend' }, bytes('D', 0x7f, 0xff, 0xff, 0xff)), isProtocolError(/exceeds the limit of 1073741824/));
    assert.throws(read({ source: 'frontend' }, bytes('Q', 0x04, 0, 0, 1)), isProtocolError(/exceeds the limit of 67108864/));
    assert.throws(read({ source: 'frontend', maxLength: 100 }, bytes('Q', 0, 0, 0, 101)), isProtocolError(/exceeds the limit of 100/));
  });
  test('unknown message types for the direction', () => {
    assert.throws(read({ source: 'frontend' }, be.readyForQuery('I')), isProtocolError(/unknown frontend message type 0x5a/));
    assert.throws(read({ source: 'backend' }, fe.query('x')), isProtocolError(/unknown backend message type 0x51/));
  });
  test('startup length too small or too large', () => {
    assert.throws(read({ source: 'frontend', startup: true }, bytes(0, 0, 0, 7, 0, 3, 0)), isProtocolError(/invalid message length 7/));
    assert.throws(read({ source: 'frontend', startup: true }, bytes(0, 0, 0x27, 0x11)), isProtocolError(/exceeds the limit of 10000/));
  });
  test('unknown startup code', () => {
    assert.throws(read({ source: 'frontend', startup: true }, bytes(0, 0, 0, 8, 0, 2, 0, 0)), isProtocolError(/unsupported startup code .* \(protocol 2\.0\)/));
    assert.throws(read({ source: 'frontend', startup: true }, bytes(0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x31)), isProtocolError(/unsupported startup code 80877105/));
  });
  test('truncated startup packets', () => {
    assert.throws(() => fe.parseStartup(bytes(0, 3, 0, 0, 'user', 0, 'bob', 0)), isProtocolError(/startup packet: string is not NUL-terminated/));
    assert.throws(() => fe.parseStartup(bytes(0, 3, 0, 0, 'user', 0)), isProtocolError(/not NUL-terminated/));
    assert.throws(() => fe.parseStartup(bytes(0, 3, 0, 0, 'user', 0, 'bob', 0, 0, 'x')), isProtocolError(/trailing/));
    assert.throws(() => fe.parseStartup(bytes(0x04, 0xd2, 0x16, 0x2f, 0)), isProtocolError(/trailing/));
    assert.throws(() => fe.parseStartup(bytes(0x04, 0xd2, 0x16, 0x2e, 0, 0, 0, 1, 1, 2, 3)), isProtocolError(/cancel key of 3 bytes/));
    assert.throws(() => fe.parseStartup(Buffer.concat([bytes(0x04, 0xd2, 0x16, 0x2e, 0, 0, 0, 1), Buffer.alloc(257)])), isProtocolError(/cancel key of 257/));
  });
  test('duplicate startup parameters', () => {
    assert.throws(() => fe.parseStartup(bytes(0, 3, 0, 0, 'user', 0, 'a', 0, 'user', 0, 'b', 0, 0)), isProtocolError(/duplicate parameter "user"/));
  });
  test('frontend bodies', () => {
    assert.throws(() => fe.parseQuery(bytes('SELECT 1')), isProtocolError(/Query: string is not NUL-terminated/));
    assert.throws(() => fe.parseQuery(bytes('SELECT 1', 0, 'x')), isProtocolError(/trailing/));
    assert.throws(() => fe.parseQuery(bytes(0xc3, 0x28, 0)), isProtocolError(/invalid UTF-8/));
    assert.throws(() => fe.parseParse(bytes('s', 0, 'q', 0, 0, 2, 0, 0, 0, 23)), isProtocolError(/Parse: needs 4 more/));
    assert.throws(() => fe.parseBind(bytes(0, 0, 0, 0, 0, 1, 0, 0, 0, 5, 'ab', 0, 0)), isProtocolError(/Bind: needs 5 more/));
    assert.throws(() => fe.parseBind(bytes(0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xfe, 0, 0)), isProtocolError(/negative length -2/));
    assert.throws(() => fe.parseBind(bytes(0, 0, 0, 1, 0, 2, 0, 0, 0, 0)), isProtocolError(/format code 2/));
    assert.throws(() => fe.parseBind(bytes(0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0, 0)), isProtocolError(/2 parameter formats for 1 parameters/));
    assert.throws(() => fe.parseDescribe(bytes('X', 0)), isProtocolError(/neither 'S' nor 'P'/));
    assert.throws(() => fe.parseExecute(bytes(0, 0, 0)), isProtocolError(/Execute: needs 4 more/));
  });
  test('backend bodies', () => {
    assert.throws(() => be.parseDataRow(bytes(0, 2, 0, 0, 0, 1, 'a')), isProtocolError(/DataRow: needs 4 more/));
    assert.throws(() => be.parseReadyForQuery(bytes('X')), isProtocolError(/transaction status 'X'/));
    assert.throws(() => be.parseErrorResponse(bytes('S', 'ERROR', 0, 'M', 'm', 0, 0)), isProtocolError(/missing severity, code or message/));
    assert.throws(() => be.parseErrorResponse(bytes('S', 'ERROR', 0)), isProtocolError(/needs 1 more/));
    assert.throws(() => be.parseAuthentication(bytes(0, 0, 0, 7)), isProtocolError(/unsupported authentication method 7 \(GSS\)/));
    assert.throws(() => be.parseAuthentication(bytes(0, 0, 0, 10, 0)), isProtocolError(/no SASL mechanisms/));
    assert.throws(() => be.parseAuthentication(bytes(0, 0, 0, 0, 0)), isProtocolError(/trailing/));
    assert.throws(() => be.parseBackendKeyData(bytes(0, 0, 0, 1, 1, 2, 3)), isProtocolError(/cancel key of 3 bytes/));
    assert.throws(() => be.parseRowDescription(bytes(0, 1, 'n', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 23, 0, 4, 0, 0, 0, 0, 0, 9)), isProtocolError(/format code 9/));
  });
});

describe('against the real PostgreSQL at 127.0.0.1:5432 (trust auth)', () => {
  interface Message {
    type: number;
    body: Buffer;
  }

  /** Backend frames from a socket, copied out of the reader as they arrive. */
  function messages(socket: Socket) {
    const reader = new FrameReader({ source: 'backend' });
    const queue: Message[] = [];
    let wake: (() => void) | undefined;
    let failure: Error | undefined;
    socket.on('data', (chunk: Buffer) => {
      reader.push(chunk);
      for (const frame of reader) queue.push({ type: frame.type, body: Buffer.from(frame.body) });
      wake?.();
    });
    socket.on('close', () => {
      failure ??= new Error('PostgreSQL closed the connection');
      wake?.();
    });
    async function next(): Promise<Message> {
      for (;;) {
        const message = queue.shift();
        if (message) return message;
        if (failure) throw failure;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    }
    return {
      /** Everything up to and including the next ReadyForQuery. */
      async untilReady(): Promise<Message[]> {
        const out: Message[] = [];
        for (let message = await next(); ; message = await next()) {
          out.push(message);
          if (message.type === Backend.ReadyForQuery) return out;
        }
      },
    };
  }

  test('startup with AuthenticationOk, simple and extended queries, errors', { timeout: 10_000 }, async () => {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: 5432 });
      s.once('connect', () => resolve(s));
      s.once('error', (err) => reject(new Error(`PostgreSQL at 127.0.0.1:5432 is unreachable: ${err.message}`)));
    });
    try {
      const upstream = messages(socket);
      socket.write(fe.startupMessage({ user: 'postgres', database: 'postgres', client_encoding: 'UTF8' }));
      const startup = await upstream.untilReady();
      assert.equal(startup[0].type, Backend.Authentication);
      assert.deepEqual(be.parseAuthentication(startup[0].body), { kind: 'ok' }, 'trust auth answers AuthenticationOk directly');
      const status = new Map(startup.filter((m) => m.type === Backend.ParameterStatus).map((m) => Object.values(be.parseParameterStatus(m.body)) as [string, string]));
      assert.equal(status.get('client_encoding'), 'UTF8');
      assert.match(status.get('server_version') ?? '', /^\d+/);
      const keyData = startup.find((m) => m.type === Backend.BackendKeyData);
      assert.ok(keyData, 'BackendKeyData was sent');
      assert.equal(be.parseBackendKeyData(keyData.body).key.length, 4);
      assert.equal(be.parseReadyForQuery(startup.at(-1)!.body), 'I');

      socket.write(fe.query('SELECT 1'));
      const simple = await upstream.untilReady();
      assert.deepEqual(simple.map((m) => m.type), [Backend.RowDescription, Backend.DataRow, Backend.CommandComplete, Backend.ReadyForQuery]);
      assert.deepEqual(be.parseRowDescription(simple[0].body), [{ name: '?column?', tableOid: 0, columnAttr: 0, typeOid: 23, typeSize: 4, typeMod: -1, format: 0 }]);
      assert.deepEqual(be.parseDataRow(simple[1].body), [Buffer.from('1')]);
      assert.equal(be.parseCommandComplete(simple[2].body), 'SELECT 1');

      socket.write(Buffer.concat([
        fe.parse('', 'SELECT $1::int4 + 1 AS n, NULL::text AS nothing', [23]),
        fe.bind({ params: ['41'], resultFormats: [1, 0] }),
        fe.describe('P'),
        fe.execute(),
        fe.sync(),
      ]));
      const extended = await upstream.untilReady();
      assert.deepEqual(extended.map((m) => m.type), [
        Backend.ParseComplete, Backend.BindComplete, Backend.RowDescription, Backend.DataRow, Backend.CommandComplete, Backend.ReadyForQuery,
      ]);
      assert.deepEqual(be.parseRowDescription(extended[2].body).map((f) => [f.name, f.typeOid, f.format]), [['n', 23, 1], ['nothing', 25, 0]]);
      assert.deepEqual(be.parseDataRow(extended[3].body), [bytes(0, 0, 0, 42), null], 'binary int4 42 and SQL NULL');

      socket.write(fe.query('SELEC 1'));
      const failed = await upstream.untilReady();
      assert.equal(failed[0].type, Backend.ErrorResponse);
      const error = be.parseErrorResponse(failed[0].body);
      assert.equal(error.code, '42601');
      assert.equal(error.severity, 'ERROR');
      assert.equal(error.position, '1');
      assert.equal(be.parseReadyForQuery(failed.at(-1)!.body), 'I');

      socket.write(fe.query('BEGIN'));
      assert.equal(be.parseReadyForQuery((await upstream.untilReady()).at(-1)!.body), 'T');
      socket.write(fe.query('SELECT 1/0'));
      const aborted = await upstream.untilReady();
      assert.equal(be.parseErrorResponse(aborted[0].body).code, '22012');
      assert.equal(be.parseReadyForQuery(aborted.at(-1)!.body), 'E');
      socket.write(fe.terminate());
    } finally {
      socket.destroy();
    }
  });
});
