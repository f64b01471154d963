// Group commit: queued records take their place in the chain at once, commit together at the end of the turn, and a
// failed commit rolls the chain back whole, so nothing the caller was told is durable can be missing.
import Database from 'better-sqlite3';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { GateSession, StoreOutage, type Forward } from '../src/pipeline/gate.ts';
import type { Services } from '../src/services/services.ts';
import type { TokenRecord } from '../src/services/store/store.ts';
import type { Facts } from '../src/services/policy/facts.ts';
import { allow } from '../src/services/policy/verdict.ts';
import { AuditLog, verifyAudit } from '../src/services/audit/log.ts';
import { openSqliteStore } from '../src/services/store/sqlite.ts';
import { breakAuditWrites } from './support/audit.ts';
import { Metrics } from '../src/services/telemetry/metrics.ts';
import { silent } from './support/log.ts';

const fresh = () => openSqliteStore(join(mkdtempSync(join(tmpdir(), 'gh-group-')), 'g.db'));
const ctx = { who: { tokenId: 'tok_1', label: 'rag', role: 'retriever' }, sessionId: 'ses_1', connection: 'crm' };
const facts: Facts = { protocol: 'postgres', connection: 'crm', effect: 'read', summary: 'SELECT 1', targets: [] };
/** A gate session over just an audit log: what judging a request writes, and when. */
const gateOver = (log: AuditLog) => new GateSession(
  { audit: log, metrics: new Metrics(silent), tokens: { touch: () => undefined, revocationsStale: () => undefined } } as unknown as Services,
  new StoreOutage(silent), { id: 'tok_1' } as TokenRecord, 'postgres', ctx,
);

test('queued records commit together at the end of the turn, in chain order, and durable() says when', async () => {
  const store = fresh();
  const log = await AuditLog.open(store);
  const a = log.enqueue({ kind: 'request', data: { n: 1 } });
  const b = log.enqueue({ kind: 'request', data: { n: 2 } });
  assert.deepEqual([a.seq, b.seq], [1, 2]);
  assert.equal(b.prevHash, a.hash);
  const durable = log.durable();
  assert.ok(durable);
  assert.equal((await store.readAudit(0, 10)).length, 0, 'nothing is committed before the turn ends');
  await durable;
  assert.deepEqual((await store.readAudit(0, 10)).map((r) => r.seq), [1, 2]);
  assert.equal(log.durable(), undefined, 'nothing left to wait for');
  assert.deepEqual(await verifyAudit(store), { ok: true, records: 2 });
  await store.close();
});

test('append commits what was queued before it, in one transaction, and returns durable', async () => {
  const store = fresh();
  const log = await AuditLog.open(store);
  log.enqueue({ kind: 'result', data: {} });
  const r = await log.append({ kind: 'request', data: {} });
  assert.equal(r.seq, 2);
  assert.deepEqual((await store.readAudit(0, 10)).map((x) => x.kind), ['result', 'request']);
  assert.deepEqual(await verifyAudit(store), { ok: true, records: 2 });
  await store.close();
});

test('a failed group commit rejects durable(), rolls the chain back, and the next records chain from the last committed one', async () => {
  const store = fresh();
  const log = await AuditLog.open(store);
  await log.append({ kind: 'gateway.start' });
  const restore = breakAuditWrites(store);
  const judged = gateOver(log).pass({ facts, policy: () => allow('roles.retriever.crm', {}) });
  const durable = log.durable();
  await assert.rejects(durable!, /disk full/);
  const outcome = await judged;
  assert.equal(outcome.kind === 'refuse' && outcome.rule, 'audit.unavailable', 'an allowed request whose record was lost is refused');
  restore();
  const next = await log.append({ kind: 'request', data: { after: true } });
  assert.equal(next.seq, 2, 'the lost record left no gap');
  assert.deepEqual(await verifyAudit(store), { ok: true, records: 2 });
  await store.close();
});

test('an outcome record is best effort: a failed commit neither throws nor breaks the chain', async () => {
  const store = fresh();
  const log = await AuditLog.open(store);
  const forward = await gateOver(log).pass({ facts, policy: () => allow('roles.retriever.crm', {}) }) as Forward;
  const restore = breakAuditWrites(store);
  assert.doesNotThrow(() => forward.done({ ms: 1 }));
  await new Promise((r) => setTimeout(r, 50));
  restore();
  await log.append({ kind: 'request' });
  assert.deepEqual(await verifyAudit(store), { ok: true, records: 2 });
  await store.close();
});

test('what is stored is what was hashed, even if the data object changes before the commit', async () => {
  const store = fresh();
  const log = await AuditLog.open(store);
  const data: Record<string, unknown> = { summary: 'SELECT 1', when: new Date(0), gone: undefined };
  log.enqueue({ kind: 'request', data });
  data.summary = 'DROP TABLE x';
  await log.durable();
  const [stored] = await store.readAudit(0, 1);
  assert.deepEqual(stored.data, { summary: 'SELECT 1', when: '1970-01-01T00:00:00.000Z' });
  assert.deepEqual(await verifyAudit(store), { ok: true, records: 1 });
  await store.close();
});

test('subscribers see records once committed, in order', async () => {
  const store = fresh();
  const log = await AuditLog.open(store);
  const seen: number[] = [];
  log.subscribe((r) => seen.push(r.seq));
  log.enqueue({ kind: 'a' });
  log.enqueue({ kind: 'b' });
  assert.deepEqual(seen, []);
  await log.durable();
  assert.deepEqual(seen, [1, 2]);
  await store.close();
});

test('a batch that does not continue the stored chain is refused (a second writer cannot fork it); the log fails closed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-group-'));
  const store = openSqliteStore(join(dir, 'g.db'));
  const log = await AuditLog.open(store);
  await log.append({ kind: 'gateway.start' });
  // A second writer takes record 2 behind the log's back: the log's own record 2 no longer continues the stored chain.
  const other = new Database(join(dir, 'g.db'));
  other.prepare(`INSERT INTO audit VALUES (2, 0, 'intruder', NULL, NULL, NULL, NULL, '{}', 'x', 'y')`).run();
  other.close();
  log.enqueue({ kind: 'request', data: { n: 1 } });
  await assert.rejects(log.durable()!, /record 2 does not continue the stored chain \(last stored: 2\)/);
  await assert.rejects(log.append({ kind: 'request' }), /does not continue the stored chain/, 'still refused: fail closed');
  assert.deepEqual((await store.readAudit(0, 10)).map((r) => r.kind), ['gateway.start', 'intruder']);
  await store.close();
});

test('a deferred record rides along with the next commit, or commits on its own within a few milliseconds; read() sees it at once', async () => {
  const store = fresh();
  const log = await AuditLog.open(store);
  log.defer({ kind: 'result', data: { n: 1 } });
  assert.equal((await store.readAudit(0, 10)).length, 0);
  log.enqueue({ kind: 'request', data: { n: 2 } });
  await log.durable();
  assert.deepEqual((await store.readAudit(0, 10)).map((r) => r.kind), ['result', 'request'], 'one commit carried both');
  log.defer({ kind: 'result', data: { n: 3 } });
  assert.deepEqual((await log.read(0, 10)).map((r) => r.seq), [1, 2, 3], 'a reader sees its own writes');
  log.defer({ kind: 'result', data: { n: 4 } });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal((await store.readAudit(0, 10)).length, 4, 'committed without anything to ride along with');
  assert.deepEqual(await verifyAudit(store), { ok: true, records: 4 });
  await store.close();
});

test('records queued in several turns while a commit is in flight go as one commit when it lands', async () => {
  const store = fresh();
  // A store whose commit takes a while (a network store waiting on its disk): each commit's batch size is recorded.
  const commits: number[] = [];
  let release!: () => void;
  const landed = new Promise<void>((resolve) => { release = resolve; });
  const slow = { ...store, appendAudit: async (rows: Parameters<typeof store.appendAudit>[0]) => {
    commits.push(rows.length);
    if (commits.length === 1) await landed;
    await store.appendAudit(rows);
  } };
  const log = await AuditLog.open(slow);
  log.enqueue({ kind: 'request', data: { n: 1 } });
  const first = log.durable()!;
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(commits, [1], 'the first commit is in flight');
  for (let n = 2; n <= 4; n++) {
    log.enqueue({ kind: 'request', data: { n } });
    await new Promise((resolve) => setImmediate(resolve));
  }
  const rest = log.durable()!;
  assert.deepEqual(commits, [1], 'nothing more is sent while the commit is in flight');
  release();
  await Promise.all([first, rest]);
  assert.deepEqual(commits, [1, 3], 'the three later records, queued in three turns, went in one commit');
  assert.deepEqual(await verifyAudit(store), { ok: true, records: 4 });
  await store.close();
});
