// A bounded socket fuzzer for any listener: records what a real client sends (through a loopback recorder), mutates
// those real frames (lengths, types, truncation, interleaving, splits) and replays them as raw connections. Shared by
// the CI test (fixed seed) and `npm run fuzz` (random seeds, for minutes).
import { connect, createServer, type Socket } from 'node:net';
import type { Driver } from '../conformance/driver.ts';

/** mulberry32: small, fast, and the same sequence everywhere for a seed. */
export function prng(seed: number) {
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
export type Prng = ReturnType<typeof prng>;

const hostPort = (address: string) => ({ host: address.slice(0, address.lastIndexOf(':')), port: Number(address.slice(address.lastIndexOf(':') + 1)) });

/**
 * Runs `use` with a recorder in front of `address` and returns every chunk the client wrote (one array per connection).
 * The chunks are real frames as the client library writes them.
 */
export async function record(address: string, use: (through: string) => Promise<void>): Promise<Buffer[][]> {
  const target = hostPort(address);
  const sessions: Buffer[][] = [];
  const server = createServer((client) => {
    const chunks: Buffer[] = [];
    sessions.push(chunks);
    const upstream = connect(target.port, target.host);
    client.on('data', (c: Buffer) => { chunks.push(Buffer.from(c)); upstream.write(c); });
    upstream.on('data', (c: Buffer) => client.write(c));
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    await use(`127.0.0.1:${(server.address() as { port: number }).port}`);
  } finally {
    server.close();
  }
  return sessions.filter((s) => s.length);
}

/** Values that break length fields: zero, off by one, sign bits, huge. */
const SPECIAL = [0, 1, 0x7f, 0x80, 0xff, 0xfe, 0x7fff, 0xffff, 0x7fffffff, 0xffffffff];

/** One case: chunks of a recorded session, mutated one to four times. */
export function mutate(r: Prng, corpus: Buffer[][]): Buffer[] {
  const chunks = r.pick(corpus).map((c) => Buffer.from(c));
  for (let m = 1 + r.int(4); m > 0 && chunks.length; m--) {
    const i = r.int(chunks.length);
    const c = chunks[i];
    switch (r.int(9)) {
      case 0: if (c.length) c[r.int(c.length)] = r.int(256); break; // a byte
      case 1: if (c.length >= 4) c.writeUInt32BE(r.pick(SPECIAL) >>> 0, r.int(c.length - 3)); break; // a 32-bit length, big-endian
      case 2: if (c.length >= 3) c.writeUIntLE(r.pick(SPECIAL) & 0xffffff, r.int(c.length - 2), 3); break; // a 24-bit length, little-endian (MySQL)
      case 3: chunks[i] = c.subarray(0, r.int(c.length + 1)); break; // truncate
      case 4: chunks.splice(r.int(chunks.length + 1), 0, Buffer.from(r.pick(r.pick(corpus)))); break; // interleave a frame from another session
      case 5: chunks.splice(i, 1); break; // drop a frame
      case 6: chunks.splice(i, 0, Buffer.from(c)); break; // repeat a frame
      case 7: { const at = r.int(c.length + 1); chunks[i] = Buffer.concat([c.subarray(0, at), Buffer.from(Array.from({ length: 1 + r.int(16) }, () => r.int(256))), c.subarray(at)]); break; } // insert noise
      case 8: { const text = c.toString('latin1').replace(/\d+/, () => String(r.pick(SPECIAL))); chunks[i] = Buffer.from(text, 'latin1'); break; } // a decimal length (RESP, HTTP)
    }
  }
  return chunks;
}

/** Sends a case on a raw connection (some chunks split byte-wise), then half-closes; resolves whether the gateway ended it. */
export async function send(address: string, chunks: Buffer[], split: boolean, endWithinMs = 10_000): Promise<boolean> {
  const { host, port } = hostPort(address);
  const socket: Socket = connect(port, host);
  socket.on('data', () => undefined);
  const closed = new Promise<void>((resolve) => { socket.on('close', () => resolve()); socket.on('error', () => resolve()); });
  await new Promise<void>((resolve) => { socket.once('connect', resolve); socket.once('error', resolve); });
  for (const c of chunks) {
    if (socket.destroyed) break;
    if (split && c.length > 1) { const at = 1 + (c.length >> 1); socket.write(c.subarray(0, at)); await new Promise((r) => setImmediate(r)); socket.write(c.subarray(at)); }
    else socket.write(c);
  }
  await new Promise((r) => setTimeout(r, 5));
  // A truncated frame would otherwise wait for bytes forever, as the real server's would.
  if (!socket.destroyed) socket.end();
  let timer: NodeJS.Timeout | undefined;
  const ended = await Promise.race([closed.then(() => true), new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), endWithinMs); })]);
  clearTimeout(timer);
  socket.destroy();
  return ended;
}

export interface Target {
  driver: Driver;
  address: string;
  /** Connects a real agent with a valid token. */
  witness(): Promise<void>;
}

/** How long a real client may be shed by a capacity limit after a burst of broken connections before it counts as not served. */
const CAPACITY_RETRY_MS = 20_000;

export interface FuzzFailure { protocol: string; seed: number; index: number; chunks: string[]; problem: string }

/**
 * Runs `cases` mutated cases against one listener from `seed`, checking every `witnessEvery` cases that a real client
 * is still served and that memory stays under `rssBoundMb` above where it started. Returns the first failure, if any.
 */
export async function fuzzListener(t: Target, corpus: Buffer[][], opts: { seed: number; cases: number; concurrency: number; witnessEvery: number; rssBoundMb: number; onCase?: (index: number, chunks: Buffer[]) => void }): Promise<FuzzFailure | undefined> {
  const cases = casesFrom(opts.seed, corpus, opts.cases);
  const rssStart = process.memoryUsage.rss();
  // A capacity refusal ("too many connections are authenticating") is the gateway shedding the fuzzer's load, as it
  // should: the real client retries, as real clients do, and must be served within CAPACITY_RETRY_MS.
  const witness = async () => {
    const until = Date.now() + CAPACITY_RETRY_MS;
    for (;;) {
      try { return await t.witness(); } catch (err) {
        if (!/too many connections/i.test((err as Error).message) || Date.now() > until) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  };
  let next = 0;
  let failure: FuzzFailure | undefined;
  const fail = (index: number, problem: string) => {
    failure ??= { protocol: t.driver.name, seed: opts.seed, index, chunks: cases[index].chunks.map((c) => c.toString('hex')), problem };
  };
  const worker = async () => {
    while (next < cases.length && !failure) {
      const i = next++;
      opts.onCase?.(i, cases[i].chunks);
      if (!(await send(t.address, cases[i].chunks, cases[i].split))) fail(i, 'the gateway did not end the connection');
      if ((i + 1) % opts.witnessEvery === 0) {
        await witness().catch((err: Error) => fail(i, `a real client was no longer served: ${err.message}`));
        const grownMb = (process.memoryUsage.rss() - rssStart) / 1024 / 1024;
        if (grownMb > opts.rssBoundMb) fail(i, `memory grew by ${grownMb.toFixed(0)} MB (bound ${opts.rssBoundMb} MB)`);
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  if (!failure) await witness().catch((err: Error) => fail(cases.length - 1, `a real client was no longer served: ${err.message}`));
  return failure;
}

/** The cases a seed makes from a corpus: the same every time, so a failure can be told by (seed, index). */
export function casesFrom(seed: number, corpus: Buffer[][], count: number): { chunks: Buffer[]; split: boolean }[] {
  const r = prng(seed);
  return Array.from({ length: count }, () => ({ chunks: mutate(r, corpus), split: r.chance(0.3) }));
}

/** A failure as a row to paste into test/fuzz-regressions.test.ts. */
export const regressionRow = (f: FuzzFailure) => `  // ${f.problem} (seed ${f.seed}, case ${f.index})\n  { protocol: '${f.protocol}', chunks: ${JSON.stringify(f.chunks)} },`;
