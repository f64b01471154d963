// One store suite, run against every store (SQLite, and PostgreSQL on 127.0.0.1:5432): what the gateway relies on a
// store for — atomic approval changes, a chain that cannot fork, counters that add up — holds on both.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { AuditLog, verifyAllChains, verifyAudit } from '../src/services/audit/log.ts';
import { AuthThrottle } from '../src/services/identity/throttle.ts';
import { RateLedger } from '../src/pipeline/rate-ledger.ts';
import { openPostgresStore } from '../src/services/store/postgres.ts';
import { openSqliteStore } from '../src/services/store/sqlite.ts';
import type { ApprovalRecord, Store, TokenRecord } from '../src/services/store/store.ts';
import { parseConfig } from '../src/config/load.ts';
import { startGateway } from '../src/main.ts';
import { silent } from './support/log.ts';
import { emptyDatabase, PG, testDatabase } from './support/pg-server.ts';

const storeDb = testDatabase('gatehouse_store');
const pgUrl = (db = storeDb) => `postgres://${PG.user}@${PG.host}:${PG.port}/${db}`;
const freshPgDatabase = (name = storeDb) => emptyDatabase(name);

const stores: { name: string; open(node?: string): Promise<Store>; fresh(): Promise<void> }[] = [
  { name: 'sqlite', fresh: async () => undefined, open: async () => openSqliteStore(join(mkdtempSync(join(tmpdir(), 'gh-store-')), 'g.db')) },
  { name: 'postgres', fresh: () => freshPgDatabase(), open: (node = 'node-a') => openPostgresStore(pgUrl(), { node }) },
];

const token = (id: string, over: Partial<TokenRecord> = {}): TokenRecord => ({
  id, hash: id.padEnd(64, '0'), label: 'rag', role: 'retriever', createdAt: Date.now(), expiresAt: Date.now() + 60_000,
  revokedAt: null, lastUsedAt: null, createdBy: 'alice', scramStoredKey: 'k', scramServerKey: 's', mysqlNative: null, ...over,
});

const approval = (id: string, over: Partial<ApprovalRecord> = {}): ApprovalRecord => ({
  id, status: 'pending', createdAt: Date.now(), expiresAt: Date.now() + 60_000, tokenId: 'tok_1', label: 'rag', role: 'r',
  createdBy: 'alice', runId: null, step: null, connection: 'crm', protocol: 'postgres', sessionId: null, summary: 'DELETE',
  reason: 'approve', fingerprint: 'fp-' + id, mode: 'wait', required: 1, decisions: [], decidedAt: null, windowUntil: null, usedAt: null, ...over,
});

for (const kind of stores) {
  describe(`store: ${kind.name}`, () => {
    test('tokens: found by hash and id, live and dead by user name, revoked once', async () => {
      await kind.fresh();
      const store = await kind.open();
      try {
        await store.insertToken(token('tok_a'));
        await store.insertToken(token('tok_b', { expiresAt: Date.now() - 1 }));
        assert.equal((await store.tokenByHash(token('tok_a').hash))?.id, 'tok_a');
        assert.equal((await store.tokenById('tok_a'))?.createdBy, 'alice');
        assert.deepEqual((await store.liveTokensForUser('rag', Date.now())).map((t) => t.id), ['tok_a']);
        assert.deepEqual((await store.deadTokensForUser('rag', Date.now())).map((t) => t.id), ['tok_b']);
        const at = Date.now();
        const before = await store.revocationEpoch();
        assert.equal(await store.revokeToken('tok_a', at), true);
        assert.equal(await store.revokeToken('tok_a', at), false, 'a second revocation changes nothing');
        assert.equal(await store.revokeToken('tok_b', at), true);
        assert.deepEqual(await store.revocationsAfter(before), { epoch: before + 2, ids: ['tok_a', 'tok_b'] }, 'numbered in commit order');
        assert.deepEqual(await store.revocationsAfter(before + 1), { epoch: before + 2, ids: ['tok_b'] }, 'a node that applied the first asks for what follows');
        assert.deepEqual(await store.revocationsAfter(before + 2), { epoch: before + 2, ids: [] });
        assert.equal(typeof (await store.tokenById('tok_a'))!.revokedAt, 'number', 'times come back as numbers');
      } finally {
        await store.close();
      }
    });

    test('audit: batches continue the stored chain or are refused whole; the log reopens on it', async () => {
      await kind.fresh();
      const store = await kind.open();
      try {
        const log = await AuditLog.open(store);
        for (let i = 0; i < 4; i++) log.enqueue({ kind: 'request', data: { i } });
        // Text the store must keep byte for byte, or the record no longer matches its hash.
        const tricky = { summary: 'SELECT \'a"b\\c\'\n\t', nul: '\u0000', lone: '\ud800', emoji: '\u{1F600}', deep: [{ x: null }] };
        log.enqueue({ kind: 'request', sessionId: 'ses_"quoted"', data: tricky });
        await log.durable();
        await log.append({ kind: 'result', data: { n: 1 } });
        assert.deepEqual(await verifyAudit(store), { ok: true, records: 6 });
        assert.deepEqual((await store.readAudit(4, 1))[0].data, JSON.parse(JSON.stringify(tricky)));
        const head = (await store.lastAudit())!;
        assert.equal(head.seq, 6);
        await assert.rejects(store.appendAudit([[6, 0, 'fork', null, null, null, null, '{}', 'x', 'y']]), /does not continue the stored chain \(last stored: 6\)/);
        // A second writer that read the same head: its record links correctly but its number is taken.
        const fifth = (await store.readAudit(4, 1))[0];
        await assert.rejects(store.appendAudit([[6, 0, 'fork', null, null, null, null, '{}', fifth.hash, 'y']]), /does not continue the stored chain \(last stored: 6\)/);
        const reopened = await AuditLog.open(store);
        assert.equal((await reopened.append({ kind: 'again' })).seq, 7);
        assert.deepEqual((await store.readAudit(5, 10)).map((r) => r.kind), ['result', 'again']);
      } finally {
        await store.close();
      }
    });

    test('approvals: concurrent decisions on one request — exactly one wins; a single-use approval is consumed once', async () => {
      await kind.fresh();
      const store = await kind.open();
      try {
        await store.insertApproval(approval('apr_1'));
        const decide = (by: string) => store.changeApproval('apr_1', (a) => {
          if (a.status !== 'pending') throw new Error(`already ${a.status}`);
          return { ...a, status: 'approved', decidedAt: Date.now(), decisions: [{ by, decision: 'approve', reason: null, at: Date.now() }] };
        });
        const results = await Promise.allSettled([decide('bob'), decide('carol'), decide('dave')]);
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, 'one decision stands');
        assert.equal((await store.approvalById('apr_1'))!.decisions.length, 1);
        const uses = await Promise.all([1, 2, 3].map(() => store.consumeApproval('fp-apr_1', Date.now())));
        assert.equal(uses.filter(Boolean).length, 1, 'released exactly once');
        assert.equal((await store.approvalById('apr_1'))!.status, 'used');
        assert.equal(await store.changeApproval('apr_missing', (a) => a), undefined);
      } finally {
        await store.close();
      }
    });

    test('console sign-ins: found by handle, touched, ended, swept; the oldest dropped beyond the bound', async () => {
      await kind.fresh();
      const store = await kind.open();
      try {
        const signIn = (handle: string, createdAt: number) => ({ handle, keyName: 'ops', csrf: 'c', createdAt, expiresAt: createdAt + 1000, idleUntil: createdAt + 500 });
        for (let i = 0; i < 4; i++) await store.insertSignIn(signIn(`h${i}`, 1000 + i), 3);
        assert.equal(await store.signIn('h0'), undefined, 'the oldest is dropped beyond three');
        assert.deepEqual(await store.signIn('h3'), signIn('h3', 1003));
        await store.touchSignIn('h3', 1900);
        assert.equal((await store.signIn('h3'))!.idleUntil, 1900);
        assert.equal(await store.deleteSignIn('h2'), true);
        assert.equal(await store.deleteSignIn('h2'), false);
        await store.sweepSignIns(1600);
        assert.equal(await store.signIn('h1'), undefined, 'idle past its deadline');
        assert.ok(await store.signIn('h3'), 'touched: still live');
      } finally {
        await store.close();
      }
    });

    test('usage: concurrent additions all count', async () => {
      await kind.fresh();
      const store = await kind.open();
      try {
        await Promise.all(Array.from({ length: 20 }, () => store.addUsage('token:t@openai', 'life', 5, Date.now())));
        assert.equal(await store.usage('token:t@openai', 'life'), 100);
      } finally {
        await store.close();
      }
    });

    test('budget reservations: concurrent ones never commit past the limit; a released one frees its tokens', async () => {
      await kind.fresh();
      const store = await kind.open();
      try {
        await store.addUsage('role:r@openai', 'day', 30, Date.now());
        const held = await Promise.all(Array.from({ length: 20 }, () => store.reserveUsage('role:r@openai', 'day', 10, 100, Date.now())));
        const ids = held.flatMap((h) => (h.id ? [h.id] : []));
        assert.equal(ids.length, 7, '30 spent leaves room for seven reservations of 10 in 100');
        assert.equal(await store.reservedUsage('role:r@openai', 'day'), 70);
        assert.ok(held.every((h) => h.id || h.committed === 100), 'a refused reservation says what was committed');
        assert.equal(await store.reservedUsage('role:r@openai', 'other-day'), 0, 'windows are apart');
        await store.releaseUsage(ids[0]);
        assert.deepEqual(Object.keys(await store.reserveUsage('role:r@openai', 'day', 10, 100, Date.now())).sort(), ['committed', 'id']);
      } finally {
        await store.close();
      }
    });
  });
}

describe('store: postgres across nodes', () => {
  after(() => freshPgDatabase());

  test('failed authentications count across nodes: guesses spread over three nodes are throttled as one, audited once', async () => {
    await freshPgDatabase();
    const stores = await Promise.all(['node-a', 'node-b', 'node-c'].map((n) => openPostgresStore(pgUrl(), { node: n })));
    try {
      const throttles = stores.map((s) => new AuthThrottle({ maxFailures: 6, windowMs: 60_000 }, s, (err) => { throw err; }));
      const guesser = AuthThrottle.key('10.1.2.3', 'mallory');
      const failures = [];
      // Round-robin, as a load balancer would spread them: each node alone sees only a third of the guesses.
      for (let i = 0; i < 9; i++) failures.push(await throttles[i % 3].fail(guesser, 1000 + i));
      assert.deepEqual(failures.map((f) => f.started), [false, false, false, false, false, true, false, false, false], 'the sixth failure anywhere starts the throttle, once');
      assert.deepEqual(failures.map((f) => f.throttled), [false, false, false, false, false, false, true, true, true], 'every failure after it is throttled, on every node');
      assert.ok(throttles.every((t) => t.blocked(guesser, 1010)), 'each node now knows the key is over its limit');
      assert.equal(throttles[0].blocked(AuthThrottle.key('10.1.2.3', 'rag'), 1010), false, 'another user name from the same host is not');
      const fresh = await throttles[1].fail(guesser, 1000 + 60_001);
      assert.deepEqual(fresh, { throttled: false, started: false }, 'a new window starts from one');
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  test('rate limits count across nodes: what one node spends, every node has spent', async () => {
    await freshPgDatabase();
    const [a, b] = await Promise.all(['node-a', 'node-b'].map((n) => openPostgresStore(pgUrl(), { node: n })));
    const ledgers = [new RateLedger(a, (err) => { throw err; }), new RateLedger(b, (err) => { throw err; })];
    try {
      const [onA, onB] = ledgers.map((l) => l.limiter('api/agent/rate', 10, 3_600_000));
      await Promise.all(ledgers.map((l) => l.share()));
      for (let i = 0; i < 6; i++) assert.ok(onA.take('tok_1').ok);
      await ledgers[0].share();
      await ledgers[1].share();
      const onSecond = Array.from({ length: 5 }, () => onB.take('tok_1').ok);
      assert.deepEqual(onSecond, [true, true, true, true, false], 'node b has what node a left: 4 of 10');
      assert.ok(onB.take('tok_2').ok, 'another token has its own bucket');
      await ledgers[1].share();
      await ledgers[0].share();
      assert.equal(onA.take('tok_1').ok, false, 'and node a learns what node b spent');
    } finally {
      ledgers.forEach((l) => l.stop());
      await Promise.all([a.close(), b.close()]);
    }
  });

  test('an HTTP rate limit holds across two gateway nodes', async () => {
    await freshPgDatabase();
    const upstream = createServer((_req, res) => res.end('ok'));
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const yaml = (node: string) => `admin: { listen: "127.0.0.1:0" }\nstore: "${pgUrl()}"\nnode: { id: ${node} }\nconnections:\n  api: { kind: http, listen: "127.0.0.1:0", upstream: "http://127.0.0.1:${(upstream.address() as AddressInfo).port}" }\nroles:\n  agent:\n    api: { allow: ["GET /x"], rate: 4/hour }\n`;
    const one = await startGateway(parseConfig(yaml('n1'), 'n1'), { log: silent });
    const two = await startGateway(parseConfig(yaml('n2'), 'n2'), { log: silent });
    try {
      const { token } = await one.services.tokens.mint({ role: 'agent', label: 'agent', ttlSeconds: 60, createdBy: 'test' });
      const get = (gw: typeof one) => fetch(`http://${gw.listeners[0].address}/x`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status);
      assert.deepEqual([await get(one), await get(one), await get(one)], [200, 200, 200]);
      await one.services.rates.share();
      await two.services.rates.share();
      assert.deepEqual([await get(two), await get(two)], [200, 429], 'node 2 allows the one request node 1 left of 4 an hour');
    } finally {
      await one.close();
      await two.close();
      await new Promise((r) => upstream.close(r));
    }
  });

  test('failed authentications fall back to this node\'s own count while the store is unreachable', async () => {
    const errors: Error[] = [];
    const t = new AuthThrottle({ maxFailures: 2, windowMs: 60_000 }, { countAuthFailures: () => Promise.reject(new Error('store down')) }, (err) => errors.push(err));
    const failures = [await t.fail('10.0.0.9', 1), await t.fail('10.0.0.9', 2), await t.fail('10.0.0.9', 3)];
    assert.deepEqual(failures.map((f) => f.throttled), [false, false, true]);
    assert.equal(errors.length, 2, 'told why, for each failure the store could not count');
  });

  test('nodes that start together migrate once; each keeps its own audit chain; a restart ends only its own sessions and held requests', async () => {
    await freshPgDatabase();
    const [a, b, c] = await Promise.all(['node-a', 'node-b', 'node-c'].map((n) => openPostgresStore(pgUrl(), { node: n })));
    try {
      const [logA, logB] = [await AuditLog.open(a), await AuditLog.open(b)];
      await Promise.all([logA.append({ kind: 'a1' }), logB.append({ kind: 'b1' }), logA.append({ kind: 'a2' })]);
      assert.deepEqual(await verifyAudit(a), { ok: true, records: 2 });
      assert.deepEqual(await verifyAudit(b), { ok: true, records: 1 });
      const session = { tokenId: 't', label: 'l', role: 'r', connection: 'crm', protocol: 'postgres', client: 'c', runId: null, step: null, startedAt: 1, endedAt: null, endReason: null };
      await a.insertSession({ ...session, id: 'ses_a' });
      await b.insertSession({ ...session, id: 'ses_b' });
      await a.insertApproval(approval('apr_a'));
      await b.insertApproval(approval('apr_b'));
      await a.reserveUsage('token:t@openai', 'life', 5, 100, 1);
      await b.reserveUsage('token:t@openai', 'life', 7, 100, 1);
      assert.equal(await c.reservedUsage('token:t@openai', 'life'), 12, "every node's reservations count");
      assert.equal(await a.dropReservations(), 1);
      assert.equal(await c.reservedUsage('token:t@openai', 'life'), 7, "a restart drops only its own reservations");
      assert.equal(await a.endDanglingSessions(2, 'gateway stopped'), 1);
      assert.deepEqual((await a.failPendingApprovals(2)).map((x) => x.id), ['apr_a']);
      assert.equal((await c.sessionById('ses_b'))!.endedAt, null, "another node's session stays live");
      assert.equal((await c.approvalById('apr_b'))!.status, 'pending');
    } finally {
      await Promise.all([a.close(), b.close(), c.close()]);
    }
  });

  test('audit verify checks every node\'s chain and names a gap or a fork by node and record number', async () => {
    await freshPgDatabase();
    const stores = await Promise.all(['node-a', 'node-b', 'node-c'].map((n) => openPostgresStore(pgUrl(), { node: n })));
    const admin = new pg.Client({ ...PG, database: storeDb });
    await admin.connect();
    try {
      for (const store of stores) {
        const log = await AuditLog.open(store);
        await Promise.all([1, 2, 3].map((i) => log.append({ kind: `k${i}`, sessionId: `ses_${store === stores[1] ? 'b' : 'x'}${i}` })));
        await log.flush();
      }
      assert.deepEqual((await stores[0].readAudit(0, 10, 'ses_b2')).map((r) => r.kind), ['k2'], "a session held by node b is replayed from node a");
      const whole = await verifyAllChains(stores[0]);
      assert.equal(whole.ok, true);
      assert.equal(whole.records, 9);
      assert.deepEqual(whole.chains.map((c) => [c.node, c.ok, c.records]), [['node-a', true, 3], ['node-b', true, 3], ['node-c', true, 3]], 'any node verifies every chain');

      await admin.query(`DELETE FROM audit WHERE node = 'node-b' AND seq = 2`);
      const gap = await verifyAllChains(stores[0]);
      assert.equal(gap.ok, false);
      assert.deepEqual(gap.broken, { node: 'node-b', seq: 2, reason: 'record 2 is missing (a gap)' });
      assert.deepEqual(gap.chains.map((c) => c.ok), [true, false, true], 'the other chains still verify');

      // A second writer's record in place of the real one: its link does not continue the chain.
      await admin.query(`UPDATE audit SET prev_hash = repeat('f', 64) WHERE node = 'node-c' AND seq = 3`);
      const fork = await verifyAllChains(stores[0]);
      const onC = (await stores[2].readAudit(0, 10)).map((r) => r.kind);
      assert.deepEqual((await stores[0].readAudit(0, 10, undefined, 'node-c')).map((r) => r.kind), onC, "one node reads another's chain");
      assert.deepEqual(fork.chains[2].broken, { node: 'node-c', seq: 3, reason: 'previous-hash link does not match the record before it (a fork or an altered record)' });
    } finally {
      await admin.end();
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  test('clear errors: an unreachable server, a database that does not exist', async () => {
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    await assert.rejects(openPostgresStore('postgres://gatehouse:secret@127.0.0.1:1/gatehouse', { node: 'n' }), (err: Error) => {
      assert.match(err.message, /store postgres:\/\/gatehouse:\*\*\*@127\.0\.0\.1:1\/gatehouse: PostgreSQL is unreachable/);
      assert.doesNotMatch(err.message, /secret/, 'the password is never shown');
      return true;
    });
    await assert.rejects(openPostgresStore(pgUrl('gatehouse_no_such_db'), { node: 'n' }), /PostgreSQL is unreachable \(database "gatehouse_no_such_db" does not exist\)/);
  });

  test('a role without CREATE on the schema is told which privilege it lacks', async () => {
    await freshPgDatabase();
    const admin = new pg.Client({ ...PG, database: storeDb });
    await admin.connect();
    const role = testDatabase('gatehouse_store_reader');
    try {
      await admin.query(`DROP ROLE IF EXISTS ${role}`);
      await admin.query(`CREATE ROLE ${role} LOGIN`);
      await admin.query(`REVOKE CREATE ON SCHEMA public FROM PUBLIC`);
      await assert.rejects(openPostgresStore(`postgres://${role}@127.0.0.1:5432/${storeDb}`, { node: 'n' }), new RegExp(`role "${role}" lacks a privilege the store needs \\(permission denied for schema public\\)`));
    } finally {
      await admin.end();
      await freshPgDatabase();
      const cleanup = new pg.Client({ ...PG, database: 'postgres' });
      await cleanup.connect();
      await cleanup.query(`DROP ROLE IF EXISTS ${role}`).finally(() => cleanup.end());
    }
  });

  test('a gateway runs on the PostgreSQL store: tokens, sessions, audit and verify', async () => {
    await freshPgDatabase();
    const config = parseConfig(`admin: { listen: "127.0.0.1:0" }\nstore: "${pgUrl()}"\nnode: { id: gw-1 }\nconnections:\n  api: { kind: http, listen: "127.0.0.1:0", upstream: "http://127.0.0.1:9" }\nroles:\n  agent:\n    api: { allow: ["GET /x"] }\n`, 'pg-store');
    const gw = await startGateway(config, { log: silent });
    try {
      const { record } = await gw.services.tokens.mint({ role: 'agent', label: 'agent', ttlSeconds: 60, createdBy: 'test' });
      assert.equal(await gw.services.tokens.revoke(record.id), true);
      const records = await gw.services.audit.read(0, 100);
      assert.deepEqual(records.map((r) => r.kind).slice(0, 1), ['gateway.start']);
      assert.equal((await verifyAudit(gw.services.store)).ok, true);
    } finally {
      await gw.close();
    }
    const again = await startGateway(config, { log: silent });
    try {
      const kinds = (await again.services.audit.read(0, 100)).map((r) => r.kind);
      assert.deepEqual(kinds, ['gateway.start', 'gateway.stop', 'gateway.start'], 'the node continues its own chain after a restart');
    } finally {
      await again.close();
    }
  });

  test('a console signed in on node 1 works on node 2, sees node 2\'s decisions live; signing out on node 2 ends it on node 1', async () => {
    await freshPgDatabase();
    const key = 'k'.repeat(32);
    const yaml = (node: string) => `admin: { listen: "127.0.0.1:0", keys: [{ name: ops, key: "${key}", roles: [admin] }] }\nstore: "${pgUrl()}"\nnode: { id: ${node} }\nconnections:\n  api: { kind: http, listen: "127.0.0.1:0", upstream: "http://127.0.0.1:9" }\nroles:\n  agent:\n    api: { allow: ["GET /x"] }\n`;
    const one = await startGateway(parseConfig(yaml('n1'), 'n1'), { log: silent });
    const two = await startGateway(parseConfig(yaml('n2'), 'n2'), { log: silent });
    try {
      const at = (gw: typeof one) => gw.adminUrl;
      const login = await fetch(`${at(one)}/v1/console/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key }) });
      assert.equal(login.status, 200);
      const cookie = login.headers.get('set-cookie')!.split(';')[0];
      const { csrf } = await login.json() as { csrf: string };
      const me = await fetch(`${at(two)}/v1/console/session`, { headers: { cookie } });
      assert.equal(me.status, 200, 'the sign-in made on node 1 is known to node 2');
      assert.equal((await me.json() as { name: string }).name, 'ops');
      const minted = await fetch(`${at(two)}/v1/tokens`, { method: 'POST', headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' }, body: JSON.stringify({ role: 'nobody' }) });
      assert.equal(minted.status, 400, 'a state change on node 2 passes the CSRF check with the token node 1 issued (and fails only on the unknown role)');
      // A request refused on node 2 shows in node 1's live decisions (its chain is followed every second).
      const { token } = await two.services.tokens.mint({ role: 'agent', label: 'agent', ttlSeconds: 60, createdBy: 'test' });
      assert.equal((await fetch(`http://${two.listeners[0].address}/admin/drop`, { headers: { authorization: `Bearer ${token}` } })).status, 403);
      let seen: { node?: string; verdict: string; summary: string } | undefined;
      for (let i = 0; i < 100 && !seen; i++) {
        const { decisions } = await (await fetch(`${at(one)}/v1/decisions`, { headers: { cookie } })).json() as { decisions: { node?: string; verdict: string; summary: string }[] };
        seen = decisions.find((d) => d.node === 'n2' && /admin\/drop/.test(d.summary));
        if (!seen) await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(seen?.verdict, 'refused', "node 2's refusal reaches node 1's console");
      const out = await fetch(`${at(two)}/v1/console/logout`, { method: 'POST', headers: { cookie, 'x-csrf-token': csrf } });
      assert.equal(out.status, 200);
      assert.equal((await fetch(`${at(one)}/v1/console/session`, { headers: { cookie } })).status, 401, 'signed out on node 2 is signed out on node 1');
    } finally {
      await one.close();
      await two.close();
    }
  });

  test('a request held on node 1 is approved on node 2 and forwarded once, by node 1', async () => {
    await freshPgDatabase();
    let forwarded = 0;
    const upstream = createServer((_req, res) => { forwarded++; res.end('refunded'); });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const yaml = (node: string) => `admin: { listen: "127.0.0.1:0" }\nstore: "${pgUrl()}"\nnode: { id: ${node} }\nconnections:\n  api: { kind: http, listen: "127.0.0.1:0", upstream: "http://127.0.0.1:${(upstream.address() as AddressInfo).port}" }\nroles:\n  agent:\n    api: { allow: ["POST /refunds"], approve: ["POST /refunds"] }\n`;
    const one = await startGateway(parseConfig(yaml('n1'), 'n1'), { log: silent });
    const two = await startGateway(parseConfig(yaml('n2'), 'n2'), { log: silent });
    try {
      const { token } = await one.services.tokens.mint({ role: 'agent', label: 'agent', ttlSeconds: 60, createdBy: 'test' });
      const address = one.listeners[0].address;
      const answer = fetch(`http://${address}/refunds`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: '{}' });
      let pending: ApprovalRecord | undefined;
      for (let i = 0; i < 100 && !pending; i++) {
        pending = (await two.services.approvals.list('pending'))[0];
        if (!pending) await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(pending, 'node 2 sees the request node 1 holds');
      const approver = { name: 'bob', key: 'k', roles: ['approver' as const] };
      await two.services.approvals.decide(pending.id, approver, 'approve', 'fine');
      const res = await answer;
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'refunded');
      assert.equal(forwarded, 1, 'forwarded exactly once');
      assert.equal((await two.services.approvals.get(pending.id))!.status, 'used');
    } finally {
      await one.close();
      await two.close();
      await new Promise((r) => upstream.close(r));
    }
  });
});
