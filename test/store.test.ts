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
import { openPostgresStore } from '../src/services/store/postgres.ts';
import { openSqliteStore } from '../src/services/store/sqlite.ts';
import type { ApprovalRecord, Store, TokenRecord } from '../src/services/store/store.ts';
import { parseConfig } from '../src/config/load.ts';
import { startGateway } from '../src/main.ts';
import { silent } from './support/log.ts';
import { testDatabase } from './support/pg.ts';

const PG = { host: '127.0.0.1', port: 5432, user: 'postgres' };
const storeDb = testDatabase('gatehouse_store');
const pgUrl = (db = storeDb) => `postgres://${PG.user}@${PG.host}:${PG.port}/${db}`;

async function freshPgDatabase(name = storeDb) {
  const admin = new pg.Client({ ...PG, database: 'postgres' });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
}

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
  });
}

describe('store: postgres across nodes', () => {
  after(() => freshPgDatabase());

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
