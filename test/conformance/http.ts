// The HTTP API adapter in the conformance suite: the demo billing API as upstream, Node's own HTTP client as the agent.
import assert from 'node:assert/strict';
import { startBillingApi } from '../../src/demo/upstreams/billing.ts';
import { send, type Reply } from '../helpers/gateway.ts';
import type { Agent, Answer, Driver } from './driver.ts';

let api: Awaited<ReturnType<typeof startBillingApi>>;

/** A refused HTTP answer as an error the suite can hand back to `authRefusal`. */
class Refused extends Error {
  constructor(readonly reply: Reply) { super(`${reply.status} ${reply.body}`); }
}
const answer = (reply: Reply): Answer => (reply.status < 300 ? { ok: true } : { ok: false, refusal: `${reply.status} ${reply.body}` });

export const http: Driver = {
  name: 'http',
  async setup() {
    api = await startBillingApi({ key: 'billing-upstream-key-0123456789' });
    return `
connections:
  billing:
    kind: http
    listen: 127.0.0.1:0
    upstream: ${api.url}
    headers: { Authorization: "Bearer billing-upstream-key-0123456789" }
roles:
  agent:
    billing:
      allow: ["GET /invoices/*", "GET /slow", "POST /refunds"]
      approve: ["POST /refunds"]
`;
  },
  teardown: () => api.close(),
  async connect(address, token, tags) {
    const base = `http://${address}`;
    const headers = { authorization: `Bearer ${token.token}`, 'x-gatehouse-run': tags.run, 'x-gatehouse-step': tags.step };
    const agent: Agent = {
      async allowed() {
        const reply = await send(base, 'GET', '/invoices/42', headers);
        if (reply.status !== 200) throw new Refused(reply);
      },
      held: async () => answer(await send(base, 'POST', '/refunds', { ...headers, 'content-type': 'application/json' }, '{"invoice":42,"amount":5}')),
      live() {
        const seen = api.requests.length;
        const ended = send(base, 'GET', '/slow?ms=5000', headers).then(answer, (err: Error) => ({ ok: false as const, refusal: err.message }));
        return { started: until(() => api.requests.slice(seen).some((r) => r.url.startsWith('/slow'))), ended };
      },
      close: async () => undefined,
    };
    // HTTP checks the token on every request, so connecting is the first request.
    await agent.allowed();
    return agent;
  },
  authRefusal(outcome) {
    assert.ok(outcome instanceof Refused, `an HTTP refusal, got ${String(outcome)}`);
    assert.equal(outcome.reply.status, 401);
    assert.equal(outcome.reply.headers['www-authenticate'], 'Bearer realm="gatehouse"');
    assert.match(outcome.reply.json.error.code, /^token\./);
    return outcome.reply.json.error.message;
  },
  forwardedHeld: async () => api.requests.filter((r) => r.method === 'POST' && r.url === '/refunds').length,
};

export async function until(fn: () => boolean, ms = 4000) {
  for (const end = Date.now() + ms; !fn(); ) {
    if (Date.now() > end) throw new Error('timed out waiting for the upstream');
    await new Promise((r) => setTimeout(r, 10));
  }
}
