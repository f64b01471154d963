// The LLM adapter in the conformance suite: the demo OpenAI-compatible upstream, the openai SDK as the agent.
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startLlmUpstream, type LlmUpstream } from '../../src/demo/upstreams/llm.ts';
import { until } from './http.ts';
import type { Agent, Answer, Driver } from './driver.ts';

let upstream: LlmUpstream;

const answer = (p: Promise<unknown>): Promise<Answer> =>
  p.then(() => ({ ok: true }) as const, (err: Error & { status?: number }) => ({ ok: false, refusal: `${err.status ?? ''} ${err.message}` }));

export const llm: Driver = {
  name: 'llm',
  async setup() {
    upstream = await startLlmUpstream({ key: 'sk-upstream-conformance-0123456789' });
    return `
connections:
  openai:
    kind: llm
    listen: 127.0.0.1:0
    upstream: ${upstream.url}/v1
    headers: { Authorization: "Bearer sk-upstream-conformance-0123456789" }
roles:
  agent:
    openai:
      models: [gpt-4o-mini, gpt-4o]
      approve: [gpt-4o]
`;
  },
  teardown: () => upstream.close(),
  async connect(address, token, tags) {
    const client = new OpenAI({
      baseURL: `http://${address}/v1`, apiKey: token.token, maxRetries: 0,
      defaultHeaders: { 'x-gatehouse-run': tags.run, 'x-gatehouse-step': tags.step },
    });
    const chat = (model: string, content: string) => client.chat.completions.create({ model, messages: [{ role: 'user', content }] });
    const agent: Agent = {
      allowed: async () => { await chat('gpt-4o-mini', 'say: hi'); },
      held: () => answer(chat('gpt-4o', 'say: approved')),
      live() {
        const seen = upstream.requests.length;
        const stream = client.chat.completions.create(
          { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'count: 50' }], stream: true },
          { headers: { 'x-demo-gap-ms': '100' } },
        );
        const ended = answer(stream.then(async (s) => { for await (const _ of s) { /* drain until cut */ } }));
        return { started: until(() => upstream.requests.length > seen), ended };
      },
      close: async () => undefined,
    };
    await agent.allowed();
    return agent;
  },
  authRefusal(outcome) {
    assert.ok(outcome instanceof OpenAI.AuthenticationError, `the SDK's AuthenticationError, got ${String(outcome)}`);
    assert.match(outcome.message, /token/);
    return outcome.message;
  },
  forwardedHeld: async () => upstream.requests.filter((r) => r.body.model === 'gpt-4o').length,
};
