// Test helpers for the LangChain examples: the embedded demo on free ports, and one fresh narrow token per chain step.
import { startDemo } from '../../src/demo/demo.ts';
import type { StepConfig } from '../../examples/lib/steps.ts';
import type { Admin } from '../../examples/lib/env.ts';
import { silent } from '../support/log.ts';

export type LangchainDemo = Awaited<ReturnType<typeof startLangchainDemo>>;

export async function startLangchainDemo() {
  const demo = await startDemo({ adminPort: 0, crmPort: 0, billingPort: 0, openaiPort: 0, toolsPort: 0, workspacePort: 0, log: silent });
  const { gateway } = demo;
  const address = (name: string) => gateway.listeners.find((l) => l.name === name)!.address;
  /** Tokens are issued by "test", so the demo's admin key may approve what they ask. */
  const mint = async (role: string, label: string) => (await gateway.services.tokens.mint({ role, label, ttlSeconds: 600, createdBy: 'test' })).token;
  const db = async (role: string, label: string) => `postgresql://${label}:${await mint(role, label)}@${address('crm')}/crm`;
  return {
    demo,
    gateway,
    admin: { url: gateway.adminUrl, key: demo.adminKey } satisfies Admin,
    /** A configuration with fresh tokens: chat model as `chatRole` (`chat`, or `assistant` when tools are offered). */
    async config(chatRole: 'chat' | 'assistant' = 'assistant'): Promise<StepConfig> {
      return {
        ragDatabaseUrl: await db('retriever', 'rag'),
        sqlDatabaseUrl: await db('sql-agent', 'sql'),
        supportDatabaseUrl: await db('support-writer', 'support'),
        billingBaseUrl: `http://${address('billing')}`,
        billingApiKey: await mint('billing-agent', 'billing'),
        openaiBaseUrl: `http://${address('openai')}/v1`,
        openaiApiKey: await mint(chatRole, 'chat'),
      };
    },
    audit: async () => await gateway.services.audit.read(0, 100_000),
    /**
     * pg's Pool#end resolves before its sockets have closed: wait until the gateway has seen the clients go, so shutting
     * down does not hand a client a FATAL nobody listens for.
     */
    async close() {
      for (let i = 0; i < 150 && (await gateway.services.store.listSessions({ connection: 'crm', live: true, limit: 1 })).length; i++) await new Promise((r) => setTimeout(r, 20));
      await demo.close();
    },
  };
}
