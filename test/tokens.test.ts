// Tokens: 256-bit, prefixed, stored only as hashes, with TTL and revocation that reaches listeners at once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Tokens, hashToken } from '../src/services/identity/tokens.ts';
import { scramParams } from '../src/services/identity/scram-keys.ts';
import { AuthThrottle } from '../src/services/identity/throttle.ts';
import { openSqliteStore } from '../src/services/store/sqlite.ts';

const setup = () => {
  const store = openSqliteStore(':memory:');
  return { store, tokens: new Tokens(store, new Set(['retriever', 'writer'])) };
};

test('minted tokens are prefixed, 256-bit, and stored only as a hash', async () => {
  const { store, tokens } = setup();
  const { token, record } = await tokens.mint({ role: 'retriever', label: 'rag', ttlSeconds: 60, createdBy: 'alice' });
  assert.match(token, /^gth_[A-Za-z0-9_-]{43}$/);
  assert.equal(Buffer.from(token.slice(4), 'base64url').length, 32);
  const stored = (await store.tokenById(record.id))!;
  assert.equal(stored.hash, hashToken(token));
  assert.ok(!JSON.stringify(stored).includes(token.slice(4)), 'the token itself must not be stored');
  assert.deepEqual(await tokens.check(token), { ok: true, token: stored });
});

test('unknown, malformed, expired and revoked tokens are refused with the reason', async () => {
  const { tokens } = setup();
  const live = await tokens.mint({ role: 'retriever', label: 'rag', ttlSeconds: 60, createdBy: 'a' });
  assert.deepEqual(await tokens.check('gth_' + 'A'.repeat(43)), { ok: false, reason: 'unknown' });
  assert.deepEqual(await tokens.check('not-a-token'), { ok: false, reason: 'unknown' });
  assert.deepEqual(await tokens.check(live.token, Date.now() + 61_000), { ok: false, reason: 'expired' });
  const seen: string[] = [];
  tokens.onRevoke((id) => seen.push(id));
  assert.equal(await tokens.revoke(live.record.id), true);
  assert.equal(await tokens.revoke(live.record.id), false);
  assert.deepEqual(seen, [live.record.id]);
  assert.deepEqual(await tokens.check(live.token), { ok: false, reason: 'revoked' });
});

test('mint refuses unknown roles and bad labels', async () => {
  const { tokens } = setup();
  await assert.rejects(tokens.mint({ role: 'root', label: 'x', ttlSeconds: 60, createdBy: 'a' }), /unknown role "root"/);
  await assert.rejects(tokens.mint({ role: 'writer', label: 'bad label!', ttlSeconds: 60, createdBy: 'a' }), /label/);
  await assert.rejects(tokens.mint({ role: 'writer', label: 'ok', ttlSeconds: 0, createdBy: 'a' }), /ttl/);
});

test('SCRAM candidates are the live tokens sharing a label, and share its salt', async () => {
  const { tokens } = setup();
  const a = await tokens.mint({ role: 'retriever', label: 'rag', ttlSeconds: 60, createdBy: 'a' });
  const b = await tokens.mint({ role: 'writer', label: 'rag', ttlSeconds: 60, createdBy: 'a' });
  await tokens.mint({ role: 'writer', label: 'other', ttlSeconds: 60, createdBy: 'a' });
  assert.deepEqual((await tokens.scramCandidates('rag')).map((t) => t.id).sort(), [a.record.id, b.record.id].sort());
  await tokens.revoke(a.record.id);
  assert.deepEqual((await tokens.scramCandidates('rag')).map((t) => t.id), [b.record.id]);
  assert.deepEqual((await tokens.deadTokensForUser('rag')).map((t) => t.id), [a.record.id]);
  assert.deepEqual(scramParams('rag'), scramParams('rag'));
  assert.notDeepEqual(scramParams('rag').salt, scramParams('other').salt);
});

test('revocations made by another process reach this one through the store', async () => {
  const { store, tokens } = setup();
  const other = new Tokens(store, new Set(['retriever']));
  const { record } = await tokens.mint({ role: 'retriever', label: 'rag', ttlSeconds: 60, createdBy: 'a' });
  const seen: string[] = [];
  tokens.onRevoke((id) => seen.push(id));
  await tokens.watch({ intervalMs: 20 });
  await other.revoke(record.id);
  await new Promise((r) => setTimeout(r, 120));
  await tokens.stop();
  assert.deepEqual(seen, [record.id]);
});

test('a checked token is trusted from memory only until it is revoked, here or elsewhere', async () => {
  const { store, tokens } = setup();
  const other = new Tokens(store, new Set(['retriever']));
  const here = await tokens.mint({ role: 'retriever', label: 'rag', ttlSeconds: 60, createdBy: 'a' });
  assert.equal((await tokens.check(here.token)).ok, true);
  await tokens.revoke(here.record.id);
  assert.deepEqual(await tokens.check(here.token), { ok: false, reason: 'revoked' }, 'revoked in this process: refused at once');

  const elsewhere = await tokens.mint({ role: 'retriever', label: 'rag', ttlSeconds: 60, createdBy: 'a' });
  assert.equal((await tokens.check(elsewhere.token)).ok, true);
  other.revoke(elsewhere.record.id);
  assert.deepEqual(await tokens.check(elsewhere.token, Date.now() + 1_001), { ok: false, reason: 'revoked' }, 'memory is trusted for a second at most');
  const third = await tokens.mint({ role: 'retriever', label: 'rag', ttlSeconds: 60, createdBy: 'a' });
  assert.equal((await tokens.check(third.token)).ok, true);
  await tokens.watch({ intervalMs: 20 });
  await other.revoke(third.record.id);
  await new Promise((r) => setTimeout(r, 120));
  await tokens.stop();
  assert.deepEqual(await tokens.check(third.token), { ok: false, reason: 'revoked' }, 'the watcher evicts what another process revoked');
  assert.deepEqual(await tokens.check(third.token, Date.now() + 61_000), { ok: false, reason: 'revoked' });
});

test('the auth throttle blocks one address after repeated failures, and only that one', () => {
  const t = new AuthThrottle({ maxFailures: 3, windowMs: 1000 });
  for (let i = 0; i < 3; i++) t.fail('10.0.0.1', 1000 + i);
  assert.equal(t.blocked('10.0.0.1', 1500), true);
  assert.equal(t.blocked('10.0.0.2', 1500), false);
  assert.equal(t.blocked('10.0.0.1', 2100), false);
});

test('the auth throttle keys on address and user name: one agent guessing does not throttle its neighbours', async () => {
  const t = new AuthThrottle({ maxFailures: 3, windowMs: 1000 });
  const guesser = AuthThrottle.key('127.0.0.1', 'mallory');
  const failures = [];
  for (const i of [1, 2, 3, 4, 5]) failures.push(await t.fail(guesser, 1000 + i));
  assert.deepEqual(failures.map((f) => [f.throttled, f.started]), [[false, false], [false, false], [false, true], [true, false], [true, false]],
    'the failure that reaches the limit starts the throttle (audited once); the attempts after it are throttled');
  assert.equal(t.blocked(guesser, 1100), true);
  assert.equal(t.blocked(AuthThrottle.key('127.0.0.1', 'rag'), 1100), false, 'another user name on the same host');
});

test('spreading guesses over many user names from one address throttles the address', () => {
  const t = new AuthThrottle({ maxFailures: 2, windowMs: 1000 });
  for (let i = 0; i < 10; i++) t.fail(AuthThrottle.key('10.9.9.9', `user${i}`), 1000);
  assert.equal(t.blocked(AuthThrottle.key('10.9.9.9', 'fresh-name'), 1001), true);
  assert.equal(t.blocked(AuthThrottle.key('10.9.9.8', 'fresh-name'), 1001), false);
});

test('the auth throttle remembers a bounded number of keys', () => {
  const t = new AuthThrottle({ maxFailures: 1, windowMs: 60_000, maxKeys: 100 });
  for (let i = 0; i < 10_000; i++) t.fail(`10.0.${i >> 8}.${i & 255}`, 1000);
  assert.equal(t.size, 100);
  assert.equal(t.blocked('10.0.39.15', 1001), true, 'the newest keys are kept');
});
