// WAL checkpoints run on a background thread, so no commit on the event loop pays for copying pages and flushing the
// disk; if that thread cannot run, the store says so and checkpoints as it commits again.
import assert from 'node:assert/strict';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AuditLog } from '../src/services/audit/log.ts';
import { startCheckpointer } from '../src/services/store/checkpointer.ts';
import { openSqliteStore } from '../src/services/store/sqlite.ts';

const sizeOf = (path: string) => statSync(path).size;

test('commits leave checkpoints to the background thread, which copies the WAL into the database within seconds', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'gh-ckpt-')), 'g.db');
  const store = openSqliteStore(path);
  const log = new AuditLog(store);
  const before = sizeOf(path);
  // Far more than SQLite's default checkpoint threshold (1,000 pages): left to the committing connection, one of
  // these commits would have copied the WAL into the database file itself.
  for (let i = 0; i < 300; i++) {
    for (let k = 0; k < 20; k++) log.enqueue({ kind: 'request', data: { n: i * 20 + k, text: 'x'.repeat(400) } });
    log.flush();
  }
  assert.ok(sizeOf(`${path}-wal`) > 4_000_000, 'the commits went to the WAL');
  assert.equal(sizeOf(path), before, 'no commit checkpointed on the event loop');
  const deadline = Date.now() + 5_000;
  while (sizeOf(path) === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.ok(sizeOf(path) > 2_000_000, 'the thread copied the committed pages into the database file');
  assert.equal(log.read(0, 10_000).length, 6_000);
  store.close();
});

test('a checkpoint thread that cannot open its database reports why', async () => {
  const reason = await new Promise<string>((resolve) => startCheckpointer(join(tmpdir(), 'no-such-dir', 'x', 'g.db'), resolve));
  assert.match(reason, /directory does not exist|unable to open database/);
});
