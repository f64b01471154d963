// The conformance suite: what makes an adapter a Gatehouse adapter, asserted the same way for every protocol, through
// its real listener and a real client (as Hono runs one router suite over every router). Every adapter joins it the day
// it is added: a driver in test/conformance/ and one line below.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { parseConfig } from '../src/config/load.ts';
import { startGateway, type Gateway } from '../src/main.ts';
import { verifyAudit } from '../src/services/audit/log.ts';
import { auditRecords } from './helpers/gateway.ts';
import { breakAuditWrites } from './support/audit.ts';
import { testStore } from './support/store.ts';
import type { Driver } from './conformance/driver.ts';
import { egress } from './conformance/egress.ts';
import { egressIntercept } from './conformance/egress-intercept.ts';
import { filesystem } from './conformance/filesystem.ts';
import { http } from './conformance/http.ts';
import { llm } from './conformance/llm.ts';
import { mcp } from './conformance/mcp.ts';
import { mysqlDriver } from './conformance/mysql.ts';
import { postgres } from './conformance/postgres.ts';
import { redis } from './conformance/redis.ts';
import { silent } from './support/log.ts';

const DRIVERS: Driver[] = [postgres, mysqlDriver, http, llm, mcp, filesystem, redis, egress, egressIntercept];

const APPROVER = { name: 'approver', key: 'conformance-approver-key-0123', roles: ['approver' as const] };
/** How soon a revocation must end a token's live traffic. */
const CUT_WITHIN_MS = 100;

for (const driver of DRIVERS) {
  describe(`conformance: ${driver.name}`, () => {
    let gw: Gateway;
    let address: string;
    const tags = () => ({ run: randomUUID(), step: 'conformance' });

    before(async () => {
      const yaml = await driver.setup();
      const config = `
admin:
  listen: 127.0.0.1:0
  keys: [{ name: ${APPROVER.name}, key: ${APPROVER.key}, roles: [approver] }]
store: "${await testStore()}"
approvals: { timeout: 2s }
${yaml}`;
      gw = await startGateway(parseConfig(config, 'conformance'), { log: silent });
      address = gw.listeners[0].address;
    });
    after(async () => {
      await gw?.close();
      await driver.teardown();
    });

    const connect = (token: { token: string; label: string }) => driver.connect(address, token, tags());
    const mint = async (label: string) => {
      const { token, record } = await gw.services.tokens.mint({ role: 'agent', label, ttlSeconds: 600, createdBy: 'conformance' });
      return { token, label, id: record.id };
    };
    const pendingApproval = async () => {
      for (let i = 0; i < 200; i++) {
        const pending = await gw.services.approvals.list('pending');
        if (pending.length) return pending[0];
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error('no approval request appeared');
    };

    test('an unknown token is refused in the protocol\'s own way', async () => {
      const bogus = { token: 'gth_' + 'x'.repeat(43), label: 'agent' };
      await assert.rejects(async () => { await (await connect(bogus)).allowed(); }, (err) => { driver.authRefusal(err); return true; });
    });

    test('a revoked token is refused in the protocol\'s own way, naming the revocation', async () => {
      const t = await mint('revoked');
      await (await connect(t)).close();
      await gw.services.tokens.revoke(t.id);
      await assert.rejects(async () => { await (await connect(t)).allowed(); }, (err) => { assert.match(driver.authRefusal(err), /revoked/); return true; });
    });

    test(`revoking a token cuts its live traffic within ${CUT_WITHIN_MS} ms`, async () => {
      const t = await mint('cut');
      const agent = await connect(t);
      const live = agent.live();
      await live.started;
      const revokedAt = performance.now();
      await gw.services.tokens.revoke(t.id);
      const seen = await live.ended;
      const ms = performance.now() - revokedAt;
      assert.equal(seen.ok, false, 'the live traffic was cut, not completed');
      assert.ok(ms < CUT_WITHIN_MS, `cut after ${ms.toFixed(1)} ms`);
      await agent.close();
    });

    test('a request is never forwarded when its audit record cannot be written', async () => {
      const agent = await connect(await mint('audit'));
      const before = await driver.forwardedHeld();
      const restore = breakAuditWrites(gw.services.store);
      let seen;
      try {
        seen = await agent.held();
      } finally {
        restore();
      }
      assert.equal(seen.ok, false);
      assert.match(seen.ok ? '' : seen.refusal, /audit/);
      assert.equal(await driver.forwardedHeld(), before, 'nothing reached the upstream');
      assert.equal((await gw.services.approvals.list('pending')).length, 0, 'nothing waits for a human either');
      await agent.close();
    });

    test('approval: hold → approve forwards exactly once; → deny refuses; → timeout refuses', async () => {
      const agent = await connect(await mint('approval'));
      const start = await driver.forwardedHeld();

      const approved = agent.held();
      const a = await pendingApproval();
      assert.equal(await driver.forwardedHeld(), start, 'held, not forwarded');
      await gw.services.approvals.decide(a.id, APPROVER, 'approve', 'conformance');
      assert.deepEqual(await approved, { ok: true });
      assert.equal(await driver.forwardedHeld(), start + 1);

      const denied = agent.held();
      await gw.services.approvals.decide((await pendingApproval()).id, APPROVER, 'deny', 'not today');
      const d = await denied;
      assert.equal(d.ok, false);
      assert.match(d.ok ? '' : d.refusal, /denied by approver: not today/);

      const expired = await agent.held();
      assert.equal(expired.ok, false);
      assert.match(expired.ok ? '' : expired.refusal, /expired/);
      assert.equal(await driver.forwardedHeld(), start + 1, 'the approved request went through once, nothing else did');
      await agent.close();
    });

    test('run and step correlation land in the audit, and the chain verifies', async () => {
      const t = await mint('tagged');
      const mine = tags();
      const agent = await driver.connect(address, t, mine);
      await agent.allowed();
      await agent.close();
      const opened = (await auditRecords(gw)).filter((r) => r.kind === 'session.open' && r.tokenId === t.id);
      assert.ok(opened.some((r) => r.data.runId === mine.run && r.data.step === mine.step), 'the session carries the run and step');
      const session = opened.find((r) => r.data.runId === mine.run)!.sessionId;
      assert.ok((await auditRecords(gw)).some((r) => r.kind === 'request' && r.sessionId === session && r.verdict === 'allow'));
      assert.deepEqual((await verifyAudit(gw.services.store)).ok, true);
    });
  });
}
