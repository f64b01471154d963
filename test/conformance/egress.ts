// The egress proxy in the conformance suite: the demo billing API on loopback as "the internet" (reached as a granted IP
// literal under allow_private, so no name is resolved), Node's HTTP client sending plain requests through the proxy as
// HTTP_PROXY clients do (absolute-form, Proxy-Authorization). It shows a 407's body, which undici does not pass on.
import assert from 'node:assert/strict';
import { startBillingApi } from '../../src/demo/upstreams/billing.ts';
import { send, type Reply } from '../helpers/gateway.ts';
import { until } from './http.ts';
import type { Agent, Answer, Driver } from './driver.ts';

let api: Awaited<ReturnType<typeof startBillingApi>>;
let site: string;

/** A refused answer as an error the suite can hand back to `authRefusal`. */
class Refused extends Error {
  constructor(readonly reply: Reply) { super(`${reply.status} ${reply.body}`); }
}
const answer = (reply: Reply): Answer => (reply.status < 300 ? { ok: true } : { ok: false, refusal: `${reply.status} ${reply.body}` });

export const egress: Driver = {
  name: 'egress',
  async setup() {
    api = await startBillingApi();
    site = new URL(api.url).host;
    return `
connections:
  internet:
    kind: egress
    listen: 127.0.0.1:0
    allow_private: ["127.0.0.1"]
roles:
  agent:
    internet:
      hosts: ["${site}"]
      approve: ["POST ${site}"]
`;
  },
  teardown: () => api.close(),
  async connect(address, token, tags) {
    const headers = {
      host: site, 'proxy-authorization': `Basic ${Buffer.from(`${token.label}:${token.token}`).toString('base64')}`,
      'x-gatehouse-run': tags.run, 'x-gatehouse-step': tags.step,
    };
    const proxy = `http://${address}`;
    const agent: Agent = {
      async allowed() {
        const reply = await send(proxy, 'GET', `http://${site}/invoices/42`, headers);
        if (reply.status !== 200) throw new Refused(reply);
      },
      held: async () => answer(await send(proxy, 'POST', `http://${site}/refunds`, { ...headers, 'content-type': 'application/json' }, '{"invoice":42,"amount":5}')),
      live() {
        const seen = api.requests.length;
        const ended = send(proxy, 'GET', `http://${site}/slow?ms=5000`, headers).then(answer, (err: Error) => ({ ok: false as const, refusal: err.message }));
        return { started: until(() => api.requests.slice(seen).some((r) => r.url.startsWith('/slow'))), ended };
      },
      close: async () => undefined,
    };
    // The proxy checks the token on every request, so connecting is the first request.
    await agent.allowed();
    return agent;
  },
  authRefusal(outcome) {
    assert.ok(outcome instanceof Refused, `a proxy refusal, got ${String(outcome)}`);
    assert.equal(outcome.reply.status, 407);
    assert.match(String(outcome.reply.headers['proxy-authenticate']), /^Basic realm="gatehouse"/);
    assert.match(outcome.reply.json.error.code, /^token\./);
    return outcome.reply.json.error.message;
  },
  forwardedHeld: async () => api.requests.filter((r) => r.method === 'POST' && r.url === '/refunds').length,
};
