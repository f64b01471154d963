// The relay that streams upstream bodies to agents: steps in order, held tails flushed, stalls and vanished clients fail it.
import assert from 'node:assert/strict';
import { createServer, get, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { Relay, type RelayStep } from '../src/adapters/kit/http/relay.ts';

const listen = async (server: Server) => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
};
const fetchText = (url: string) => new Promise<string>((resolve, reject) => {
  get(url, (res) => { let t = ''; res.on('data', (c) => { t += c; }); res.on('end', () => resolve(t)); res.on('error', reject); }).on('error', reject);
});

/** An upstream that writes `pieces` with `gapMs` between them (and stops short if told), and a gateway relaying it. */
async function rig(pieces: string[], o: { gapMs?: number; hang?: boolean; steps?: RelayStep[]; idleMs?: number } = {}) {
  const upstream = createServer(async (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    for (const p of pieces) { res.write(p); await new Promise((r) => setTimeout(r, o.gapMs ?? 1)); }
    if (!o.hang) res.end();
  });
  const upstreamUrl = await listen(upstream);
  const results: { relay: Relay; error?: Error }[] = [];
  const gateway = createServer((_req, res: ServerResponse) => {
    get(upstreamUrl, (up: IncomingMessage) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const relay = new Relay(up, res, { steps: o.steps ?? [], idleMs: o.idleMs ?? 5_000, onIdle: () => new Error('stalled') });
      const entry: { relay: Relay; error?: Error } = { relay };
      results.push(entry);
      relay.done.catch((err: Error) => { entry.error = err; up.destroy(); res.destroy(); });
    });
  });
  const url = await listen(gateway);
  return { url, results, close: () => { upstream.closeAllConnections(); gateway.closeAllConnections(); upstream.close(); gateway.close(); } };
}

test('steps rewrite each chunk in order, and what a step holds back goes out at the end through the later steps', async () => {
  let tail = '';
  const holdLast: RelayStep = { push: (c) => { const s = tail + c.toString(); tail = s.slice(-1); return s.slice(0, -1); }, end: () => tail };
  const upper: RelayStep = { push: (c) => c.toString().toUpperCase(), end: () => '' };
  const r = await rig(['abc', 'def', 'ghi'], { steps: [holdLast, upper] });
  try {
    assert.equal(await fetchText(r.url), 'ABCDEFGHI', 'the byte held back from the last chunk is flushed, upper-cased, at the end');
    await r.results[0].relay.done;
    assert.equal(r.results[0].relay.bytes, 9);
  } finally { r.close(); }
});

test('a body that stalls fails the relay with the idle error; a vanished client fails it too', async () => {
  const stalled = await rig(['one'], { hang: true, idleMs: 100 });
  try {
    await fetchText(stalled.url).catch(() => undefined);
    assert.equal(stalled.results[0].error?.message, 'stalled');
    assert.equal(stalled.results[0].relay.bytes, 3);
  } finally { stalled.close(); }

  const gone = await rig(['a', 'b', 'c', 'd', 'e'], { gapMs: 50 });
  try {
    await new Promise<void>((resolve) => get(gone.url, (res) => res.once('data', () => { res.destroy(); resolve(); })));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(gone.results[0].error?.message, 'the client went away');
  } finally { gone.close(); }
});
