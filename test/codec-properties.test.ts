// Property tests over every codec Gatehouse owns (fast-check, fixed seed so a failure replays): what is encoded decodes
// to itself; arbitrary bytes never throw anything but the codec's protocol error; a message split at any point decodes
// the same as when it arrived whole.
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { JSONRPCMessageSchema } from '@modelcontextprotocol/sdk/types.js';
import { parseStrictJson } from '../src/adapters/kit/http/strict-json.ts';
import { normaliseTarget } from '../src/adapters/kit/http/target.ts';
import { SseParser, serialize } from '../src/adapters/llm/sse.ts';
import { ProtocolError as MysqlProtocolError } from '../src/adapters/mysql/codec/bytes.ts';
import { commandText, encodeQuery } from '../src/adapters/mysql/codec/commands.ts';
import { frame as mysqlFrame, PacketReader } from '../src/adapters/mysql/codec/packets.ts';
import * as be from '../src/adapters/postgres/codec/backend.ts';
import { ProtocolError as PgProtocolError } from '../src/adapters/postgres/codec/cursor.ts';
import * as fe from '../src/adapters/postgres/codec/frontend.ts';
import { Backend, Frontend } from '../src/adapters/postgres/codec/messages.ts';
import { FrameReader, type Frame } from '../src/adapters/postgres/codec/reader.ts';
import { ReplyReader, decodeReply } from '../src/adapters/redis/codec/reply.ts';
import { RequestReader, type RequestLimits } from '../src/adapters/redis/codec/request.ts';
import { encodeCommand, encodeReply, ProtocolError as RespProtocolError, type RespValue } from '../src/adapters/redis/codec/resp.ts';

/** Fixed: CI replays the same cases; `npm run fuzz` explores with random seeds. */
const SEED = 0x23_fa11;
const RUNS = 300;
const opts = { seed: SEED, numRuns: RUNS };

/** Splits `bytes` at the given cut points (sorted, deduplicated, inside the buffer). */
function pieces(bytes: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const c of at) { out.push(bytes.subarray(from, c)); from = c; }
  out.push(bytes.subarray(from));
  return out;
}

/** Feeds chunks to a reader and collects what it yields, copying (views are valid only until the next push). */
function drain<T>(chunks: Buffer[], push: (c: Buffer) => void, next: () => T | undefined, keep: (t: T) => unknown): unknown[] {
  const out: unknown[] = [];
  for (const c of chunks) {
    push(c);
    for (let v = next(); v !== undefined; v = next()) out.push(keep(v));
  }
  return out;
}

/** Runs `fn`, and if it throws, asserts the error is the codec's own protocol error. */
function onlyProtocolErrors(fn: () => void, kind: new (...args: never[]) => Error) {
  try { fn(); } catch (err) {
    if (!(err instanceof kind)) throw new Error(`threw ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`);
  }
}

const text = fc.string({ unit: 'grapheme', maxLength: 60 }).filter((s) => !s.includes('\0'));
const name = fc.string({ unit: 'grapheme-ascii', maxLength: 12 }).filter((s) => !s.includes('\0'));

// ---- PostgreSQL ----
const pgFrontendMessage = fc.oneof(
  text.map((t) => ({ build: fe.query(t), check: (f: Frame) => assert.equal(fe.parseQuery(f.body), t) })),
  fc.tuple(name, text, fc.array(fc.integer({ min: 0, max: 0x7fffffff }), { maxLength: 4 })).map(([n, t, types]) => ({
    build: fe.parse(n, t, types), check: (f: Frame) => assert.deepEqual({ ...fe.parseParse(f.body) }, { ...fe.parseParse(fe.parse(n, t, types).subarray(5)) }),
  })),
  fc.tuple(name, fc.integer({ min: 0, max: 0x7fffffff })).map(([p, rows]) => ({ build: fe.execute(p, rows), check: (f: Frame) => assert.deepEqual(fe.parseExecute(f.body), { portal: p, maxRows: rows }) })),
  fc.tuple(fc.constantFrom('S' as const, 'P' as const), name).map(([k, n]) => ({ build: fe.describe(k, n), check: (f: Frame) => assert.equal(f.type, Frontend.Describe) })),
  fc.constant({ build: fe.sync(), check: (f: Frame) => assert.equal(f.type, Frontend.Sync) }),
);

test('postgres: frontend messages decode to what was encoded, whole or split at any points', () => {
  fc.assert(fc.property(fc.array(pgFrontendMessage, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 8 }), (msgs, cuts) => {
    const bytes = Buffer.concat(msgs.map((m) => m.build));
    const reader = new FrameReader({ source: 'frontend' });
    const frames: Frame[] = [];
    for (const c of pieces(bytes, cuts)) {
      reader.push(c);
      for (let f = reader.next(); f; f = reader.next()) {
        msgs[frames.length].check(f); // checked now: the view is valid until the next push
        frames.push({ type: f.type, body: Buffer.from(f.body), raw: Buffer.from(f.raw) });
      }
    }
    assert.equal(frames.length, msgs.length);
    assert.deepEqual(Buffer.concat(frames.map((f) => f.raw)), bytes);
  }), opts);
});

test('postgres: backend rows, errors and descriptions round-trip', () => {
  const cell = fc.option(fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)), { nil: null });
  fc.assert(fc.property(fc.array(cell, { maxLength: 12 }), text, name, (cells, message, code) => {
    const rows = be.dataRow(cells);
    assert.deepEqual(be.parseDataRow(rows.subarray(5)).map((c) => (c ? Buffer.from(c) : null)), cells);
    const notice = { severity: 'ERROR', code: code || '42501', message };
    const err = be.parseErrorResponse(be.errorResponse(notice).subarray(5));
    assert.equal(err.message, message);
    assert.equal(err.code, notice.code);
    assert.equal(be.parseCommandComplete(be.commandComplete(`SELECT ${cells.length}`).subarray(5)), `SELECT ${cells.length}`);
  }), opts);
});

test('postgres: arbitrary bytes throw nothing but a protocol error, in every reader mode and every parser', () => {
  const parsers = [fe.parseQuery, fe.parseParse, fe.parseBind, fe.parseDescribe, fe.parseClose, fe.parseExecute, fe.parsePassword, fe.parseSASLInitialResponse, fe.parseStartup,
    be.parseAuthentication, be.parseRowDescription, be.parseDataRow, be.parseErrorResponse, be.parseCommandComplete, be.parseReadyForQuery, be.parseParameterStatus, be.parseBackendKeyData];
  fc.assert(fc.property(fc.uint8Array({ maxLength: 120 }), fc.array(fc.nat(), { maxLength: 4 }), (array, cuts) => {
    const bytes = Buffer.from(array);
    for (const o of [{ source: 'frontend' as const, startup: true }, { source: 'frontend' as const }, { source: 'backend' as const }]) {
      const reader = new FrameReader({ ...o, maxLength: 1 << 20 });
      onlyProtocolErrors(() => drain(pieces(bytes, cuts), (c) => reader.push(c), () => reader.next(), (f) => f.type), PgProtocolError);
    }
    for (const p of parsers) onlyProtocolErrors(() => p(bytes), PgProtocolError);
  }), opts);
});

test('postgres: a typed frame with a corrupted length or type is refused as a protocol error, never waited on forever past the cap', () => {
  fc.assert(fc.property(fc.integer({ min: -0x80000000, max: 0x7fffffff }), fc.integer({ min: 0, max: 255 }), (length, type) => {
    const bytes = Buffer.alloc(5);
    bytes[0] = type;
    bytes.writeInt32BE(length, 1);
    const reader = new FrameReader({ source: 'frontend', maxLength: 1 << 20 });
    reader.push(bytes);
    let threw = false;
    try { reader.next(); } catch (err) { assert.ok(err instanceof PgProtocolError); threw = true; }
    // Anything not a legal type, or a length outside [4, cap], must be refused at once.
    const legal = Object.values(Frontend).includes(type as never);
    if (!legal || length < 4 || length > 1 << 20) assert.ok(threw, `type ${type} length ${length} was not refused`);
  }), opts);
  assert.ok(Backend.DataRow > 0);
});

// ---- MySQL ----
test('mysql: packets (and COM_QUERY text) decode to what was framed, whole or split at any points', () => {
  fc.assert(fc.property(fc.array(fc.tuple(text, fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 8 }), (msgs, cuts) => {
    const bytes = Buffer.concat(msgs.map(([t, seq]) => mysqlFrame(encodeQuery(t), seq)));
    const reader = new PacketReader(1 << 20);
    const got = drain(pieces(bytes, cuts), (c) => reader.push(c), () => reader.next(), (p) => [commandText(p.payload, 'COM_QUERY'), p.seq]);
    assert.deepEqual(got, msgs);
  }), opts);
});

test('mysql: arbitrary bytes throw nothing but a protocol error', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 120 }), fc.array(fc.nat(), { maxLength: 4 }), (array, cuts) => {
    const bytes = Buffer.from(array);
    const reader = new PacketReader(64);
    onlyProtocolErrors(() => drain(pieces(bytes, cuts), (c) => reader.push(c), () => reader.next(), (p) => commandText(Buffer.from(p.payload), 'COM_QUERY')), MysqlProtocolError);
  }), opts);
});

// ---- Redis ----
const AUTHED: RequestLimits = { maxArgs: 1024, maxArgBytes: 1 << 20, maxCommandBytes: 4 << 20 };
const arg = fc.uint8Array({ maxLength: 30 }).map((a) => Buffer.from(a));

test('redis: commands decode to their arguments, whole or split at any points', () => {
  fc.assert(fc.property(fc.array(fc.array(arg, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 5 }), fc.array(fc.nat(), { maxLength: 8 }), (commands, cuts) => {
    const bytes = Buffer.concat(commands.map((c) => encodeCommand(c)));
    const reader = new RequestReader(AUTHED);
    const got = drain(pieces(bytes, cuts), (c) => reader.push(c), () => reader.next(), (cmd) => cmd.args.map((a) => Buffer.from(a)));
    assert.deepEqual(got, commands);
  }), opts);
});

const respValue: fc.Arbitrary<RespValue> = fc.letrec<{ v: RespValue }>((tie) => ({
  v: fc.oneof({ depthSize: 'small', withCrossShrink: true },
    arg, fc.constant(null), fc.array(tie('v'), { maxLength: 4 })),
})).v;

test('redis: replies round-trip (encode, then decode whole or through the streaming reader split anywhere)', () => {
  fc.assert(fc.property(fc.array(respValue, { minLength: 1, maxLength: 4 }), fc.array(fc.nat(), { maxLength: 8 }), (values, cuts) => {
    const encoded = values.map((v) => encodeReply(v));
    for (let i = 0; i < values.length; i++) assert.deepEqual(decodeReply(encoded[i]), values[i]);
    const reader = new ReplyReader();
    const got = drain(pieces(Buffer.concat(encoded), cuts), (c) => reader.push(c), () => reader.next(), (b) => Buffer.from(b));
    assert.deepEqual(got, encoded);
  }), opts);
});

test('redis: arbitrary bytes throw nothing but a protocol error, for requests and replies', () => {
  const alphabet = fc.constantFrom(...'*$+-:_,#!=%~>\r\n0123456789-'.split('').map((c) => c.charCodeAt(0)));
  fc.assert(fc.property(fc.array(fc.oneof(alphabet, fc.integer({ min: 0, max: 255 })), { maxLength: 160 }), fc.array(fc.nat(), { maxLength: 4 }), (array, cuts) => {
    const bytes = Buffer.from(array);
    const requests = new RequestReader(AUTHED);
    onlyProtocolErrors(() => drain(pieces(bytes, cuts), (c) => requests.push(c), () => requests.next(), (c) => c.args.length), RespProtocolError);
    const replies = new ReplyReader();
    onlyProtocolErrors(() => drain(pieces(bytes, cuts), (c) => replies.push(c), () => replies.next(), (b) => b.length), RespProtocolError);
    onlyProtocolErrors(() => decodeReply(bytes), RespProtocolError);
  }), opts);
});

// ---- HTTP kit ----
test('http kit: strict JSON accepts what JSON.stringify writes (without duplicate keys) and never throws on any text', () => {
  fc.assert(fc.property(fc.jsonValue(), (value) => {
    const r = parseStrictJson(JSON.stringify(value));
    // fc.jsonValue keys may fold together (e.g. "K" and "k"): then a refusal is the right answer.
    if (r.ok) assert.deepEqual(r.value, JSON.parse(JSON.stringify(value)));
    else assert.match(r.reason, /upstream parsers read differently/);
  }), opts);
  fc.assert(fc.property(fc.string({ maxLength: 200 }), (s) => {
    const r = parseStrictJson(s);
    assert.equal(typeof r.ok, 'boolean');
  }), opts);
});

test('http kit: request targets normalise idempotently, never climb above the root, and never throw', () => {
  const segment = fc.constantFrom('a', 'b', '.', '..', '%2e', '%2E%2e', '%2F', '%5c', '', 'x%41', ';p', '%00', '~', '%25', 'é', '\\');
  fc.assert(fc.property(fc.array(segment, { maxLength: 8 }), fc.option(fc.string({ maxLength: 10 })), (segs, query) => {
    const raw = `/${segs.join('/')}${query === null ? '' : `?${query}`}`;
    const t = normaliseTarget(raw);
    if (!t.ok) return;
    assert.ok(t.path.startsWith('/'));
    assert.ok(!t.path.split('/').some((s) => s === '..' || s === '.'), `${raw} → ${t.path}`);
    const again = normaliseTarget(t.path);
    assert.ok(again.ok && again.path === t.path, `${raw} → ${t.path} → ${JSON.stringify(again)}`);
  }), opts);
  fc.assert(fc.property(fc.string({ maxLength: 80 }), (s) => { normaliseTarget(s); normaliseTarget(`/${s}`); }), opts);
});

test('llm: server-sent events decode to what was serialised, whole or split at any points', () => {
  const line = fc.string({ maxLength: 20 }).filter((s) => !/[\r\n]/.test(s));
  const event = fc.record({ event: fc.option(line.filter((s) => s.length > 0), { nil: undefined }), data: fc.array(line, { minLength: 1, maxLength: 3 }).map((l) => l.join('\n')) });
  fc.assert(fc.property(fc.array(event, { minLength: 1, maxLength: 5 }), fc.array(fc.nat(), { maxLength: 6 }), (events, cuts) => {
    const wire = events.map((e) => serialize({ ...(e.event !== undefined ? { event: e.event } : {}), data: e.data })).join('');
    const parser = new SseParser();
    const got = [];
    const at = [...new Set(cuts.map((c) => c % (wire.length + 1)))].sort((a, b) => a - b);
    let from = 0;
    for (const c of [...at, wire.length]) { got.push(...parser.push(wire.slice(from, c))); from = c; }
    got.push(...parser.end());
    assert.deepEqual(got.map((e) => ({ event: e.event, data: e.data })), events.map((e) => ({ event: e.event, data: e.data })));
  }), opts);
});

// ---- MCP JSON-RPC framing ----
const rpcId = fc.oneof(fc.integer(), fc.string({ minLength: 1, maxLength: 10 }));
const rpcMessage = fc.oneof(
  fc.record({ jsonrpc: fc.constant('2.0' as const), id: rpcId, method: fc.string({ minLength: 1, maxLength: 20 }), params: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }) }),
  fc.record({ jsonrpc: fc.constant('2.0' as const), method: fc.string({ minLength: 1, maxLength: 20 }) }),
  fc.record({ jsonrpc: fc.constant('2.0' as const), id: rpcId, result: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }) }),
  fc.record({ jsonrpc: fc.constant('2.0' as const), id: rpcId, error: fc.record({ code: fc.integer(), message: fc.string({ maxLength: 20 }) }) }),
);

test('mcp: JSON-RPC messages survive the wire (JSON text, then the schema the listener validates with); anything else is a schema error', () => {
  fc.assert(fc.property(rpcMessage, (m) => {
    const parsed = JSONRPCMessageSchema.safeParse(JSON.parse(JSON.stringify(m)));
    assert.ok(parsed.success, JSON.stringify(m));
    assert.deepEqual(JSON.parse(JSON.stringify(parsed.data)), JSON.parse(JSON.stringify(m)));
  }), opts);
  fc.assert(fc.property(fc.jsonValue({ maxDepth: 3 }), (v) => {
    // safeParse never throws: a malformed message becomes a JSON-RPC error, not a crash.
    const r = JSONRPCMessageSchema.safeParse(v);
    assert.equal(typeof r.success, 'boolean');
  }), opts);
});
