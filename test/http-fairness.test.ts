// One token cannot starve the others, slow clients cannot hold requests open, and a client that stops reading (or an
// upstream that stops reading) makes the gateway wait rather than buffer: fairness, deadlines and backpressure, both ways.
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { FairShare } from '../src/adapters/kit/http/fairness.ts';
import { Cutoff } from '../src/adapters/kit/http/upstream.ts';
import { startBillingApi, type BillingApi } from '../src/demo/upstreams/billing.ts';
import { auditRecords, gateway, send, waitFor } from './helpers/gateway.ts';

let billing: BillingApi;
let flood: Server;
let floodUrl: string;
/** Bytes the flood upstream has managed to write (it waits for 'drain', as a well-behaved server does). */
const written = { http: 0, sse: 0 };
let sinkReceived = 0;
let gw: Awaited<ReturnType<typeof gateway>>;

before(async () => {
  billing = await startBillingApi();
  flood = createServer(async (req, res) => {
    if (req.url === '/sink') {
      // Never reads the upload: the gateway must stop reading the agent's body too.
      req.pause();
      req.socket.on('data', (c: Buffer) => { sinkReceived += c.length; });
      return;
    }
    req.resume();
    const sse = req.url!.startsWith('/v1/chat/completions');
    res.writeHead(200, { 'content-type': sse ? 'text/event-stream' : 'application/octet-stream' });
    const block = sse
      ? Buffer.from(`data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', model: 'gpt-4o-mini', choices: [{ index: 0, delta: { content: 'x'.repeat(4000) } }] })}\n\n`)
      : Buffer.alloc(64 * 1024, 'x');
    while (!res.destroyed) {
      if (sse) written.sse += block.length; else written.http += block.length;
      if (!res.write(block)) await new Promise((r) => { res.once('drain', r); res.once('close', r); });
    }
  });
  await new Promise<void>((r) => flood.listen(0, '127.0.0.1', r));
  floodUrl = `http://127.0.0.1:${(flood.address() as AddressInfo).port}`;
  gw = await gateway(`
connections:
  billing: { kind: http, listen: 127.0.0.1:0, upstream: ${billing.url} }
  strict: { kind: http, listen: 127.0.0.1:0, upstream: ${billing.url}, body_timeout_ms: 400, header_timeout_ms: 300 }
  flood: { kind: http, listen: 127.0.0.1:0, upstream: ${floodUrl} }
  llm: { kind: llm, listen: 127.0.0.1:0, upstream: ${floodUrl}/v1 }
  llmstrict: { kind: llm, listen: 127.0.0.1:0, upstream: ${floodUrl}/v1, body_timeout_ms: 400 }
roles:
  agent:
    billing: { allow: [GET /slow, GET /invoices/*] }
    strict: { allow: [POST /upload, { rule: POST /refunds, body: { $.amount: { max: 100 } } }] }
    flood: { allow: [GET /flood, POST /sink] }
    llm: { models: [gpt-4o-mini], guards: { injection: off, secrets: redact } }
    llmstrict: { models: [gpt-4o-mini] }
`);
});
after(async () => {
  await gw.close();
  await billing.close();
  flood.closeAllConnections();
  await new Promise((r) => flood.close(r));
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("one token's slow requests do not delay another token's fast one (per-token cap, default pool of 256)", async () => {
  const slow = (await gw.mint('agent', 'slow')).token;
  const fast = (await gw.mint('agent', 'fast')).token;
  // More slow requests than the whole upstream pool: without a per-token cap they would take every socket.
  const flood = Array.from({ length: 300 }, () => send(gw.url('billing'), 'GET', '/slow?ms=4000', bearer(slow)).catch((e: Error) => ({ status: -1, error: e, json: undefined, headers: {} })));
  // Once all 300 have been admitted (token checks and audit records take the CPU a while), the fast one arrives.
  await waitFor(async () => (await auditRecords(gw)).filter((a) => a.kind === 'request' && a.data.rule === 'request.concurrency').length >= 268 || undefined, 3000);
  await sleep(200);
  const t0 = performance.now();
  const r = await send(gw.url('billing'), 'GET', '/invoices/42', bearer(fast));
  const waited = performance.now() - t0;
  assert.equal(r.status, 200);
  assert.ok(waited < 1000, `the fast request waited ${Math.round(waited)} ms behind another token's slow ones`);
  const answers = await Promise.all(flood);
  const refused = answers.filter((a) => a.status === 429);
  assert.equal(answers.filter((a) => a.status === 200).length, 32, 'max_concurrent_per_token (default 32) slow requests run');
  assert.equal(refused.length, 268);
  assert.equal((refused[0] as { json: { error: { code: string } } }).json.error.code, 'request.concurrency');
  assert.equal((refused[0] as { headers: Record<string, string> }).headers['retry-after'], '1');
  const audited = (await auditRecords(gw)).filter((a) => a.kind === 'request' && a.data.rule === 'request.concurrency');
  assert.equal(audited.length, 268, 'every refusal is audited');
});

test('a full upstream pool is handed out round-robin between tokens, not first come first served', async () => {
  const share = new FairShare(10, 1);
  const order: string[] = [];
  const take = async (token: string, label: string) => {
    const slot = share.enter(token)!;
    await slot.upstream(new Cutoff(), 5_000);
    order.push(label);
    return slot;
  };
  const first = await take('a', 'a1');
  const queued = [take('a', 'a2'), take('a', 'a3'), take('b', 'b1')];
  first.leave();
  (await queued[0]).leave();
  (await queued[2]).leave();
  (await queued[1]).leave();
  assert.deepEqual(order, ['a1', 'a2', 'b1', 'a3'], 'b waits behind one of a, not all of them');
  assert.equal(share.enter('c')!.upstream(new Cutoff(), 5_000) instanceof Promise, true);
  const capped = new FairShare(1, 10);
  assert.ok(capped.enter('a'));
  assert.equal(capped.enter('a'), undefined, 'a token at its cap is refused');
  assert.ok(capped.enter('b'), 'another token is not');
  // A waiter that gives up (its request cut) leaves the line.
  const tight = new FairShare(5, 1);
  const holder = tight.enter('a')!;
  await holder.upstream(new Cutoff(), 1000);
  const cut = new Cutoff();
  const waiting = tight.enter('b')!.upstream(cut, 5_000);
  cut.cut('client gone');
  await assert.rejects(waiting, /aborted/);
  holder.leave();
  await tight.enter('c')!.upstream(new Cutoff(), 100);
});

/** Sends headers announcing a body, then trickles it one byte at a time; resolves with what the gateway answered and when. */
function trickle(base: string, path: string, headers: string, length: number): Promise<{ raw: string; ms: number }> {
  const url = new URL(base);
  const started = performance.now();
  return new Promise((resolve) => {
    let raw = '';
    const s: Socket = connect(Number(url.port), url.hostname, () => {
      s.write(`POST ${path} HTTP/1.1\r\nHost: gw\r\n${headers}Content-Type: application/json\r\nContent-Length: ${length}\r\n\r\n{`);
    });
    const timer = setInterval(() => { if (s.writable) s.write(' '); }, 100);
    const done = () => { clearInterval(timer); s.destroy(); resolve({ raw, ms: performance.now() - started }); };
    s.on('data', (c) => { raw += c.toString('latin1'); if (/\r\n\r\n[\s\S]*\}$/.test(raw)) done(); });
    s.on('close', done);
    s.on('error', done);
    setTimeout(done, 5000);
  });
}

test('a trickled request body is cut at body_timeout_ms with 408 and an audit record, inspected or streamed', async () => {
  const token = (await gw.mint('agent', 'trickler')).token;
  // Inspected (a body rule reads it): refused before judging, the refusal audited.
  let r = await trickle(gw.url('strict'), '/refunds', `Authorization: Bearer ${token}\r\n`, 1000);
  assert.match(r.raw, /^HTTP\/1\.1 408/, r.raw);
  assert.match(r.raw, /request\.timeout/);
  assert.ok(r.ms < 2000, `answered after ${Math.round(r.ms)} ms`);
  const denied = await waitFor(async () => (await auditRecords(gw)).find((a) => a.kind === 'request' && a.data.rule === 'request.timeout'));
  assert.equal(denied.verdict, 'deny');
  // Streamed to the upstream (no rule reads it): the upstream exchange is cut, the result recorded.
  const before = billing.requests.length;
  r = await trickle(gw.url('strict'), '/upload', `Authorization: Bearer ${token}\r\n`, 1000);
  assert.match(r.raw, /^HTTP\/1\.1 408/, r.raw);
  const result = await waitFor(async () => (await auditRecords(gw)).find((a) => a.kind === 'result' && a.data.status === 408));
  assert.match(String(result.data.error), /did not arrive within 400 ms/);
  assert.equal(billing.requests.length, before, 'the upstream never got a complete request');
  // The LLM gateway reads every body whole: the same deadline.
  r = await trickle(gw.url('llmstrict'), '/v1/chat/completions', `Authorization: Bearer ${(await gw.mint('agent')).token}\r\n`, 1000);
  assert.match(r.raw, /^HTTP\/1\.1 408/, r.raw);
  // A body that arrives in time passes (the twin).
  const ok = await send(gw.url('strict'), 'POST', '/refunds', { ...bearer(token), 'content-type': 'application/json' }, '{"amount":5}');
  assert.equal(ok.status, 201);
});

test('trickled headers are cut at header_timeout_ms with 408 and an audit record', async () => {
  const url = new URL(gw.url('strict'));
  const started = performance.now();
  const raw = await new Promise<string>((resolve) => {
    let data = '';
    const s = connect(Number(url.port), url.hostname, () => s.write('GET /upload HTTP/1.1\r\nHost: gw\r\n'));
    const timer = setInterval(() => { if (s.writable) s.write('X-Slow: 1\r\n'); }, 100);
    const done = () => { clearInterval(timer); s.destroy(); resolve(data); };
    s.on('data', (c) => { data += c.toString('latin1'); });
    s.on('close', done);
    s.on('error', done);
    setTimeout(done, 5000);
  });
  assert.match(raw, /^HTTP\/1\.1 408/, raw);
  assert.ok(performance.now() - started < 3000);
  const record = await waitFor(async () => (await auditRecords(gw)).find((a) => a.kind === 'request.timeout'));
  assert.equal(record.data.phase, 'headers');
  assert.equal(record.connection, 'strict');
});

/** Opens a response and reads nothing for `ms`, then drains it; returns what the upstream wrote meanwhile. */
async function stall(send: (onResponse: (res: import('node:http').IncomingMessage) => void) => void, counter: () => number, ms: number) {
  let res!: import('node:http').IncomingMessage;
  await new Promise<void>((resolve) => send((r) => { res = r; r.pause(); resolve(); }));
  const start = counter();
  await sleep(ms);
  const during = counter() - start;
  await sleep(ms / 2);
  const later = counter() - start;
  res.destroy();
  assert.equal(res.statusCode, 200, 'the response was relayed');
  assert.ok(counter() > 0, 'the upstream did start writing');
  return { during, later };
}

test('a client that stops reading stalls the upstream instead of filling the gateway (HTTP relay and decoded SSE)', async () => {
  const token = (await gw.mint('agent')).token;
  const http = await stall((cb) => {
    const url = new URL(gw.url('flood'));
    request({ host: url.hostname, port: url.port, path: '/flood', headers: bearer(token), agent: false }, cb).end();
  }, () => written.http, 1000);
  // Socket buffers on both hops hold a few megabytes at most; without backpressure this would be gigabytes a second.
  assert.ok(http.later < 48 * 1024 * 1024, `the upstream wrote ${http.later} bytes to a client that read none`);
  assert.ok(http.later - http.during < 4 * 1024 * 1024, 'and it has stopped writing');

  const sse = await stall((cb) => {
    const url = new URL(gw.url('llm'));
    const body = JSON.stringify({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'hi' }] });
    request({ host: url.hostname, port: url.port, path: '/v1/chat/completions', method: 'POST', agent: false,
      headers: { ...bearer(token), 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } }, cb).end(body);
  }, () => written.sse, 1000);
  assert.ok(sse.later < 48 * 1024 * 1024, `the LLM upstream wrote ${sse.later} bytes of events to a client that read none`);
  assert.ok(sse.later - sse.during < 4 * 1024 * 1024);
});

test('an upstream that stops reading an upload stalls the agent instead of filling the gateway', async () => {
  const token = (await gw.mint('agent')).token;
  const url = new URL(gw.url('flood'));
  const total = 1024 * 1024 * 1024;
  const req = request({ host: url.hostname, port: url.port, path: '/sink', method: 'POST', agent: false,
    headers: { ...bearer(token), 'content-type': 'application/octet-stream', 'content-length': String(total) } });
  req.on('error', () => {});
  let accepted = 0;
  let stop = false;
  const block = Buffer.alloc(64 * 1024, 'y');
  (async () => {
    while (!stop && accepted < total) {
      accepted += block.length;
      if (!req.write(block)) await new Promise((r) => { req.once('drain', r); setTimeout(r, 200); });
    }
  })();
  await sleep(1500);
  const during = accepted;
  await sleep(500);
  stop = true;
  req.destroy();
  assert.ok(during < 64 * 1024 * 1024, `the agent pushed ${during} bytes at an upstream that reads nothing`);
  assert.ok(accepted - during < 4 * 1024 * 1024, 'and the gateway has stopped taking more');
});
