// The gate every adapter stands on: admission, sessions, the order facts → policy → approval → durable audit → outcome.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { APPROVAL_PENDING, AUDIT_UNAVAILABLE, Gate, type Forward, type Held, type Outcome } from '../src/pipeline/gate.ts';
import type { Facts } from '../src/services/policy/facts.ts';
import { allow, deny, hold } from '../src/services/policy/verdict.ts';
import { verifyAudit } from '../src/services/audit/log.ts';
import type { HttpGrant } from '../src/config/schema.ts';
import type { TokenRecord } from '../src/services/store/store.ts';
import { breakAuditWrites } from './support/audit.ts';
import { gateway, auditRecords } from './helpers/gateway.ts';

type Gw = Awaited<ReturnType<typeof gateway>>;
let gw: Gw;
let gate: Gate;
const APPROVER = { name: 'bob', key: 'x'.repeat(16), roles: ['approver' as const] };

before(async () => {
  gw = await gateway(`
approvals:
  timeout: 2s
connections:
  api:
    kind: http
    listen: 127.0.0.1:0
    upstream: http://127.0.0.1:9
roles:
  agent:
    api:
      allow: ["GET /x"]
  outsider: {}
`);
  gate = new Gate(gw.services);
});
after(() => gw.close());

const facts = (summary: string): Facts => ({ protocol: 'http', connection: 'api', effect: 'read', summary, targets: [] });
const tokenOf = async (id: string) => (await gw.services.tokens.byId(id))!;
const address = '127.0.0.9';

async function session(role = 'agent', label = 'agent') {
  const minted = await gw.mint(role, label);
  const cuts: string[] = [];
  const s = await gate.open({ token: await tokenOf(minted.id), connection: 'api', protocol: 'http', client: `${address}:1`, runId: 'run-1', step: 'fetch' }, (r) => cuts.push(r));
  return { s, cuts, minted };
}

test('admit: a missing, unknown or revoked token is refused and audited; a role without a grant is refused; a good one passes', async () => {
  assert.deepEqual(await gate.admit('api', { address }), { ok: false, reason: 'missing', message: 'missing Gatehouse token' });
  const unknown = await gate.admit('api', { secret: 'gth_' + 'A'.repeat(43), address });
  assert.equal(unknown.ok, false);
  assert.equal(!unknown.ok && unknown.reason, 'unknown');
  const revoked = await gw.mint('agent');
  await gw.services.tokens.revoke(revoked.id);
  const r = await gate.admit('api', { secret: revoked.token, address });
  assert.equal(!r.ok && r.reason, 'revoked');
  const outsider = await gate.admit('api', { secret: (await gw.mint('outsider')).token, address });
  assert.equal(!outsider.ok && outsider.reason, 'no-grant');
  assert.match(!outsider.ok ? outsider.message : '', /role "outsider" has no grant on connection "api"/);
  const good = await gate.admit<HttpGrant>('api', { secret: (await gw.mint('agent')).token, address });
  assert.ok(good.ok && good.grant.allow.length === 1);
  const kinds = (await auditRecords(gw)).filter((a) => a.kind.startsWith('auth.')).map((a) => `${a.kind}:${a.data.reason}`);
  assert.deepEqual(kinds, ['auth.failure:missing', 'auth.failure:unknown', 'auth.failure:revoked', 'auth.refused:no-grant']);
});

test('authenticate: the verifier picks the token; a dead token says why; an unmatched proof is a plain failure', async () => {
  const live = await gw.mint('agent', 'verifier');
  const dead = await gw.mint('agent', 'verifier');
  await gw.services.tokens.revoke(dead.id);
  const pick = (id: string) => (candidates: TokenRecord[]) => candidates.find((t) => t.id === id);
  const ok = await gate.authenticate('api', { user: 'verifier', address }, pick(live.id));
  assert.ok(ok.ok && ok.token.id === live.id);
  const gone = await gate.authenticate('api', { user: 'verifier', address }, pick(dead.id));
  assert.equal(!gone.ok && gone.reason, 'revoked');
  assert.match(!gone.ok ? gone.message : '', new RegExp(`token ${dead.id} \\(verifier\\) has been revoked`));
  const wrong = await gate.authenticate('api', { user: 'verifier', address }, () => undefined);
  assert.deepEqual(wrong, { ok: false, reason: 'unknown', message: 'password authentication failed for user "verifier"' });
});

test('pass: allow forwards only once its record is committed; the result record points at it; run and step land', async () => {
  const { s } = await session();
  const before = (await gw.services.store.lastAudit())!.seq;
  const pending = s.pass({ facts: facts('GET /x'), policy: () => allow('GET /x', { maxRows: 5 }) });
  assert.equal((await gw.services.store.lastAudit())!.seq, before, 'not committed yet within the turn');
  const o = await pending as Forward;
  assert.equal(o.kind, 'forward');
  assert.deepEqual(o.obligations, { maxRows: 5 });
  const request = (await gw.services.store.lastAudit())!;
  assert.equal(request.kind, 'request');
  assert.equal(request.verdict, 'allow');
  o.done({ status: 200 });
  const result = (await auditRecords(gw)).at(-1)!;
  assert.deepEqual([result.kind, result.data.request, result.data.status], ['result', request.seq, 200]);
  const opened = (await auditRecords(gw)).find((a) => a.kind === 'session.open' && a.sessionId === s.ctx.sessionId)!;
  assert.deepEqual([opened.data.runId, opened.data.step], ['run-1', 'fetch']);
  s.close('done');
});

test('pass: a deny, an unknown request and a throwing policy are refused with their rule, and audited', async () => {
  const { s } = await session();
  const outcomes = await Promise.all([
    s.pass({ facts: facts('GET /y'), policy: () => deny('http.allow', 'no grant for GET /y') }),
    s.pass({ facts: { ...facts('BLAH'), unknown: 'garbled' }, policy: () => allow('x') }),
    s.pass({ facts: facts('GET /z'), policy: () => { throw new Error('boom'); } }),
  ]);
  assert.deepEqual(outcomes.map((o) => o.kind === 'refuse' && o.rule), ['http.allow', 'unknown', 'policy.error']);
  const verdicts = (await auditRecords(gw)).filter((a) => a.kind === 'request' && a.sessionId === s.ctx.sessionId).map((a) => a.verdict);
  assert.deepEqual(verdicts, ['deny', 'deny', 'deny']);
  s.close('done');
});

test('pass: requests judged in one turn share one commit (a pipeline)', async () => {
  const { s } = await session();
  const store = gw.services.store;
  const appendAudit = store.appendAudit;
  let commits = 0;
  store.appendAudit = (rows) => { commits++; return appendAudit(rows); };
  try {
    const all = await Promise.all([1, 2, 3, 4].map((n) => s.pass({ facts: facts(`GET /x?${n}`), policy: () => allow('GET /x') })));
    assert.ok(all.every((o) => o.kind === 'forward'));
    assert.equal(commits, 1);
  } finally {
    store.appendAudit = appendAudit;
  }
  s.close('done');
});

test('pass: nothing is forwarded when the audit record cannot be written', async () => {
  const { s } = await session();
  const restore = breakAuditWrites(gw.services.store);
  let o: Outcome;
  try {
    o = await s.pass({ facts: facts('GET /x'), policy: () => allow('GET /x') });
  } finally {
    restore();
  }
  assert.equal(o.kind, 'refuse');
  assert.equal(o.kind === 'refuse' && o.rule, AUDIT_UNAVAILABLE);
  assert.match(o.kind === 'refuse' ? o.message : '', /audit record could not be written/);
  assert.doesNotMatch(o.kind === 'refuse' ? o.message : '', /disk full/, "the store's words (a path, a host and port) stay in the operator's log");
  s.close('done');
});

const held = async (s: Awaited<ReturnType<typeof session>>['s'], summary: string) => {
  const o = await s.pass({ facts: facts(summary), policy: () => hold('POST /refunds', 'approve rule "POST /refunds"') });
  assert.equal(o.kind, 'held');
  return o as Held;
};

test('hold → approve forwards exactly once (audited); → deny and → timeout refuse', async () => {
  const { s } = await session();
  const h = await held(s, 'POST /refunds 1');
  await gw.services.approvals.decide(h.approval, APPROVER, 'approve', 'fine');
  const approved = await h.settled;
  assert.equal(approved.kind, 'forward');
  assert.equal((await gw.services.approvals.get(h.approval))!.status, 'used');
  assert.ok((await auditRecords(gw)).some((a) => a.kind === 'approval.forwarded' && a.data.id === h.approval));

  const d = await held(s, 'POST /refunds 2');
  await gw.services.approvals.decide(d.approval, APPROVER, 'deny', 'no');
  const denied = await d.settled;
  assert.deepEqual(denied.kind === 'refuse' && [denied.rule, denied.approval], ['approval.denied', d.approval]);
  assert.match(denied.kind === 'refuse' ? denied.message : '', /was denied by bob: no/);

  const t = await held(s, 'POST /refunds 3');
  const expired = await t.settled;
  assert.equal(expired.kind === 'refuse' && expired.rule, 'approval.expired');
  s.close('done');
});

test('hold → withdraw refuses at once; revocation withdraws what is held and cuts the session', async () => {
  const { s, cuts, minted } = await session();
  const w = await held(s, 'POST /refunds w');
  w.withdraw('cancelled by the client');
  const withdrawn = await w.settled;
  assert.equal(withdrawn.kind === 'refuse' && withdrawn.rule, 'approval.withdrawn');

  const r = await held(s, 'POST /refunds r');
  await gw.services.tokens.revoke(minted.id);
  const revoked = await r.settled;
  assert.equal(revoked.kind === 'refuse' && revoked.rule, 'approval.withdrawn');
  assert.deepEqual(cuts, ['token revoked']);
});

test('hold → detach leaves it pending; once approved, the identical request passes once, and only once', async () => {
  const { s } = await session();
  const h = await held(s, 'POST /refunds detach');
  h.detach();
  await gw.services.approvals.decide(h.approval, APPROVER, 'approve');
  assert.equal((await gw.services.approvals.get(h.approval))!.status, 'approved', 'nobody forwarded it');
  const retry = await s.pass({ facts: facts('POST /refunds detach'), policy: () => hold('POST /refunds', 'approve rule') });
  assert.equal(retry.kind, 'forward');
  const again = await s.pass({ facts: facts('POST /refunds detach'), policy: () => hold('POST /refunds', 'approve rule') });
  assert.equal(again.kind, 'held', 'the approval was used up');
  (again as Held).withdraw('test over');
  s.close('done');
});

test('async approvals: a hold is refused at once with the request id, and the identical retry after approval passes', async () => {
  const async = await gateway(`
approvals:
  mode: async
connections:
  api: { kind: http, listen: "127.0.0.1:0", upstream: "http://127.0.0.1:9" }
roles:
  agent:
    api: { allow: ["POST /refunds"] }
`);
  try {
    const g = new Gate(async.services);
    const minted = await async.mint('agent');
    const s = await g.open({ token: (await async.services.tokens.byId(minted.id))!, connection: 'api', protocol: 'http', client: 'c' }, () => undefined);
    const ask = { facts: facts('POST /refunds'), policy: () => hold('POST /refunds', 'approve rule "POST /refunds"') };
    const first = await s.pass(ask);
    assert.equal(first.kind === 'refuse' && first.rule, APPROVAL_PENDING);
    assert.match(first.kind === 'refuse' ? first.message : '', /approval request apr_\w+ is pending/);
    await async.services.approvals.decide(first.kind === 'refuse' ? first.approval! : '', APPROVER, 'approve');
    assert.equal((await s.pass(ask)).kind, 'forward');
    s.close('done');
    assert.equal((await verifyAudit(async.services.store)).ok, true);
  } finally {
    await async.close();
  }
});
