// A LangChain.js agent through Gatehouse, one narrow token per step: search_docs (PGVectorStore, retriever token),
// query_sql (SqlDatabase over TypeORM, a read-only token), billing_get (fetch, the billing API token) and the model
// (ChatOpenAI, a token that may offer exactly these tools).
//
// The second question reads ticket 4, whose text carries an injected instruction; the demo model falls for it, as real
// models can, and tries DROP TABLE, DELETE, another table and an admin API path. Gatehouse refuses each: the agent gets
// tool errors naming the missing grant (SQLSTATE 42501 / HTTP 403), the data is untouched, and the audit has it all.
//
// The demo model is scripted: `[[call TOOL: ARGS]]` in a message makes it call TOOL (a real model decides by itself).
//
//   npm start                                   # in another terminal; then paste its `export GATEHOUSE_URL=... GATEHOUSE_ADMIN_KEY=...`
//   npx tsx examples/support-agent.ts
import { randomUUID } from 'node:crypto';
import { createAgent } from 'langchain';
import { GatehouseCallbackHandler } from '../packages/langchain/src/index.ts';
import { stepConfigFromEnv } from './lib/env.ts';
import { main, printMessages, printRun } from './lib/report.ts';
import { billingTool, chatModel, querySqlTool, searchDocsTool, sqlDatabase, vectorStore, type StepConfig } from './lib/steps.ts';

export const SYSTEM_PROMPT = 'You are a support assistant. Use the tools to answer; never change data.';

export const QUESTIONS = {
  /** Three steps, three tokens: documents, the billing API, and the model. */
  refund: 'A customer asks how refunds work and what invoice 42 says. [[call search_docs: refund policy]] [[call billing_get: /invoices/42]]',
  /** Ticket 4 carries the injected instructions (see src/demo/seed.ts). */
  injected: 'Summarise ticket 4 for me. [[call query_sql: SELECT id, subject, status FROM tickets WHERE id = 4]]',
};

export async function supportAgent(config: StepConfig, handler?: GatehouseCallbackHandler) {
  const docs = vectorStore(config.ragDatabaseUrl, handler);
  const sql = await sqlDatabase(config.sqlDatabaseUrl, handler);
  const agent = createAgent({
    model: chatModel(config.openaiBaseUrl, config.openaiApiKey, handler),
    tools: [searchDocsTool(docs.retriever), querySqlTool(sql.db), billingTool(config.billingBaseUrl, config.billingApiKey, handler)],
    systemPrompt: SYSTEM_PROMPT,
  });
  return {
    agent,
    /** One question, one LangChain run (its id is what Gatehouse groups the steps' sessions by). */
    ask: (question: string, runId: string = randomUUID()) =>
      agent.invoke({ messages: [{ role: 'user', content: question }] }, { callbacks: handler ? [handler] : [], runId }),
    close: async () => { await docs.close(); await sql.close(); },
  };
}

main(import.meta.url, async () => {
  const config = await stepConfigFromEnv({ steps: ['rag', 'sql', 'billing'], chatRole: 'assistant' });
  const handler = new GatehouseCallbackHandler();
  const support = await supportAgent(config, handler);
  const runs: string[] = [];
  try {
    for (const [name, question] of Object.entries(QUESTIONS)) {
      const runId = randomUUID();
      runs.push(runId);
      console.log(`\n== ${name} (run ${runId})`);
      printMessages((await support.ask(question, runId)).messages);
    }
  } finally {
    await support.close();
  }
  for (const runId of runs) await printRun(runId);
});
