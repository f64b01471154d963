// Signed checkpoints anchor the audit chain outside the store: whoever can write the store can re-hash a consistent
// chain, but cannot make it reach what was signed. Every way of shortening, rewriting or rolling it back is named.
import Database from 'better-sqlite3';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { generateKeyPairSync, hash } from 'node:crypto';
import { appendFileSync, chmodSync, copyFileSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkCheckpointFile, storeChains } from '../src/services/audit/anchor.ts';
import { generateSigningKey, loadPublicKey, parseCheckpoints, signCheckpoint, type Checkpoint } from '../src/services/audit/checkpoint.ts';
import { startCheckpoints } from '../src/services/audit/checkpoints.ts';
import { AuditLog } from '../src/services/audit/log.ts';
import { GENESIS } from '../src/services/store/audit-table.ts';
import { openSqliteStore } from '../src/services/store/sqlite.ts';
import { lintConfig } from '../src/config/lint.ts';
import { parseConfig, type ConfigError } from '../src/config/load.ts';
import { startGateway } from '../src/main.ts';
import { silent } from './support/log.ts';
import { run } from './support/run.ts';

function keyed() {
  const dir = mkdtempSync(join(tmpdir(), 'gh-cp-'));
  const made = generateSigningKey(join(dir, 'signing.key'));
  return { dir, key: made.privatePath, pub: made.publicPath, file: join(dir, 'checkpoints.log'), db: join(dir, 'g.db') };
}

const record = (i: number) => ({ kind: 'request', sessionId: 'ses_1', tokenId: 'tok_1', connection: 'crm', verdict: i % 3 ? 'allow' : 'deny', data: { summary: `SELECT ${i}` } });

/** A store with `n` records, checkpointed every 10 and once more at a graceful stop. */
async function checkpointed(n: number, at = keyed()) {
  const store = openSqliteStore(at.db);
  const audit = (await AuditLog.open(store));
  const { checkpointer } = await startCheckpoints({ key: at.key, file: at.file, every: 10, interval: '1h', stdout: false }, { store, feed: audit, log: silent, baseDir: at.dir });
  for (let i = 1; i <= n; i++) {
    await audit.append(record(i));
    if (i % 10 === 0) {
      await new Promise((r) => setImmediate(r)); // the checkpoint starts on the next turn
      await checkpointer.idle();
    }
  }
  await checkpointer.stop();
  await store.close();
  return at;
}

async function check(at: ReturnType<typeof keyed>, file = at.file) {
  const store = openSqliteStore(at.db);
  try {
    return await checkCheckpointFile(readFileSync(file, 'utf8'), loadPublicKey(at.pub), storeChains(store));
  } finally {
    await store.close();
  }
}

/** Re-numbers and re-hashes every record, as someone with write access to the store would. */
function rehash(db: Database.Database) {
  const rows = db.prepare('SELECT * FROM audit ORDER BY seq').all() as { seq: number; ts: number; kind: string; session_id: string | null; token_id: string | null; connection: string | null; verdict: string | null; data: string }[];
  db.prepare('DELETE FROM audit').run();
  const insert = db.prepare('INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
  let prev = GENESIS;
  rows.forEach((r, i) => {
    const seq = i + 1;
    const body = JSON.stringify([seq, r.ts, r.kind, r.session_id, r.token_id, r.connection, r.verdict, JSON.parse(r.data)]);
    const h = hash('sha256', `${prev}\n${body}`, 'hex');
    insert.run(seq, r.ts, r.kind, r.session_id, r.token_id, r.connection, r.verdict, r.data, prev, h);
    prev = h;
  });
}

function tamper(at: ReturnType<typeof keyed>, how: (db: Database.Database) => void) {
  const db = new Database(at.db);
  how(db);
  db.close();
}

test('checkpoints are signed every N records and at a graceful stop; an untouched chain reaches them', async () => {
  const at = await checkpointed(25);
  const lines = parseCheckpoints(readFileSync(at.file, 'utf8'));
  assert.deepEqual(lines.map((l) => l.checkpoint?.seq), [10, 20, 25]);
  const report = await check(at);
  assert.equal(report.ok, true, JSON.stringify(report));
  assert.equal(report.checkpoints, 3);
  assert.equal(report.chains[0].reaches, true);
  assert.match(report.chains[0].detail, /reaches its latest checkpoint \(#25\)/);
});

test('deleting the newest records is named with the missing sequence numbers', async () => {
  const at = await checkpointed(25);
  tamper(at, (db) => db.prepare('DELETE FROM audit WHERE seq > 21').run());
  const report = await check(at);
  assert.equal(report.ok, false);
  assert.deepEqual(report.chains[0].missing, { from: 22, to: 25 });
  assert.match(report.chains[0].detail, /records #22–#25 are missing/);
});

test('deleting a middle record and re-hashing the rest is named: rewritten, and the last record missing', async () => {
  const at = await checkpointed(25);
  tamper(at, (db) => { db.prepare('DELETE FROM audit WHERE seq = 12').run(); rehash(db); });
  const report = await check(at);
  assert.equal(report.ok, false);
  assert.deepEqual(report.chains[0].rewritten, { after: 10, upTo: 20 });
  assert.deepEqual(report.chains[0].missing, { from: 25, to: 25 });
  assert.match(report.chains[0].detail, /rewritten from a record in #11–#20/);
});

test('flipping a refusal to an allow and re-hashing everything after it is named', async () => {
  const at = await checkpointed(25);
  tamper(at, (db) => { db.prepare(`UPDATE audit SET verdict = 'allow' WHERE seq = 15 AND verdict = 'deny'`).run(); rehash(db); });
  const report = await check(at);
  assert.equal(report.ok, false);
  assert.deepEqual(report.chains[0].rewritten, { after: 10, upTo: 20 });
  assert.equal(report.chains[0].missing, undefined);
});

test('emptying the table is named: every checkpointed record is missing', async () => {
  const at = await checkpointed(25);
  tamper(at, (db) => db.prepare('DELETE FROM audit').run());
  const report = await check(at);
  assert.equal(report.ok, false);
  assert.equal(report.chains[0].head, 0);
  assert.deepEqual(report.chains[0].missing, { from: 1, to: 25 });
});

test('restoring an older copy of the store is named, and so is writing on after the restore', async () => {
  const at = keyed();
  await checkpointed(10, at);
  copyFileSync(at.db, `${at.db}.old`);
  // Continue the same chain to 25 (checkpoints at 20 and 25), then put the old copy back.
  const store = openSqliteStore(at.db);
  const audit = (await AuditLog.open(store));
  const { checkpointer } = await startCheckpoints({ key: at.key, file: at.file, every: 10, interval: '1h', stdout: false }, { store, feed: audit, log: silent, baseDir: at.dir });
  for (let i = 11; i <= 25; i++) {
    await audit.append(record(i));
    await new Promise((r) => setImmediate(r));
    await checkpointer.idle();
  }
  await checkpointer.stop();
  await store.close();
  copyFileSync(`${at.db}.old`, at.db);
  const rolledBack = await check(at);
  assert.equal(rolledBack.ok, false);
  assert.deepEqual(rolledBack.chains[0].missing, { from: 11, to: 25 });

  // The gateway restarted on the old copy says so at start-up, and a chain written on past #25 still fails.
  const errors: unknown[] = [];
  const log = Object.assign(Object.create(silent) as typeof silent, { error: (o: unknown) => errors.push(o) });
  const again = openSqliteStore(at.db);
  const audit2 = (await AuditLog.open(again));
  const started = await startCheckpoints({ key: at.key, file: at.file, every: 10, interval: '1h', stdout: false }, { store: again, feed: audit2, log, baseDir: at.dir });
  assert.equal(started.atStart?.reaches, false);
  assert.equal(errors.length, 1);
  for (let i = 11; i <= 40; i++) {
    await audit2.append(record(100 + i));
    await new Promise((r) => setImmediate(r));
    await started.checkpointer.idle();
  }
  await started.checkpointer.stop();
  await again.close();
  const writtenOn = await check(at);
  assert.equal(writtenOn.ok, false);
  assert.equal(writtenOn.chains[0].missing, undefined);
  assert.deepEqual(writtenOn.chains[0].rewritten, { after: 10, upTo: 20 });
});

test('a checkpoint forged with another key, or altered, is named and fails verification', async () => {
  const at = await checkpointed(25);
  const other = generateKeyPairSync('ed25519').privateKey;
  const forged = signCheckpoint(other, { node: 'x', seq: 9, hash: 'a'.repeat(64), ts: Date.now() });
  const genuine = parseCheckpoints(readFileSync(at.file, 'utf8'))[0].checkpoint!;
  const altered: Checkpoint = { ...genuine, seq: 3 };
  appendFileSync(at.file, `${JSON.stringify(forged)}\n${JSON.stringify(altered)}\nnot json\n`);
  const report = await check(at);
  assert.equal(report.ok, false);
  assert.equal(report.checkpoints, 3);
  assert.match(report.problems[0], /line 4: the checkpoint of record #9 is not signed by this public key/);
  assert.match(report.problems[1], /line 5: the checkpoint of record #3 is not signed by this public key/);
  assert.match(report.problems[2], /line 6: not a well-formed checkpoint/);
});

test('a crash between a commit and its checkpoint raises no false alarm (torn last line included)', async () => {
  const at = keyed();
  // A real process, killed with SIGKILL: records 11-13 are committed, their checkpoint never written, the last line torn.
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/checkpoint-crash.ts', at.dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const signal = await new Promise((resolve) => child.on('exit', (_code, sig) => resolve(sig)));
  assert.equal(signal, 'SIGKILL', stderr);
  const report = await check(at);
  assert.equal(report.ok, true, JSON.stringify(report));
  assert.equal(report.chains[0].head, 13);
  assert.equal(report.chains[0].checkpoint.seq, 10);
  assert.match(report.chains[0].detail, /3 later record\(s\) not checkpointed yet/);
  assert.match(report.notes[0], /incomplete/);
});

test('the signing key must be private and Ed25519; keygen never overwrites a key', async () => {
  const at = keyed();
  assert.equal(statSync(at.key).mode & 0o777, 0o600);
  chmodSync(at.key, 0o644);
  const store = openSqliteStore(':memory:');
  await assert.rejects(startCheckpoints({ key: at.key, file: at.file, every: 10, interval: '1h', stdout: false }, { store, feed: (await AuditLog.open(store)), log: silent, baseDir: at.dir }),
    /audit\.checkpoints\.key: .*readable by others \(mode 0644\)/);
  const rsa = join(at.dir, 'rsa.key');
  writeFileSync(rsa, generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  await assert.rejects(startCheckpoints({ key: rsa, file: at.file, every: 10, interval: '1h', stdout: false }, { store, feed: (await AuditLog.open(store)), log: silent, baseDir: at.dir }),
    /audit\.checkpoints\.key: .*rsa key, not Ed25519/);
  await store.close();
  const again = await run(process.execPath, ['bin/gatehouse.js', 'audit', 'keygen', '--out', at.key]);
  assert.equal(again.status, 2);
  assert.match(again.stderr, /exists: not overwriting/);
});

test('a gateway writes checkpoints to its file, stdout and webhook; audit verify --checkpoints passes, then names a truncation', async () => {
  const at = keyed();
  const posted: Checkpoint[] = [];
  const hook = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => { posted.push(JSON.parse(body) as Checkpoint); res.end('ok'); });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  const hookUrl = `http://127.0.0.1:${(hook.address() as { port: number }).port}/checkpoints`;
  const adminKey = 'admin-key-0123456789abcdef';
  const yaml = `admin: { listen: 127.0.0.1:0, keys: [{ name: root, key: ${adminKey}, roles: [admin] }] }
store: sqlite:${at.db}
audit:
  checkpoints: { key: ./signing.key, file: ./checkpoints.log, every: 5, interval: 1h, webhook: "${hookUrl}", node: gw-1 }
`;
  const out: string[] = [];
  const start = () => startGateway(parseConfig(yaml, 'test', {}), { log: silent, baseDir: at.dir, checkpointOut: (l) => out.push(l) });
  const verifyApi = async (url: string) => (await (await fetch(`${url}/v1/audit/verify`, { headers: { authorization: `Bearer ${adminKey}` } })).json()) as { checkpoint: { seq: number; reaches: boolean; detail: string } };
  const args = ['bin/gatehouse.js', 'audit', 'verify', '--checkpoints', at.file, '--public-key', at.pub];
  let gw = await start();
  try {
    for (let i = 0; i < 12; i++) {
      await gw.services.audit.append(record(i));
      await new Promise((r) => setImmediate(r));
      await gw.services.checkpoints!.idle();
    }
    await gw.services.checkpoints!.checkpoint();
    const file = parseCheckpoints(readFileSync(at.file, 'utf8')).map((l) => l.checkpoint!);
    assert.deepEqual(file.map((c) => c.seq), [5, 10, 13]); // gateway.start + 12 records
    assert.equal(file[0].node, 'gw-1');
    assert.deepEqual(out.map((l) => (JSON.parse(l) as Checkpoint).seq), [5, 10, 13]);
    for (let i = 0; i < 100 && posted.length < 3; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(posted.map((c) => c.seq).sort((a, b) => a - b), [5, 10, 13]);

    const env = { GATEHOUSE_URL: gw.adminUrl, GATEHOUSE_ADMIN_KEY: adminKey };
    const good = await run(process.execPath, args, env);
    assert.equal(good.status, 0, good.stdout + good.stderr);
    assert.match(good.stdout, /chain of node gw-1: OK: reaches its latest checkpoint \(#13\)/);
    assert.deepEqual([(await verifyApi(gw.adminUrl)).checkpoint.seq, (await verifyApi(gw.adminUrl)).checkpoint.reaches], [13, true]);
  } finally {
    await gw.close(); // gateway.stop is #14, checkpointed at the stop
  }
  // Someone with the store's file deletes the newest records while the gateway is down.
  tamper(at, (db) => db.prepare('DELETE FROM audit WHERE seq > 11').run());
  gw = await start();
  try {
    const env = { GATEHOUSE_URL: gw.adminUrl, GATEHOUSE_ADMIN_KEY: adminKey };
    const bad = await run(process.execPath, args, env);
    assert.equal(bad.status, 1, bad.stdout);
    assert.match(bad.stdout, /audit chain verified: 12 records/); // the chain alone looks whole (gateway.start came after)
    assert.match(bad.stdout, /chain of node gw-1: TRUNCATED OR ROLLED BACK: records #13–#14 are missing/);
    const api = await verifyApi(gw.adminUrl);
    assert.equal(api.checkpoint.seq, 14);
    assert.equal(api.checkpoint.reaches, false);
    assert.match(api.checkpoint.detail, /records #13–#14 are missing/);
  } finally {
    await gw.close();
    hook.close();
  }
});

test('bad checkpoint settings are named by key; policy check warns when no copy leaves the host; an unwritable file stops the start', async () => {
  const problems = (yaml: string) => {
    try { parseConfig(yaml, 'g.yaml', {}); return []; } catch (err) { return (err as ConfigError).problems.map((p) => `${p.path}: ${p.message}`); }
  };
  assert.match(problems('audit:\n  checkpoints: { key: k, file: f, every: 0 }\n').join('\n'), /audit\.checkpoints\.every/);
  assert.match(problems('audit:\n  checkpoints: { key: k, file: f, interval: soon }\n').join('\n'), /audit\.checkpoints\.interval/);
  assert.match(problems('audit:\n  checkpoints: { file: f }\n').join('\n'), /audit\.checkpoints\.key/);
  assert.match(problems('audit:\n  checkpoints: { key: k, file: f, node: "a b" }\n').join('\n'), /audit\.checkpoints\.node/);
  const local = lintConfig(parseConfig('audit:\n  checkpoints: { key: k, file: f, stdout: false }\n', 'g.yaml', {}));
  assert.deepEqual(local.filter((f) => f.path === 'audit.checkpoints').map((f) => f.severity), ['warning']);
  const shipped = lintConfig(parseConfig('audit:\n  checkpoints: { key: k, file: f }\n', 'g.yaml', {}));
  assert.equal(shipped.filter((f) => f.path.startsWith('audit.')).length, 0);

  const at = keyed();
  const store = openSqliteStore(':memory:');
  await assert.rejects(startCheckpoints({ key: at.key, file: join(at.dir, 'no-such-dir', 'cp.log'), every: 10, interval: '1h', stdout: false }, { store, feed: (await AuditLog.open(store)), log: silent, baseDir: at.dir }),
    /audit\.checkpoints\.file: cannot append/);
  await store.close();
});
