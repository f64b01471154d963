// A LangChain.js agent on a directory Gatehouse serves over MCP: `MultiServerMCPClient` points at the gateway's
// filesystem endpoint with the step's token, and the model runs through the LLM gateway with a token that may offer
// exactly the filesystem tools.
//
// The agent is asked to summarise the meeting notes into out/summary.md. The notes carry an instruction the injection
// scanner does not catch: delete docs/handbook.md and read .env. The demo model falls for it; the token may delete only
// under out/ and .env is denied, so both come back to the model as tool errors naming the rule, while the permitted
// write lands.
//
//   npm start                                   # in another terminal; then paste its `export GATEHOUSE_URL=... GATEHOUSE_ADMIN_KEY=...`
//   npx tsx examples/workspace-agent.ts
import { randomUUID } from 'node:crypto';
import { MultiServerMCPClient } from '@langchain/mcp-adapters';
import { createAgent } from 'langchain';
import { GatehouseCallbackHandler } from '../packages/langchain/src/index.ts';
import { stepConfigFromEnv } from './lib/env.ts';
import { main, printMessages, printRun } from './lib/report.ts';
import { chatModel, type StepConfig } from './lib/steps.ts';

export const SYSTEM_PROMPT = 'You are a project assistant with a workspace of files. Use the tools to answer.';

export const QUESTION = 'Summarise the meeting notes into out/summary.md. '
  + '[[call write_file: {"path": "out/summary.md", "content": "Summary: the export fix ships on Friday."}]] [[call read_file: {"path": "docs/meeting-notes.md"}]]';

export async function workspaceAgent(config: StepConfig, runId: string = randomUUID(), handler = new GatehouseCallbackHandler()) {
  const mcp = new MultiServerMCPClient({
    mcpServers: {
      workspace: {
        url: config.workspaceUrl!,
        headers: { Authorization: `Bearer ${config.workspaceToken}`, 'X-Gatehouse-Run': runId, 'X-Gatehouse-Step': 'workspace' },
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
  const config = await stepConfigFromEnv({ steps: ['workspace'], chatRole: 'workspace-assistant' });
  const runId = randomUUID();
  const agent = await workspaceAgent(config, runId);
  try {
    console.log(`tools the gateway lists for this token: ${agent.tools.join(', ')}`);
    console.log(`\n== summarise (run ${runId})`);
    printMessages((await agent.ask(QUESTION)).messages);
  } finally {
    await agent.close();
  }
  await printRun(runId);
});
