// Just-in-time approvals on the PostgreSQL path: a held statement waits on the wire until a person decides.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { signWebhook } from '../src/services/approvals/webhooks.ts';
import type { ApprovalRecord } from '../src/services/store/store.ts';
import { ADMIN_KEY, APPROVER_KEY, failure, sendCancel, startPgGateway, type PgGateway } from './support/pg.ts';
import { run } from './support/run.ts';

const cli = (gw: PgGateway, args: string[], key = APPROVER_KEY) =>
  run(process.execPath, ['bin/gatehouse.js', ...args], { GATEHOUSE_URL: gw.adminUrl, GATEHOUSE_ADMIN_KEY: key });

async function pendingApproval(gw: PgGateway): Promise<ApprovalRecord> {
  for (let i = 0; i < 100; i++) {
    const [pending] = await gw.gateway.services.approvals.list('pending');
    if (pending) return pending;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('no approval request appeared');
}

const count = async (gw: PgGateway) => {
  const c = await gw.client(await gw.token('writer', 'check'));
  return (await c.query('SELECT count(*)::int AS n FROM tickets')).rows[0].n as number;
};

test('a DELETE is held, approved from the CLI in another process, then executed exactly as asked', async () => {
  const webhookBodies: { body: string; signature: string; timestamp: string }[] = [];
  const hook = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => { webhookBodies.push({ body, signature: String(req.headers['x-gatehouse-signature']), timestamp: String(req.headers['x-gatehouse-timestamp']) }); res.end('ok'); });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', () => r()));
  const hookPort = (hook.address() as { port: number }).port;
  const gw = await startPgGateway('gatehouse_appr1', {
    approvals: `approvals:\n  webhooks:\n    - { url: "http://127.0.0.1:${hookPort}/hook", format: slack, secret: "webhook-secret-0123456789" }`,
  });
  try {
    const before = await count(gw);
    const c = await gw.client(await gw.token('holder', 'support'));
    const held = c.query('DELETE FROM tickets WHERE id = 3');
    const pending = await pendingApproval(gw);
    assert.equal(pending.summary, 'DELETE FROM tickets WHERE id = 3');
    assert.match(pending.reason, /delete/i);
    assert.equal(pending.label, 'support');
    assert.equal(await count(gw), before, 'nothing is forwarded before approval');

    const listed = await cli(gw, ['approvals', 'list', '--json']);
    assert.equal(listed.status, 0, listed.stderr);
    assert.deepEqual(JSON.parse(listed.stdout).map((a: ApprovalRecord) => a.id), [pending.id]);

    const self = await cli(gw, ['approvals', 'approve', pending.id], ADMIN_KEY);
    assert.equal(self.status, 1);
    assert.match(self.stderr, /nobody approves their own request/);

    const approved = await cli(gw, ['approvals', 'approve', pending.id, '--reason', 'ticket is a duplicate']);
    assert.equal(approved.status, 0, approved.stderr);
    const result = await held;
    assert.equal(result.rowCount, 1);
    assert.equal(await count(gw), before - 1);

    const again = await cli(gw, ['approvals', 'approve', pending.id]);
    assert.equal(again.status, 1, 'an approval is single-use');
    const kinds = (await gw.gateway.services.audit.read(0, 10_000)).map((r) => r.kind);
    for (const k of ['approval.requested', 'approval.approved', 'approval.forwarded']) assert.ok(kinds.includes(k), k);

    assert.equal(webhookBodies.length, 1);
    const { body, signature, timestamp } = webhookBodies[0];
    assert.equal(signature, signWebhook('webhook-secret-0123456789', timestamp, body));
    const slack = JSON.parse(body);
    assert.match(slack.text, /support \(role holder\)/);
    assert.ok(JSON.stringify(slack.blocks).includes(`#/approvals/${pending.id}`));
  } finally {
    await gw.close();
    hook.close();
  }
});

test('denied and expired requests are refused with the id and the reason; the session goes on', async () => {
  // Time enough for a person (here the CLI, a process of its own on a loaded machine) to deny the first request.
  const gw = await startPgGateway('gatehouse_appr2', { approvals: 'approvals:\n  timeout: 15s' });
  try {
    const c = await gw.client(await gw.token('holder', 'support'));
    const held = failure(c.query('DELETE FROM tickets WHERE id = 2'));
    const pending = await pendingApproval(gw);
    const denied = await cli(gw, ['approvals', 'deny', pending.id, '--reason', 'customers need that ticket']);
    assert.equal(denied.status, 0, denied.stderr);
    const e = await held;
    assert.equal(e.code, '42501');
    assert.match(e.message, new RegExp(`${pending.id} was denied by bob: customers need that ticket`));
    assert.equal((await c.query('SELECT count(*)::int AS n FROM tickets')).rows[0].n, 3);
  } finally {
    await gw.close();
  }
  const quick = await startPgGateway('gatehouse_appr2', { approvals: 'approvals:\n  timeout: 1s' });
  try {
    const c = await quick.client(await quick.token('holder', 'support'));
    const expired = await failure(c.query('DELETE FROM tickets WHERE id = 1'));
    assert.match(expired.message, /expired before anyone approved it/);
    assert.equal((await quick.gateway.services.approvals.list('expired')).length, 1);
    assert.equal((await c.query('SELECT count(*)::int AS n FROM tickets')).rows[0].n, 3, 'the session goes on');
  } finally {
    await quick.close();
  }
});

test('a CancelRequest from the client withdraws a held statement', async () => {
  const gw = await startPgGateway('gatehouse_appr3');
  try {
    const c = await gw.client(await gw.token('holder', 'support'));
    const held = failure(c.query('DELETE FROM tickets'));
    const pending = await pendingApproval(gw);
    await sendCancel(gw, c);
    const e = await held;
    assert.equal(e.code, '57014');
    assert.equal((await gw.gateway.services.approvals.get(pending.id))?.status, 'withdrawn');
    const late = await cli(gw, ['approvals', 'approve', pending.id]);
    assert.equal(late.status, 1, 'a withdrawn request cannot be approved');
    assert.equal((await c.query('SELECT count(*)::int AS n FROM tickets')).rows[0].n, 3);
  } finally {
    await gw.close();
  }
});

test('async mode: refused with an id; after approval the identical statement goes through once', async () => {
  const gw = await startPgGateway('gatehouse_appr4', { approvals: 'approvals:\n  mode: async' });
  try {
    const c = await gw.client(await gw.token('holder', 'support'));
    const first = await failure(c.query('DELETE FROM tickets WHERE id = 1'));
    assert.equal(first.code, '42501');
    const id = /apr_[0-9a-f]+/.exec(first.message)?.[0];
    assert.ok(id, first.message);
    const other = await failure(c.query('DELETE FROM tickets WHERE id = 2'));
    assert.match(other.message, /pending/, 'a different statement needs its own approval');
    assert.equal((await cli(gw, ['approvals', 'approve', id])).status, 0);
    assert.equal((await c.query('DELETE FROM tickets WHERE id = 1')).rowCount, 1);
    const twice = await failure(c.query('DELETE FROM tickets WHERE id = 1'));
    assert.match(twice.message, /pending/, 'the approval was single-use');
  } finally {
    await gw.close();
  }
});

test('an approval window covers the identical statement for a while; a restart fails held requests', async () => {
  const store = `sqlite:${join(mkdtempSync(join(tmpdir(), 'gh-appr-')), 'g.db')}`;
  let gw = await startPgGateway('gatehouse_appr5', { approvals: 'approvals:\n  mode: async', store });
  const t = await gw.token('holder', 'support');
  let c = await gw.client(t);
  const first = await failure(c.query("DELETE FROM tickets WHERE status = 'spam'"));
  const id = /apr_[0-9a-f]+/.exec(first.message)![0];
  assert.equal((await cli(gw, ['approvals', 'approve', id, '--for', '10m'])).status, 0);
  assert.equal((await c.query("DELETE FROM tickets WHERE status = 'spam'")).rowCount, 0);
  assert.equal((await c.query("DELETE FROM tickets WHERE status = 'spam'")).rowCount, 0, 'still inside the window');
  await failure(c.query('DELETE FROM tickets WHERE id = 3')); // leaves a pending request behind
  await gw.close();

  gw = await startPgGateway('gatehouse_appr5', { approvals: 'approvals:\n  mode: async', store, fresh: false });
  try {
    assert.equal((await gw.gateway.services.approvals.list('pending')).length, 0);
    const failed = await gw.gateway.services.approvals.list('failed');
    assert.equal(failed.length, 1);
    assert.equal(failed[0].summary, 'DELETE FROM tickets WHERE id = 3');
    assert.ok((await gw.gateway.services.audit.read(0, 10_000)).some((r) => r.kind === 'approval.failed' && r.data.id === failed[0].id));
    c = await gw.client(t);
    assert.equal((await c.query('SELECT count(*)::int AS n FROM tickets')).rows[0].n, 3);
  } finally {
    await gw.close();
  }
});
