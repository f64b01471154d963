// examples/approval.ts end to end: risky tool calls (a DELETE under `approve: [delete]`, a POST /refunds under
// `approve: ["POST /refunds"]`) wait for a person; approved they return, denied they fail with the approver's reason —
// which is what the agent reads.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { BaseMessage } from '@langchain/core/messages';
import pg from 'pg';
import { GatehouseCallbackHandler } from '../packages/langchain/src/index.ts';
import { approvalAgent, closeAndRefundQuestion, closeTicketQuestion } from '../examples/approval.ts';
import type { ApprovalRecord } from '../src/services/store/store.ts';
import { startLangchainDemo, type LangchainDemo } from './helpers/langchain.ts';
import { run } from './support/run.ts';

let t: LangchainDemo;
before(async () => { t = await startLangchainDemo(); });
after(async () => { await t?.close(); });

const cli = (args: string[]) => run(process.execPath, ['bin/gatehouse.js', ...args], { GATEHOUSE_URL: t.admin.url, GATEHOUSE_ADMIN_KEY: t.admin.key });

async function pending(n = 1): Promise<ApprovalRecord[]> {
  for (let i = 0; i < 250; i++) {
    const list = await t.gateway.services.approvals.list('pending');
    if (list.length >= n) return list;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${n} approval request(s) did not appear`);
}

async function ticketIds(): Promise<number[]> {
  const c = new pg.Client({ connectionString: (await t.config()).supportDatabaseUrl });
  await c.connect();
  try {
    return (await c.query('SELECT id FROM tickets ORDER BY id')).rows.map((r) => r.id as number);
  } finally {
    await c.end();
  }
}

const lastTool = (messages: BaseMessage[]) => {
  const m = messages.filter((x) => x.type === 'tool').at(-1)!;
  return { status: (m as { status?: string }).status ?? 'success', content: String(m.content) };
};

test('approved: the tool call waits, the approver decides from the CLI, then the DELETE runs once and the tool returns', async () => {
  const handler = new GatehouseCallbackHandler();
  const agent = approvalAgent(await t.config('assistant'), handler);
  const runId = randomUUID();
  let settled = false;
  let heldId = '';
  try {
    const answer = agent.ask(closeTicketQuestion(3), runId).finally(() => { settled = true; });
    const [held] = await pending();
    heldId = held.id;
    // The approver sees which run and step asks, and exactly what.
    assert.equal(held.summary, 'DELETE FROM tickets WHERE id = $1');
    assert.equal(held.label, 'support');
    assert.equal(held.runId, runId);
    assert.equal(held.step, 'close_duplicate_ticket');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(settled, false, 'the agent is still waiting on its tool call');
    assert.ok((await ticketIds()).includes(3), 'nothing ran before the approval');

    const listed = await cli(['approvals', 'list', '--json']);
    assert.deepEqual(JSON.parse(listed.stdout).map((a: ApprovalRecord) => a.id), [held.id]);
    const approved = await cli(['approvals', 'approve', held.id, '--reason', 'duplicate of ticket 1']);
    assert.equal(approved.status, 0, approved.stderr);

    const { messages } = await answer;
    assert.deepEqual(lastTool(messages), { status: 'success', content: 'deleted 1 ticket(s)' });
    assert.match(String(messages.at(-1)!.content), /close_duplicate_ticket: deleted 1 ticket\(s\)/);
    assert.ok(!(await ticketIds()).includes(3));
  } finally {
    await agent.close();
  }
  const kinds = (await t.audit()).filter((r) => r.data.id === heldId).map((r) => r.kind);
  for (const k of ['approval.requested', 'approval.approved', 'approval.forwarded']) assert.ok(kinds.includes(k), `${k} in ${kinds.join(', ')}`);
});

test('denied: the tool call fails with the approver\'s reason (42501), the agent says so, and the ticket stays', async () => {
  const handler = new GatehouseCallbackHandler();
  const agent = approvalAgent(await t.config('assistant'), handler);
  try {
    const answer = agent.ask(closeTicketQuestion(2));
    const [held] = await pending();
    const denied = await cli(['approvals', 'deny', held.id, '--reason', 'the customer still needs it']);
    assert.equal(denied.status, 0, denied.stderr);
    const { messages } = await answer;
    const tool = lastTool(messages);
    assert.equal(tool.status, 'error');
    assert.match(tool.content, new RegExp(`SQL error 42501: .*${held.id} was denied by demo-admin: the customer still needs it`));
    assert.match(String(messages.at(-1)!.content), /denied by demo-admin: the customer still needs it/);
    assert.ok((await ticketIds()).includes(2));
  } finally {
    await agent.close();
  }
});

test('a refund (HTTP) and a DELETE (SQL) held side by side: the agent waits on both; one is approved, one denied', async () => {
  const handler = new GatehouseCallbackHandler();
  const agent = approvalAgent(await t.config('assistant'), handler);
  try {
    const answer = agent.ask(closeAndRefundQuestion(2, 43, 15));
    const held = await pending(2);
    const refund = held.find((a) => a.protocol === 'http')!;
    const del = held.find((a) => a.protocol === 'postgres')!;
    assert.deepEqual([refund.summary, refund.label, refund.connection], ['POST /refunds', 'billing', 'billing']);
    assert.deepEqual([del.summary, del.label, del.connection], ['DELETE FROM tickets WHERE id = $1', 'support', 'crm']);
    assert.equal((await cli(['approvals', 'approve', refund.id, '--reason', 'goodwill'])).status, 0);
    assert.equal((await cli(['approvals', 'deny', del.id, '--reason', 'keep ticket 2, the customer still writes there'])).status, 0);
    const { messages } = await answer;
    const tools = messages.filter((m) => m.type === 'tool').map((m) => ({ name: m.name, status: (m as { status?: string }).status, content: String(m.content) }));
    const refunded = tools.find((x) => x.name === 'refund_invoice')!;
    assert.equal(refunded.status, 'success');
    assert.deepEqual({ ...JSON.parse(refunded.content), refund_id: 'x' }, { refund_id: 'x', invoice: 43, amount: 15, currency: 'EUR' });
    const closed = tools.find((x) => x.name === 'close_duplicate_ticket')!;
    assert.equal(closed.status, 'error');
    assert.match(closed.content, /SQL error 42501: .*was denied by demo-admin: keep ticket 2, the customer still writes there/);
    assert.ok((await ticketIds()).includes(2));
  } finally {
    await agent.close();
  }
});

test('a denied refund fails the tool call with HTTP 403 and the approver\'s reason', async () => {
  const handler = new GatehouseCallbackHandler();
  const agent = approvalAgent(await t.config('assistant'), handler);
  try {
    const answer = agent.ask('Refund it. [[call refund_invoice: {"invoice": 42, "amount": 99, "currency": "EUR"}]]');
    const [held] = await pending();
    assert.equal(held.summary, 'POST /refunds');
    assert.equal((await cli(['approvals', 'deny', held.id, '--reason', 'over the goodwill limit'])).status, 0);
    const { messages } = await answer;
    assert.deepEqual(lastTool(messages).status, 'error');
    assert.match(lastTool(messages).content, new RegExp(`HTTP 403: Gatehouse: request ${held.id} was denied by demo-admin: over the goodwill limit`));
  } finally {
    await agent.close();
  }
});
