// The MySQL codec: golden bytes, round trips, every chunking, 16 MB split packets, malformed input, and the auth arithmetic against real implementations.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import fc from 'fast-check';
import { PayloadReader, ProtocolError } from '../src/adapters/mysql/codec/bytes.ts';
import { Capability, ColumnType, MAX_PAYLOAD } from '../src/adapters/mysql/codec/constants.ts';
import * as hs from '../src/adapters/mysql/codec/handshake.ts';
import * as rs from '../src/adapters/mysql/codec/results.ts';
import * as cmd from '../src/adapters/mysql/codec/commands.ts';
import { frame, PacketReader } from '../src/adapters/mysql/codec/packets.ts';
import { flavorOf } from '../src/adapters/mysql/profile.ts';
import { nativeProofMatches, nativeScramble } from '../src/adapters/mysql/auth/native.ts';
import { decryptPassword, encryptPassword, rsaKeys, sha2Scramble } from '../src/adapters/mysql/auth/caching-sha2.ts';
import { mysqlNativeVerifier } from '../src/services/identity/mysql-native.ts';

/** Hand-written bytes: numbers are bytes, strings are their ASCII characters. */
const bytes = (...parts: (number | string)[]) => Buffer.from(parts.flatMap((p) => (typeof p === 'string' ? [...p].map((c) => c.charCodeAt(0)) : [p])));
const isProtocolError = (err: unknown) => err instanceof ProtocolError;

describe('packets: framing and reassembly', () => {
  test('golden framing: 3-byte little-endian length, sequence id, payload', () => {
    assert.deepEqual(frame(bytes(0x03, 'SELECT 1'), 0), bytes(9, 0, 0, 0, 0x03, 'SELECT 1'));
    assert.deepEqual(frame(Buffer.alloc(0), 7), bytes(0, 0, 0, 7));
    assert.deepEqual(frame(bytes(1), 256), bytes(1, 0, 0, 0, 1), 'sequence ids wrap at 256');
  });

  test('messages split at every byte boundary come out whole and in order', () => {
    const wire = Buffer.concat([frame(bytes(0x03, 'SELECT 1'), 0), frame(Buffer.alloc(0), 1), frame(Buffer.alloc(300, 7), 2)]);
    for (let cut = 0; cut <= wire.length; cut++) {
      for (let cut2 = cut; cut2 <= wire.length; cut2 += 17) {
        const reader = new PacketReader();
        const seen: string[] = [];
        for (const chunk of [wire.subarray(0, cut), wire.subarray(cut, cut2), wire.subarray(cut2)]) {
          reader.push(chunk);
          for (let p = reader.next(); p; p = reader.next()) seen.push(`${p.seq}:${p.payload.toString('hex')}`);
        }
        assert.deepEqual(seen, [`0:${bytes(0x03, 'SELECT 1').toString('hex')}`, '1:', `2:${Buffer.alloc(300, 7).toString('hex')}`]);
        assert.equal(reader.buffered, 0);
      }
    }
  });

  test('a payload of 16 MB or more travels in parts, is joined, and exactly 16 MB ends with an empty part', () => {
    for (const size of [MAX_PAYLOAD - 1, MAX_PAYLOAD, MAX_PAYLOAD + 5]) {
      const payload = Buffer.alloc(size, 0x61);
      payload[0] = 0x03;
      payload[size - 1] = 0x7a;
      const framed = frame(payload, 3);
      const parts = size < MAX_PAYLOAD ? 1 : 2;
      assert.equal(framed.length, size + parts * 4);
      const reader = new PacketReader(32 * 1024 * 1024);
      // Delivered in three uneven chunks, one of them cutting a header in two.
      reader.push(framed.subarray(0, MAX_PAYLOAD + 2));
      assert.equal(reader.next(), size < MAX_PAYLOAD - 2 ? reader.next() : undefined);
      reader.push(framed.subarray(MAX_PAYLOAD + 2, MAX_PAYLOAD + 6));
      reader.push(framed.subarray(MAX_PAYLOAD + 6));
      const packet = reader.next();
      assert.ok(packet);
      assert.equal(packet.seq, 3);
      assert.equal(packet.lastSeq, 3 + parts - 1);
      assert.ok(packet.payload.equals(payload));
      assert.ok(packet.raw.equals(framed));
    }
  });

  test('an oversized message is a protocol error before it is buffered whole', () => {
    const reader = new PacketReader(1024);
    reader.push(bytes(0x01, 0x04, 0, 0)); // announces 1025 bytes
    assert.throws(() => reader.next(), isProtocolError);
  });
});

describe('handshake: golden bytes and round trips', () => {
  const nonce = Buffer.from('abcdefghijklmnopqrst');
  const greeting: hs.ServerGreeting = {
    protocolVersion: 10, serverVersion: '5.5.5-10.11.6-MariaDB', connectionId: 7, nonce,
    capabilities: Capability.PROTOCOL_41 | Capability.SECURE_CONNECTION | Capability.PLUGIN_AUTH, charset: 45, status: 2, authPlugin: 'mysql_native_password',
  };

  test('greeting', () => {
    const caps = greeting.capabilities;
    assert.deepEqual(hs.encodeGreeting(greeting), bytes(
      10, '5.5.5-10.11.6-MariaDB', 0, 7, 0, 0, 0, 'abcdefgh', 0, caps & 0xff, (caps >> 8) & 0xff, 45, 2, 0, (caps >> 16) & 0xff, 0,
      21, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'ijklmnopqrst', 0, 'mysql_native_password', 0,
    ));
    assert.deepEqual(hs.decodeGreeting(hs.encodeGreeting(greeting)), greeting);
  });

  test('handshake response with database, plugin and attributes', () => {
    const response = {
      capabilities: Capability.PROTOCOL_41 | Capability.SECURE_CONNECTION | Capability.PLUGIN_AUTH | Capability.CONNECT_WITH_DB |
        Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA | Capability.CONNECT_ATTRS,
      maxPacket: 1 << 24, charset: 224, user: 'rag', authResponse: Buffer.alloc(20, 1), database: 'shop', authPlugin: 'mysql_native_password',
      attributes: new Map([['_client_name', 'test']]),
    };
    const encoded = hs.encodeHandshakeResponse(response);
    assert.deepEqual(encoded.subarray(32), bytes('rag', 0, 20, ...Array(20).fill(1), 'shop', 0, 'mysql_native_password', 0, 18, 12, '_client_name', 4, 'test'));
    assert.deepEqual(hs.decodeHandshakeResponse(encoded), response);
    assert.equal(hs.isSslRequest(hs.encodeSslRequest(response.capabilities, 1 << 24, 45)), true);
    assert.equal(hs.isSslRequest(encoded), false);
  });

  test('auth switch and more data', () => {
    assert.deepEqual(hs.encodeAuthSwitch('mysql_native_password', nonce), bytes(0xfe, 'mysql_native_password', 0, 'abcdefghijklmnopqrst', 0));
    assert.deepEqual(hs.decodeAuthSwitch(hs.encodeAuthSwitch('x', nonce)), { plugin: 'x', data: nonce });
    assert.deepEqual(hs.encodeAuthMoreData(bytes(4)), bytes(1, 4));
  });
});

describe('results: golden bytes and round trips', () => {
  test('OK, ERR, EOF', () => {
    assert.deepEqual(rs.encodeOk({ affectedRows: 1, lastInsertId: 300, status: 2, warnings: 1 }), bytes(0, 1, 0xfc, 0x2c, 0x01, 2, 0, 1, 0));
    assert.deepEqual(rs.decodeOk(rs.encodeOk({ affectedRows: 1, lastInsertId: 300, status: 2, warnings: 1, info: 'Rows matched: 1' })),
      { affectedRows: 1, lastInsertId: 300, status: 2, warnings: 1, info: 'Rows matched: 1' });
    assert.deepEqual(rs.encodeErr({ code: 1142, sqlState: '42000', message: 'no' }), bytes(0xff, 0x76, 0x04, '#', '42000', 'no'));
    assert.deepEqual(rs.decodeErr(rs.encodeErr({ code: 1142, sqlState: '42000', message: 'no' })), { code: 1142, sqlState: '42000', message: 'no' });
    assert.deepEqual(rs.encodeEof(2, 0), bytes(0xfe, 0, 0, 2, 0));
    assert.equal(rs.isResultEnd(rs.encodeEof(), 0), true);
    assert.equal(rs.isResultEnd(rs.encodeOk({ status: 2 }, 0xfe), Capability.DEPRECATE_EOF), true);
    assert.equal(rs.endStatus(rs.encodeEof(0x0a)), 0x0a);
    assert.equal(rs.endStatus(rs.encodeOk({ status: 0x08 }, 0xfe)), 0x08);
  });

  test('column definition', () => {
    const column: rs.ColumnDefinition = {
      schema: 'shop', table: 'c', orgTable: 'customers', name: 'mail', orgName: 'email', charset: 45, length: 1020, type: ColumnType.VAR_STRING, flags: 0, decimals: 0,
    };
    const encoded = rs.encodeColumnDefinition(column);
    assert.deepEqual(encoded, bytes(3, 'def', 4, 'shop', 1, 'c', 9, 'customers', 4, 'mail', 5, 'email', 0x0c, 45, 0, 0xfc, 0x03, 0, 0, 0xfd, 0, 0, 0, 0, 0));
    assert.deepEqual(rs.decodeColumnDefinition(encoded), column);
  });

  test('text rows with NULL', () => {
    const row = rs.encodeTextRow(['a', null, Buffer.from('bc')]);
    assert.deepEqual(row, bytes(1, 'a', 0xfb, 2, 'bc'));
    assert.deepEqual(rs.decodeTextRow(row, 3).map((c) => c?.toString() ?? null), ['a', null, 'bc']);
    assert.throws(() => rs.decodeTextRow(row, 2), isProtocolError);
    assert.throws(() => rs.decodeTextRow(row, 4), isProtocolError);
  });

  test('binary rows: fixed widths, dates, strings and the NULL bitmap', () => {
    const types = [ColumnType.LONG, ColumnType.VAR_STRING, ColumnType.DATETIME, ColumnType.LONGLONG, ColumnType.BLOB];
    const cells = [bytes(42, 0, 0, 0), Buffer.from('x@y.z'), bytes(0xe8, 0x07, 1, 2), null, Buffer.alloc(0)];
    const row = rs.encodeBinaryRow(cells, types);
    // header, bitmap (5 columns + 2 offset bits = 1 byte, bit 5 set for column 3), then the values
    assert.deepEqual(row, bytes(0, 0x20, 42, 0, 0, 0, 5, 'x@y.z', 4, 0xe8, 0x07, 1, 2, 0));
    assert.deepEqual(rs.decodeBinaryRow(row, types), cells);
    assert.deepEqual(rs.decodeBinaryRow(rs.encodeBinaryRow(['*****', null, null, null, null], types.map(() => ColumnType.VAR_STRING)), types.map(() => ColumnType.VAR_STRING)).map((c) => c?.toString() ?? null), ['*****', null, null, null, null]);
    assert.throws(() => rs.encodeBinaryRow(['x', null, null, null, null], types), TypeError);
  });

  test('prepare OK and commands', () => {
    const ok = { statementId: 9, columns: 2, params: 1, warnings: 0 };
    assert.deepEqual(cmd.decodePrepareOk(cmd.encodePrepareOk(ok)), ok);
    assert.deepEqual(cmd.decodeStmtExecute(bytes(0x17, 9, 0, 0, 0, 0, 1, 0, 0, 0)), { statementId: 9, flags: 0, iterations: 1 });
    assert.equal(cmd.commandText(cmd.encodeQuery('SELECT ü'), 'COM_QUERY'), 'SELECT ü');
    assert.throws(() => cmd.commandText(bytes(3, 'SELECT ', 0xff), 'COM_QUERY'), /not valid UTF-8/);
    assert.deepEqual(cmd.decodeFieldList(cmd.encodeFieldList('orders', '%')), { table: 'orders', wildcard: '%' });
    assert.equal(cmd.decodeSetOption(bytes(0x1b, 0, 0)), 0);
    assert.throws(() => cmd.decodeSetOption(bytes(0x1b, 2, 0)), isProtocolError);
  });
});

test('the server flavour and version executable comments are compared with', () => {
  assert.deepEqual(flavorOf('5.5.5-10.11.19-MariaDB-0+deb12u1'), { mariadb: true, version: 101119 });
  assert.deepEqual(flavorOf('11.4.2-MariaDB'), { mariadb: true, version: 110402 });
  assert.deepEqual(flavorOf('8.0.36'), { mariadb: false, version: 80036 });
});

describe('malformed input is a protocol error, never a crash', () => {
  const decoders: [string, (b: Buffer) => unknown][] = [
    ['greeting', hs.decodeGreeting], ['handshake response', hs.decodeHandshakeResponse], ['auth switch', hs.decodeAuthSwitch],
    ['OK', rs.decodeOk], ['ERR', rs.decodeErr], ['column definition', rs.decodeColumnDefinition], ['column count', rs.decodeColumnCount],
    ['text row', (b) => rs.decodeTextRow(b, 3)], ['binary row', (b) => rs.decodeBinaryRow(b, [ColumnType.LONG, ColumnType.VAR_STRING, ColumnType.DATE])],
    ['prepare OK', cmd.decodePrepareOk], ['execute', cmd.decodeStmtExecute], ['field list', cmd.decodeFieldList], ['set option', cmd.decodeSetOption],
    ['lenenc', (b) => new PayloadReader(b, 'x').lenencBytes()],
  ];
  for (const [name, decode] of decoders) {
    test(name, () => {
      fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), (array) => {
        try {
          decode(Buffer.from(array));
        } catch (err) {
          assert.ok(isProtocolError(err), `${name} threw ${String(err)}`);
        }
      }), { numRuns: 400 });
    });
  }
});

describe('auth arithmetic agrees with real implementations', () => {
  // mysql2's own auth code (its package exports hide these files, so they are loaded by path).
  const require = createRequire(import.meta.url);
  const mysql2File = (path: string) => require(join(dirname(require.resolve('mysql2')), path)) as unknown;
  const token = 'gth_' + 'A'.repeat(43);
  const nonce = Buffer.from('0123456789abcdefghij');

  test('mysql_native_password: our scramble is mysql2\'s, and the verifier is what MariaDB\'s PASSWORD() stores', () => {
    const auth41 = mysql2File('lib/auth_41.js') as { calculateToken(p: string, a: Buffer, b: Buffer): Buffer };
    assert.deepEqual(nativeScramble(token, nonce), auth41.calculateToken(token, nonce.subarray(0, 8), nonce.subarray(8)));
    const verifier = mysqlNativeVerifier(token);
    assert.equal(nativeProofMatches(nonce, nativeScramble(token, nonce), verifier), true);
    assert.equal(nativeProofMatches(nonce, nativeScramble(token + 'x', nonce), verifier), false);
    assert.equal(nativeProofMatches(Buffer.from('x'.repeat(20)), nativeScramble(token, nonce), verifier), false);
    const stored = execFileSync('mariadb', ['-h', '127.0.0.1', '-u', 'root', '-N', '-B', '-e', `SELECT PASSWORD('${token}')`]).toString().trim();
    assert.equal(stored, `*${verifier.toString('hex').toUpperCase()}`);
  });

  test('caching_sha2_password: the fast-path answer is mysql2\'s, and RSA full authentication round-trips', async () => {
    type Factory = () => (ctx: { connection: { config: { password: string } } }) => (data: Buffer) => Buffer;
    const plugin = (mysql2File('lib/auth_plugins/caching_sha2_password.js') as Factory)()({ connection: { config: { password: token } } });
    assert.deepEqual(sha2Scramble(token, nonce), plugin(nonce));
    const keys = await rsaKeys();
    assert.equal(decryptPassword(encryptPassword(token, nonce, keys.publicKeyPem), nonce, keys.privateKey), token);
    assert.equal(decryptPassword(encryptPassword(token, nonce, keys.publicKeyPem), Buffer.alloc(20), keys.privateKey), undefined);
    assert.equal(decryptPassword(Buffer.alloc(256, 1), nonce, keys.privateKey), undefined);
  });
});
