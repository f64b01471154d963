// The audit chain: every record links to the one before; altering, removing or reordering any of them is detected.
import Database from 'better-sqlite3';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AuditLog, verifyAudit } from '../src/services/audit/log.ts';
import { openSqliteStore } from '../src/services/store/sqlite.ts';

function freshStore() {
  const path = join(mkdtempSync(join(tmpdir(), 'gh-audit-')), 'g.db');
  return { path, store: openSqliteStore(path) };
}

async function fill(log: AuditLog, n: number) {
  for (let i = 0; i < n; i++) await log.append({ kind: 'request', sessionId: 'ses_1', tokenId: 'tok_1', connection: 'crm', verdict: i % 3 ? 'allow' : 'deny', data: { summary: `SELECT ${i}`, nested: { i } } });
}

test('an untouched chain verifies, across reopening the store', async () => {
  const { path, store } = freshStore();
  await fill(await AuditLog.open(store), 25);
  await store.close();
  const reopened = openSqliteStore(path);
  await fill(await AuditLog.open(reopened), 5); // continues the chain from the last stored hash
  assert.deepEqual(await verifyAudit(reopened, 7), { ok: true, records: 30 });
  await reopened.close();
});

for (const [what, tamper, reason] of [
  ['an altered record', (db: Database.Database) => db.prepare(`UPDATE audit SET data = json_set(data, '$.summary', 'SELECT 999') WHERE seq = 12`).run(), /altered/],
  ['an altered verdict', (db: Database.Database) => db.prepare(`UPDATE audit SET verdict = CASE verdict WHEN 'allow' THEN 'deny' ELSE 'allow' END WHERE seq = 12`).run(), /altered/],
  ['a removed record', (db: Database.Database) => db.prepare('DELETE FROM audit WHERE seq = 12').run(), /missing/],
  ['a re-hashed record', (db: Database.Database) => db.prepare(`UPDATE audit SET hash = '${'a'.repeat(64)}' WHERE seq = 12`).run(), /altered/],
] as const) {
  test(`${what} is detected and named`, async () => {
    const { path, store } = freshStore();
    await fill(await AuditLog.open(store), 20);
    await store.close();
    const db = new Database(path);
    tamper(db);
    db.close();
    const reopened = openSqliteStore(path);
    const result = await verifyAudit(reopened);
    assert.equal(result.ok, false);
    assert.equal(result.broken?.seq, 12);
    assert.match(result.broken!.reason, reason);
    assert.equal(result.records, 11);
    await reopened.close();
  });
}

test('a failed write throws, so the caller can refuse the request', async () => {
  const { store } = freshStore();
  const log = await AuditLog.open(store);
  await fill(log, 1);
  await store.close();
  await assert.rejects(log.append({ kind: 'request' }), /not open|closed/i);
});

test('subscribers see committed records in order', async () => {
  const { store } = freshStore();
  const log = await AuditLog.open(store);
  const seen: number[] = [];
  const off = log.subscribe((r) => seen.push(r.seq));
  await fill(log, 3);
  off();
  await fill(log, 1);
  assert.deepEqual(seen, [1, 2, 3]);
  await store.close();
});
