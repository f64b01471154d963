// The PostgreSQL gateway under attack: one connection's failure stays that connection's, memory and descriptors stay
// bounded, and every limit answers with PostgreSQL's own error codes. Real clients (pg, psql) and raw wire frames.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import * as fe from '../src/adapters/postgres/codec/frontend.ts';
import { Backend } from '../src/adapters/postgres/codec/messages.ts';
import { FrameReader } from '../src/adapters/postgres/codec/reader.ts';
import { createLogger } from '../src/services/telemetry/logger.ts';
import { send, waitFor } from './helpers/gateway.ts';
import { ADMIN_KEY, failure, PG, startPgGateway, type PgGateway } from './support/pg.ts';
import { frame, int32, rawSession, rawSocket } from './support/wire.ts';

describe('one connection cannot take the process down', () => {
  let gw: PgGateway;
  before(async () => {
    gw = await startPgGateway('gatehouse_boundary', {
      tls: 'off',
      // The HTTP and LLM listeners run in the same process; their upstreams are never reached (no token, no request).
      connections: `
  api:
    kind: http
    listen: 127.0.0.1:0
    upstream: http://127.0.0.1:9
  chat:
    kind: llm
    listen: 127.0.0.1:0
    upstream: http://127.0.0.1:9/v1`,
    });
  });
  after(async () => { await gw?.close(); });

  const listener = (name: string) => `http://${gw.gateway.listeners.find((l) => l.name === name)!.address}`;

  test('a Describe with a NUL kind byte ends that session with a FATAL 08P01 and an audit record; every listener keeps answering', async () => {
    const t = await gw.token('retriever', 'attacker');
    const s = await rawSession(gw, t);
    s.socket.write(frame('D', [0], ''));
    const frames = await s.closed;
    const fatal = s.errors()[0];
    assert.equal(fatal?.severity, 'FATAL');
    assert.equal(fatal.code, '08P01');
    assert.match(fatal.message, /kind 0x00 is neither 'S' nor 'P'/);
    assert.equal(frames.at(-1)?.type, Backend.ErrorResponse, 'the FATAL is the last thing the client hears');
    const audit = await gw.gateway.services.audit.read(0, 100_000);
    const error = audit.find((r) => r.kind === 'session.error' && r.tokenId === t.id);
    assert.equal(error?.data.code, '08P01');
    assert.ok(audit.some((r) => r.kind === 'session.close' && r.sessionId === error?.sessionId), 'the session is closed in the record too');

    const other = await gw.client(await gw.token('retriever', 'bystander'));
    assert.equal((await other.query('SELECT count(*)::int AS n FROM documents')).rows[0].n, 50);
    assert.equal((await send(listener('api'), 'GET', '/anything')).status, 401, 'the HTTP listener answers');
    assert.equal((await send(listener('chat'), 'POST', '/v1/chat/completions', { 'content-type': 'application/json' }, '{}')).status, 401, 'the LLM listener answers');
    assert.equal((await send(gw.adminUrl, 'GET', '/v1/health', { authorization: `Bearer ${ADMIN_KEY}` })).status, 200, 'the admin API answers');
  });

  test('bearer listeners throttle only failures too: after ten wrong tokens a wrong one is 429 and late, a valid one still gets in', async () => {
    const call = (token: string) => send(listener('api'), 'GET', '/anything', { authorization: `Bearer ${token}` });
    for (let i = 0; i < 10; i++) assert.equal((await call(`gth_${String(i).padStart(43, 'w')}`)).status, 401);
    const started = performance.now();
    assert.equal((await call(`gth_${'v'.repeat(43)}`)).status, 429);
    assert.ok(performance.now() - started >= 900, 'answered late');
    const valid = await call((await gw.token('retriever', 'bearer')).token);
    assert.equal(valid.status, 403, 'a valid token passes authentication (and is refused only for want of a grant on this connection)');
  });

});

// A garbage collection on demand, so buffers still referenced can be told from garbage not yet collected.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

describe('memory stays bounded whatever the result size (backpressure)', () => {
  let gw: PgGateway;
  before(async () => {
    gw = await startPgGateway('gatehouse_flow', { tls: 'off', roles: '  bulk:\n    crm:\n      read: [documents]' });
  });
  after(async () => { await gw?.close(); });

  test('a client that stops reading a 200 MB result holds the upstream, not the gateway\'s memory; it all arrives once it reads', { timeout: 120_000 }, async () => {
    const s = await rawSession(gw, await gw.token('bulk', 'slow-reader'));
    const buffers = () => { gc(); const m = process.memoryUsage(); return m.external + m.arrayBuffers; };
    const before = { rss: process.memoryUsage().rss, buffers: buffers() };
    s.socket.pause();
    s.socket.write(fe.query("SELECT repeat('x', 1000) FROM generate_series(1, 200000)"));
    let peak = before.rss;
    for (let i = 0; i < 30; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      peak = Math.max(peak, process.memoryUsage().rss);
    }
    const mb = (n: number) => Math.round(n / 1024 / 1024);
    // Without backpressure the gateway holds what the upstream sends: +230 MB here. With it, a few socket buffers.
    assert.ok(mb(buffers() - before.buffers) < 32, `${mb(buffers() - before.buffers)} MB of buffers held while the client was not reading`);
    assert.ok(mb(peak - before.rss) < 100, `RSS grew by ${mb(peak - before.rss)} MB while the client was not reading`);
    // Read the rest counting rows, without keeping 200 MB of them.
    s.socket.removeAllListeners('data');
    const reader = new FrameReader({ source: 'backend' });
    let rows = 0;
    let tag = '';
    await new Promise<void>((resolve) => {
      s.socket.on('data', (chunk: Buffer) => {
        reader.push(chunk);
        for (let f = reader.next(); f; f = reader.next()) {
          if (f.type === Backend.DataRow) rows++;
          else if (f.type === Backend.CommandComplete) tag = f.body.toString('latin1');
          else if (f.type === Backend.ReadyForQuery) resolve();
        }
      });
      s.socket.resume();
    });
    assert.equal(rows, 200_000, 'every row arrives once the client reads');
    assert.match(tag, /SELECT 200000/);
  });
});

describe('before authentication: small messages, capped sockets, one deadline, released descriptors', () => {
  let gw: PgGateway;
  const lines: string[] = [];
  before(async () => {
    gw = await startPgGateway('gatehouse_preauth', {
      tls: 'self-signed',
      crm: '    max_handshakes: 6\n    max_handshakes_per_client: 2\n    handshake_timeout: 400ms',
      log: createLogger({ level: 'info', secrets: [], destination: { write: (line: string) => void lines.push(line) } }),
    });
  });
  after(async () => { await gw?.close(); });

  const startup = (user: string) => {
    const body = Buffer.concat([int32(196608), Buffer.from(`user\0${user}\0database\0${gw.database}\0\0`)]);
    return Buffer.concat([int32(body.length + 4), body]);
  };
  const sslRequest = Buffer.concat([int32(8), int32(80877103)]);
  const elapsed = async (p: Promise<unknown>) => { const t = performance.now(); await p; return performance.now() - t; };

  test('a 60 MiB password message is refused at its header: 08P01 before a byte of it is buffered', async () => {
    const s = await rawSocket(gw);
    s.socket.write(startup('big'));
    s.socket.write(Buffer.concat([Buffer.from('p'), int32(60 * 1024 * 1024)]));
    await s.closed;
    const fatal = s.errors()[0];
    assert.equal(fatal?.code, '08P01');
    assert.match(fatal.message, /exceeds the limit of 8192/);
  });

  test('a connection that never finishes is closed at the deadline: silent, after startup, and after an SSLRequest answered S', async () => {
    const silent = await rawSocket(gw);
    assert.ok((await elapsed(silent.closed)) < 2000);
    assert.match(silent.errors()[0]?.message ?? '', /did not authenticate within 400ms/);
    const started = await rawSocket(gw);
    started.socket.write(startup('slow'));
    assert.ok((await elapsed(started.closed)) < 2000);
    const tls = await rawSocket(gw);
    tls.socket.write(sslRequest);
    assert.ok((await elapsed(tls.closed)) < 2000, 'an SSLRequest never followed by a TLS handshake is timed out');
    assert.equal(tls.frames[0]?.type, 0x53, 'the gateway had offered TLS');
  });

  test('a peer that goes away releases its descriptor at once, whatever phase it was in', async () => {
    const fds = () => readdirSync('/proc/self/fd').length;
    const baseline = fds();
    for (let i = 0; i < 20; i++) {
      const s = await rawSocket(gw);
      s.socket.write(i % 2 ? sslRequest : startup('leaver'));
      await new Promise((resolve) => setTimeout(resolve, 5));
      s.socket.end(); // half-close: the gateway must close its side too
      assert.ok((await elapsed(s.closed)) < 300, 'the gateway closed its side well before the deadline');
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.ok(fds() <= baseline + 2, `${fds() - baseline} descriptors still open`);
  });

  test('per client (address and user name), a third handshake is refused with 53300; another user name still gets in', async () => {
    const a = await rawSocket(gw);
    const b = await rawSocket(gw);
    a.socket.write(startup('mallory'));
    b.socket.write(startup('mallory'));
    await Promise.all([a.ready(0), b.ready(0), new Promise((resolve) => setTimeout(resolve, 50))]);
    const c = await rawSocket(gw);
    c.socket.write(startup('mallory'));
    await c.closed;
    assert.equal(c.errors()[0]?.code, '53300');
    assert.match(c.errors()[0].message, /authenticating as "mallory".*max_handshakes_per_client: 2/);
    const t = await gw.token('retriever', 'rag');
    const ok = await gw.client(t, { ssl: false });
    assert.equal((await ok.query('SELECT 1 AS one')).rows[0].one, 1);
    a.socket.destroy();
    b.socket.destroy();
  });

  test('silent sockets cannot crowd out a real client: the longest-silent one makes room', async () => {
    const silent = await Promise.all([rawSocket(gw), rawSocket(gw)]);
    const next = await rawSocket(gw); // a third from the same address: the oldest silent one is closed for it
    await silent[0].closed;
    const c = await gw.client(await gw.token('retriever', 'rag2'), { ssl: false });
    assert.equal((await c.query('SELECT 2 AS two')).rows[0].two, 2);
    for (const s of [...silent, next]) s.socket.destroy();
  });

  test('a garbage SCRAM message is 08P01 with one log line (no stack), and repeated violations are throttled and audited', async () => {
    lines.length = 0;
    const attempt = async () => {
      const s = await rawSocket(gw);
      s.socket.write(startup('garbler'));
      s.socket.write(frame('p', 'SCRAM-SHA-256', int32(7), Buffer.from('garbage')));
      await s.closed;
      return s.errors()[0];
    };
    const first = await attempt();
    assert.equal(first?.code, '08P01');
    assert.match(first.message, /malformed SCRAM message/);
    // The line is written once the violation is counted (in the store, which may be a network away): just after the FATAL.
    await waitFor(() => (lines.length ? true : undefined));
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.doesNotMatch(lines[0], /"stack"|\\n\s+at /, 'no stack trace for a peer\'s mistake');
    for (let i = 0; i < 10; i++) await attempt();
    // Each violation is counted just after its FATAL is sent (in the store, which may be a network away).
    const throttled = await waitFor(async () => (await gw.gateway.services.audit.read(0, 100_000)).find((r) => r.kind === 'auth.throttled' && r.data.user === 'garbler'));
    assert.ok(throttled, 'the throttle counted the violations');
    assert.ok(lines.length <= 11, `${lines.length} log lines for 11 violations: the throttled ones are not logged`);
  });
});

describe('session caps, statement timeouts and cancellation upstream', () => {
  let gw: PgGateway;
  before(async () => {
    gw = await startPgGateway('gatehouse_caps', {
      tls: 'off',
      crm: '    max_sessions: 8',
      roles: `
  capped:
    crm:
      read: [documents]
      max_sessions_per_token: 2
  timed:
    crm:
      read: [documents]
      timeout: 1s`,
    });
  });
  after(async () => { await gw?.close(); });

  test('a token over its per-token cap gets 53300 naming the cap; its other tokens and a closed session\'s slot are fine', async () => {
    const t = await gw.token('capped', 'busy');
    const [a] = await Promise.all([gw.client(t), gw.client(t)]);
    const third = await failure(gw.client(t));
    assert.equal(third.code, '53300');
    assert.match(third.message, /token .* \(busy\) already has 2 sessions on connection "crm"; that is the cap \(roles\.capped\.crm\.max_sessions_per_token\)/);
    const other = await gw.client(await gw.token('capped', 'busy'));
    assert.equal((await other.query('SELECT 1 AS one')).rows[0].one, 1, 'another token of the same role');
    await a.end();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const again = await gw.client(t);
    assert.equal((await again.query('SELECT 1 AS one')).rows[0].one, 1, 'a closed session gives its slot back');
  });

  test('the connection\'s global cap holds across tokens, with PostgreSQL\'s code and the cap\'s name', async () => {
    const clients = [];
    let refused: { code?: string; message: string } | undefined;
    for (let i = 0; i < 10 && !refused; i++) {
      try {
        clients.push(await gw.client(await gw.token('retriever', `many${i}`)));
      } catch (err) {
        refused = err as { code?: string; message: string };
      }
    }
    assert.equal(refused?.code, '53300');
    assert.match(refused!.message, /the connection already has 8 sessions on connection "crm"; that is the cap \(connections\.crm\.max_sessions\)/);
    await Promise.all(clients.map((c) => c.end()));
    await new Promise((resolve) => setTimeout(resolve, 50));
  });

  test('a grant timeout is the upstream statement_timeout; an agent may lower it, never raise or clear it', async () => {
    const c = await gw.client(await gw.token('timed', 'clock'));
    assert.equal((await c.query('SHOW statement_timeout')).rows[0].statement_timeout, '1s');
    const started = performance.now();
    const slow = await failure(c.query('SELECT count(*) FROM generate_series(1, 500000000)'));
    assert.equal(slow.code, '57014');
    assert.ok(performance.now() - started < 5000);
    for (const sql of ['SET statement_timeout = 0', "SET statement_timeout = '5s'", 'SET LOCAL statement_timeout = 2000', "SET statement_timeout = '400us'", "SET statement_timeout = '0.4'"]) {
      const e = await failure(c.query(sql));
      assert.equal(e.code, '42501', sql);
      assert.match(e.message, /may not raise or clear statement_timeout.*roles\.timed\.crm\.timeout/, sql);
    }
    await c.query("SET statement_timeout = '500ms'");
    assert.equal((await c.query('SHOW statement_timeout')).rows[0].statement_timeout, '500ms');
    await c.query('RESET statement_timeout');
    assert.equal((await c.query('SHOW statement_timeout')).rows[0].statement_timeout, '1s', 'RESET returns to the grant\'s timeout');
  });

  const running = async (label: string) => {
    const direct = new pg.Client({ ...PG, database: gw.database });
    await direct.connect();
    try {
      const { rows } = await direct.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'", [`gatehouse:${label}`]);
      return rows[0].n as number;
    } finally {
      await direct.end();
    }
  };
  const until = async (check: () => Promise<boolean>, ms: number) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (await check()) return true;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return false;
  };

  test('a client that disconnects mid-statement: the upstream statement is cancelled', async () => {
    const s = await rawSession(gw, await gw.token('retriever', 'quitter'));
    s.socket.write(fe.query('SELECT count(*) FROM generate_series(1, 2000000000)'));
    assert.ok(await until(async () => (await running('quitter')) === 1, 3000), 'the statement runs upstream');
    s.socket.destroy();
    assert.ok(await until(async () => (await running('quitter')) === 0, 2000), 'and is stopped when its client goes');
  });

  test('a revoked token\'s running statement is cancelled upstream at once', async () => {
    const t = await gw.token('retriever', 'revoked-mid');
    const c = await gw.client(t);
    const slow = c.query('SELECT count(*) FROM generate_series(1, 2000000000)').catch((err: Error) => err);
    assert.ok(await until(async () => (await running('revoked-mid')) === 1, 3000));
    await gw.gateway.services.tokens.revoke(t.id);
    assert.ok(await until(async () => (await running('revoked-mid')) === 0, 2000), 'still running after the revocation');
    assert.match(String(await slow), /revoked|terminat/);
  });
});

describe('admin keys: guesses are throttled, a valid key always gets through', () => {
  let gw: PgGateway;
  before(async () => { gw = await startPgGateway('gatehouse_admin_throttle', { tls: 'off', fresh: false }); });
  after(async () => { await gw?.close(); });

  test('after ten wrong admin keys from one address the next is 429 and answered late; the right key still works; audited once', async () => {
    const attempt = (key: string) => send(gw.adminUrl, 'GET', '/v1/tokens', { authorization: `Bearer ${key}` });
    for (let i = 0; i < 10; i++) assert.equal((await attempt(`wrong-key-${i}-0123456789abcdef`)).status, 401);
    const started = performance.now();
    assert.equal((await attempt('wrong-key-x-0123456789abcdef')).status, 429);
    assert.ok(performance.now() - started >= 900, 'a throttled guess is answered late');
    assert.equal((await attempt(ADMIN_KEY)).status, 200, 'the valid key from the same address gets through');
    const events = (await gw.gateway.services.audit.read(0, 100_000)).filter((r) => r.kind === 'admin.throttled');
    assert.equal(events.length, 1);
  });
});
