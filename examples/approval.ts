// Risky tool calls held for a person. The agent's close_duplicate_ticket runs `DELETE FROM tickets WHERE id = $1` under a
// SQL grant with `approve: [delete]`; its refund_invoice sends `POST /refunds` under a billing grant with
// `approve: ["POST /refunds"]`. Gatehouse holds both; to the agent each tool call just waits. Approved, the tool returns;
// denied, it fails with the approver's reason, which the model reads.
//
//   npm start                                    # in another terminal; paste its `export GATEHOUSE_URL=... GATEHOUSE_ADMIN_KEY=...`
//   export SUPPORT_DATABASE_URL='postgresql://support:<token>@127.0.0.1:6432/crm'   # the support URL npm start printed
//   npx tsx examples/approval.ts 3
//   # then, in a third terminal (same exports), for each held request:
//   npx gatehouse approvals list
//   npx gatehouse approvals approve <id> --reason "duplicate of ticket 1"       # or: approvals deny <id> --reason "..."
import { randomUUID } from 'node:crypto';
import { createAgent } from 'langchain';
import { GatehouseCallbackHandler } from '../packages/langchain/src/index.ts';
import { adminFromEnv, call, stepConfigFromEnv } from './lib/env.ts';
import { main, printMessages, printRun } from './lib/report.ts';
import { chatModel, closeTicketTool, refundTool, type StepConfig } from './lib/steps.ts';

/** One risky call: the ticket is deleted only if a person approves. */
export const closeTicketQuestion = (id: number) => `Ticket ${id} duplicates ticket 1; close it. [[call close_duplicate_ticket: ${id}]]`;
/** Two risky calls at once, each held on its own: a DELETE and a refund. */
export const closeAndRefundQuestion = (ticket: number, invoice: number, amount: number) =>
  `Ticket ${ticket} duplicates ticket 1; close it, and refund ${amount} EUR on invoice ${invoice}. ` +
  `[[call close_duplicate_ticket: ${ticket}]] [[call refund_invoice: {"invoice": ${invoice}, "amount": ${amount}, "currency": "EUR"}]]`;

export function approvalAgent(config: Pick<StepConfig, 'supportDatabaseUrl' | 'billingBaseUrl' | 'billingApiKey' | 'openaiBaseUrl' | 'openaiApiKey'>, handler?: GatehouseCallbackHandler) {
  if (!config.supportDatabaseUrl) throw new Error('the approval example needs the support step\'s connection string');
  const close = closeTicketTool(config.supportDatabaseUrl, handler);
  const agent = createAgent({
    model: chatModel(config.openaiBaseUrl, config.openaiApiKey, handler),
    tools: [close.tool, refundTool(config.billingBaseUrl, config.billingApiKey, handler)],
    systemPrompt: 'You are a support assistant. Close duplicate tickets and refund invoices when asked.',
  });
  return {
    agent,
    ask: (question: string, runId: string = randomUUID()) =>
      agent.invoke({ messages: [{ role: 'user', content: question }] }, { callbacks: handler ? [handler] : [], runId }),
    close: close.close,
  };
}

main(import.meta.url, async () => {
  const ticket = Number(process.argv[2] ?? 3);
  const config = await stepConfigFromEnv({ steps: ['support', 'billing'], chatRole: 'assistant' });
  const handler = new GatehouseCallbackHandler();
  const support = approvalAgent(config, handler);
  const runId = randomUUID();
  console.log(`run ${runId}: the agent closes ticket ${ticket} and refunds 20 EUR on invoice 42; both wait for a person.`);
  const admin = adminFromEnv();
  const shown = new Set<string>();
  const since = Date.now();
  const waiting = admin ? setInterval(async () => {
    const { approvals } = await call<{ approvals: { id: string; summary: string; label: string; createdAt: number }[] }>(admin, 'GET', '/v1/approvals?status=pending').catch(() => ({ approvals: [] }));
    for (const a of approvals.filter((x) => x.createdAt >= since && !shown.has(x.id))) {
      shown.add(a.id);
      console.log(`  held: ${a.id}  ${a.label}: ${a.summary}\n    npx gatehouse approvals approve ${a.id} --reason "..."   # or deny`);
    }
  }, 500) : undefined;
  try {
    printMessages((await support.ask(closeAndRefundQuestion(ticket, 42, 20), runId)).messages);
  } finally {
    clearInterval(waiting);
    await support.close();
  }
  await printRun(runId);
});
