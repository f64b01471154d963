// A LangChain.js agent on MCP tools through Gatehouse: `MultiServerMCPClient` points at the gateway's MCP endpoint with
// the step's token (only the URL and the token differ from pointing it at the tool server itself), and the model runs
// through the LLM gateway with a token that may offer exactly the helpdesk tools.
//
// The second question reads a help article carrying an injected instruction that the injection scanner does not catch.
// The demo model falls for it and calls helpdesk__add_comment on a ticket the grant does not allow, with the admin
// password in the body: Gatehouse refuses the arguments and the model gets a tool error naming the rule. It also asks
// for helpdesk__delete_ticket, which the token may not use: the gateway never listed it, so the model is never offered
// it (and a client calling it anyway gets the same "unknown tool" as for a tool that does not exist).
//
//   npm start                                   # in another terminal; then paste its `export GATEHOUSE_URL=... GATEHOUSE_ADMIN_KEY=...`
//   npx tsx examples/mcp-agent.ts
import { randomUUID } from 'node:crypto';
import { MultiServerMCPClient } from '@langchain/mcp-adapters';
import { createAgent } from 'langchain';
import { GatehouseCallbackHandler } from '../packages/langchain/src/index.ts';
import { stepConfigFromEnv } from './lib/env.ts';
import { main, printMessages, printRun } from './lib/report.ts';
import { chatModel, type StepConfig } from './lib/steps.ts';

export const SYSTEM_PROMPT = 'You are a helpdesk assistant. Use the tools to answer.';

export const QUESTIONS = {
  /** A granted tool, granted arguments. */
  refund: 'How do refunds work? [[call helpdesk__search_docs: refund]]',
  /** The maintenance article carries the injected instruction (see src/demo/upstreams/tools.ts). */
  injected: 'Any maintenance notes I should know about? [[call helpdesk__search_docs: maintenance]]',
};

/**
 * The agent of one run. Its MCP session is tagged with the run id and step (X-Gatehouse-Run / X-Gatehouse-Step), the
 * model's requests by the callback handler, so `gatehouse sessions list --run <id>` finds both.
 */
export async function mcpAgent(config: StepConfig, runId: string = randomUUID(), handler = new GatehouseCallbackHandler()) {
  const mcp = new MultiServerMCPClient({
    mcpServers: {
      gatehouse: {
        url: config.mcpUrl!,
        headers: { Authorization: `Bearer ${config.mcpToken}`, 'X-Gatehouse-Run': runId, 'X-Gatehouse-Step': 'tools' },
        automaticSSEFallback: false,
      },
    },
  });
  const tools = await mcp.getTools();
  const agent = createAgent({ model: chatModel(config.openaiBaseUrl, config.openaiApiKey, handler), tools, systemPrompt: SYSTEM_PROMPT });
  return {
    runId,
    tools: tools.map((t) => t.name),
    ask: (question: string) => agent.invoke({ messages: [{ role: 'user', content: question }] }, { callbacks: [handler], runId }),
    close: () => mcp.close(),
  };
}

main(import.meta.url, async () => {
  const config = await stepConfigFromEnv({ steps: ['mcp'], chatRole: 'helpdesk-assistant' });
  const runId = randomUUID();
  const helpdesk = await mcpAgent(config, runId);
  try {
    console.log(`tools the gateway lists for this token: ${helpdesk.tools.join(', ')}`);
    for (const [name, question] of Object.entries(QUESTIONS)) {
      console.log(`\n== ${name} (run ${runId})`);
      printMessages((await helpdesk.ask(question)).messages);
    }
  } finally {
    await helpdesk.close();
  }
  await printRun(runId);
});
