// A bounded fuzzer for the PostgreSQL gateway after authentication: real frames, mutated (lengths, types, truncation,
// interleaving), sent by authenticated connections. Fixed seed, so a failure replays; the gateway must stay up, end
// every broken connection, and keep serving a real client throughout.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as fe from '../src/adapters/postgres/codec/frontend.ts';
import { Frontend } from '../src/adapters/postgres/codec/messages.ts';
import { startPgGateway, type PgGateway } from './support/pg.ts';
import { frame, rawSession } from './support/wire.ts';

const SEED = 0x6a7e_4011;
const CASES = 240;
const CONCURRENCY = 6;

let gw: PgGateway;
before(async () => { gw = await startPgGateway('gatehouse_fuzz', { tls: 'off' }); });
after(async () => { await gw?.close(); });

/** mulberry32: small, fast, and the same sequence everywhere for a seed. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return { int, pick: <T>(xs: readonly T[]) => xs[int(xs.length)], chance: (p: number) => next() < p };
}

/** Real frames a client sends, valid on their own: the material mutations start from. */
const CORPUS: Buffer[] = [
  fe.query('SELECT 1'),
  fe.query('SELECT id, title FROM documents ORDER BY id LIMIT 3'),
  fe.query('BEGIN; DECLARE c CURSOR FOR SELECT id FROM chunks; FETCH 5 FROM c; COMMIT'),
  fe.query('SELECT * FROM secrets'),
  fe.parse('s1', 'SELECT title FROM documents WHERE id = $1', [23]),
  fe.parse('', 'SELECT count(*) FROM chunks'),
  fe.parse('', 'SELECT 1; SELECT 2'),
  fe.bind({ portal: '', statement: 's1', params: ['7'] }),
  fe.bind({ portal: 'p1', statement: '', params: [] }),
  fe.bind({ portal: '', statement: '', params: [], resultFormats: [1] }),
  fe.describe('S', 's1'),
  fe.describe('P', ''),
  fe.describe('P', 'p1'),
  fe.execute('', 0),
  fe.execute('p1', 2),
  fe.close('S', 's1'),
  fe.close('P', 'p1'),
  fe.sync(),
  fe.flush(),
  frame(Frontend.CopyData, Buffer.from('1\tx\n')),
  frame(Frontend.CopyDone),
  frame(Frontend.CopyFail, 'no'),
  frame(Frontend.FunctionCall, [0, 0, 0, 1], [0, 0], [0, 0], [0, 0]),
];

const LENGTHS = [0, 1, 3, 4, 5, 0x7fffffff, -1, 0x10000, 64 * 1024 * 1024 + 1];

/** One mutated message sequence: a few corpus frames in random order, then one to four mutations of the bytes. */
function mutatedCase(r: ReturnType<typeof prng>): Buffer {
  const frames = Array.from({ length: 1 + r.int(7) }, () => Buffer.from(r.pick(CORPUS)));
  for (let m = 1 + r.int(4); m > 0; m--) {
    const f = frames[r.int(frames.length)];
    if (f.length < 5) continue; // already truncated to less than a header
    switch (r.int(7)) {
      case 0: f.writeInt32BE(r.chance(0.5) ? r.pick(LENGTHS) : f.length - 1 + r.int(3) - 1 + (r.chance(0.5) ? 0 : r.int(40) - 20), 1); break; // length
      case 1: f[0] = r.chance(0.5) ? r.int(256) : r.pick(CORPUS)[0]; break; // type
      case 2: if (f.length > 5) f[5 + r.int(f.length - 5)] = r.int(256); break; // a body byte
      case 3: if (f.length > 5) f[5 + r.int(f.length - 5)] = 0; break; // a NUL where text was
      case 4: frames.splice(r.int(frames.length + 1), 0, Buffer.from(r.pick(CORPUS))); break; // interleave another frame
      case 5: frames.splice(r.int(frames.length), 1, Buffer.concat([f.subarray(0, 5), r.pick(CORPUS).subarray(5)])); break; // splice a body under another header
      case 6: { const i = r.int(frames.length); frames[i] = frames[i].subarray(0, r.int(frames[i].length + 1)); break; } // truncate
    }
  }
  return Buffer.concat(frames);
}

test('mutated frames after authentication never take the gateway down; every connection ends; real clients keep working', { timeout: 60_000 }, async () => {
  const r = prng(SEED);
  const cases = Array.from({ length: CASES }, () => ({ bytes: mutatedCase(r), split: r.int(3) }));
  const t = await gw.token('retriever', 'fuzz');
  const witness = await gw.client(await gw.token('retriever', 'witness'));
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < cases.length) {
      const c = cases[next++];
      const s = await rawSession(gw, t);
      // Some cases arrive in pieces, as a slow network would deliver them.
      if (c.split === 0) s.socket.write(c.bytes);
      else for (let at = 0; at < c.bytes.length; at += 1 + (c.bytes.length >> c.split)) s.socket.write(c.bytes.subarray(at, at + 1 + (c.bytes.length >> c.split)));
      await new Promise((resolve) => setTimeout(resolve, 5));
      s.socket.end(); // a truncated frame would otherwise wait for bytes forever, as PostgreSQL's would
      const ended = await Promise.race([s.closed.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 5000))]);
      assert.ok(ended, `case ${next - 1} (${c.bytes.toString('hex').slice(0, 120)}): the gateway did not end the connection`);
      if (++done % 40 === 0) assert.equal((await witness.query('SELECT count(*)::int AS n FROM documents')).rows[0].n, 50, `after ${done} cases`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const fresh = await gw.client(await gw.token('retriever', 'after'));
  assert.deepEqual((await fresh.query('SELECT title FROM documents WHERE id = $1', [3])).rows, [{ title: 'doc 3' }]);
  // Every fuzzed session was closed and recorded as such: nothing leaked.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const live = await gw.gateway.services.store.listSessions({ tokenId: t.id, live: true });
  assert.equal(live.length, 0, `${live.length} fuzzed sessions were never closed`);
});
