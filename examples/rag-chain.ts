// A retrieval chain through Gatehouse: PGVectorStore reads pgvector chunks with the retriever's token, ChatOpenAI answers
// with the chat token. The chain is plain LangChain.js; only connection strings, a base URL and keys point at Gatehouse.
//
//   npm start                                   # in another terminal; then paste its `export GATEHOUSE_URL=... GATEHOUSE_ADMIN_KEY=...`
//   npx tsx examples/rag-chain.ts "How do refunds work?"
import { randomUUID } from 'node:crypto';
import type { DocumentInterface } from '@langchain/core/documents';
import { StringOutputParser } from '@langchain/core/output_parsers';
import { ChatPromptTemplate } from '@langchain/core/prompts';
import { RunnableLambda, RunnablePassthrough, RunnableSequence, type Runnable } from '@langchain/core/runnables';
import { GatehouseCallbackHandler } from '../packages/langchain/src/index.ts';
import { stepConfigFromEnv } from './lib/env.ts';
import { main, printRun } from './lib/report.ts';
import { chatModel, vectorStore, type StepConfig } from './lib/steps.ts';

export interface RagAnswer { question: string; docs: DocumentInterface[]; answer: string }

/** question → { docs: the two nearest chunks, answer }. Pass the handler to tag each step's requests with the run. */
export function ragChain(config: Pick<StepConfig, 'ragDatabaseUrl' | 'openaiBaseUrl' | 'openaiApiKey'>, handler?: GatehouseCallbackHandler) {
  const { retriever, close } = vectorStore(config.ragDatabaseUrl, handler);
  const prompt = ChatPromptTemplate.fromMessages([
    ['system', 'Answer the question from this context only:\n{context}'],
    ['human', '{question}'],
  ]);
  const answer = RunnableSequence.from([
    RunnableLambda.from((x: { question: string; docs: DocumentInterface[] }) => ({ question: x.question, context: x.docs.map((d) => `- ${d.pageContent}`).join('\n') })),
    prompt,
    chatModel(config.openaiBaseUrl, config.openaiApiKey, handler),
    new StringOutputParser(),
  ]);
  const chain = RunnableSequence.from([
    { question: new RunnablePassthrough<string>(), docs: retriever.withConfig({ runName: 'retrieve' }) },
    RunnablePassthrough.assign({ answer }),
  ]).withConfig({ runName: 'rag-chain' }) as Runnable<string, RagAnswer>;
  return { chain, close };
}

main(import.meta.url, async () => {
  const question = process.argv[2] ?? 'How do refunds work for annual plans?';
  const config = await stepConfigFromEnv({ steps: ['rag'], chatRole: 'chat' });
  const handler = new GatehouseCallbackHandler();
  const { chain, close } = ragChain(config, handler);
  const runId = randomUUID();
  try {
    const out = await chain.invoke(question, { callbacks: [handler], runId });
    console.log(`run ${runId}\nquestion: ${out.question}`);
    for (const d of out.docs) console.log(`  retrieved: ${d.pageContent}  (${JSON.stringify(d.metadata)})`);
    console.log(`answer: ${out.answer}`);
  } finally {
    await close();
  }
  await printRun(runId);
});
