// LLM path: chat completions (plain and streamed) against the demo OpenAI-compatible upstream directly, through a bare
// Node proxy, through the Portkey gateway and through Gatehouse with guards on: requests/s, added time to first token,
// added time per request.
import { existsSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { startGatewayChild, type GatewayChild } from '../lib/gateway.ts';
import { wrk } from '../lib/load.ts';
import { freePort, have, median, startNode, startService, treeCpuSeconds, waitForPort, type Service } from '../lib/proc.ts';
import { withRatios, type Context, type Row } from '../lib/report.ts';

const CONNECTIONS = 16;
const KEY = 'sk-bench-upstream-key-0123456789';
/** A realistic prompt (~1 KB of user text, a system prompt) whose reply is short and deterministic ("say: ..."). */
const PROMPT = `I'm preparing a workshop for new support agents and would like your help structuring it. The audience has no
technical background. Please propose an agenda for a three-hour session covering how our ticketing system works, how to
write a clear first reply, how to escalate to engineering, and how to handle an angry customer without promising
refunds we cannot give. For each part, suggest one short exercise and the time it needs. Keep the tone friendly and
practical, and avoid jargon; where a technical term is unavoidable, explain it in one sentence. At the end, list three
common mistakes new agents make in their first week and how a mentor can spot them early.
say: Here is a three-part agenda with an exercise and a time box for each part, and three common first-week mistakes.`;
const body = (stream: boolean) => JSON.stringify({
  model: 'gpt-4o-mini', max_tokens: 256, stream,
  messages: [{ role: 'system', content: 'You are a helpful assistant for a customer support team.' }, { role: 'user', content: PROMPT }],
});

interface Target { name: 'direct' | 'floor' | 'ref' | 'gatehouse'; base: string; headers: Record<string, string>; pid?: number }

/** Sequential requests (one at a time, keep-alive): median time to the first content token and to the whole reply. */
async function timings(t: Target, stream: boolean, maxMs: number, maxRequests: number): Promise<{ ttftMs: number; totalMs: number; n: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const url = new URL(`${t.base}/chat/completions`);
  const payload = body(stream);
  const ttft: number[] = [];
  const total: number[] = [];
  const deadline = Date.now() + maxMs;
  try {
    for (let i = 0; i < maxRequests && Date.now() < deadline; i++) {
      const start = performance.now();
      await new Promise<void>((resolve, reject) => {
        const req = request(url, { method: 'POST', agent, headers: { ...t.headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (res) => {
          let text = '';
          let first: number | undefined;
          res.on('data', (c: Buffer) => {
            text += c.toString();
            // The first piece of generated text: a non-empty `content` in a streamed delta, or the whole JSON reply.
            if (first === undefined && (!stream || /"content":"[^"]/.test(text))) first = performance.now();
          });
          res.on('end', () => {
            if (res.statusCode !== 200) return reject(new Error(`${t.name}: HTTP ${res.statusCode}: ${text.slice(0, 300)}`));
            ttft.push((first ?? performance.now()) - start);
            total.push(performance.now() - start);
            resolve();
          });
          res.on('error', reject);
        });
        req.setTimeout(10_000, () => req.destroy(new Error('timed out')));
        req.on('error', reject);
        req.end(payload);
      });
    }
  } finally {
    agent.destroy();
  }
  return { ttftMs: median(ttft), totalMs: median(total), n: total.length };
}

export async function benchLlm(ctx: Context): Promise<Row[]> {
  const section = 'llm';
  const missing = (why: string): Row[] => [{ section, metric: 'LLM path', unit: '', note: `not available: ${why}` }];
  if (!(await have('wrk'))) return missing('wrk is not installed (run scripts/bench-setup.sh)');
  if (!existsSync(join(import.meta.dirname, '../../src/demo/upstreams/llm.ts'))) return missing('the demo LLM upstream (src/demo/upstreams/llm.ts) does not exist yet');
  if (!existsSync(join(import.meta.dirname, '../../src/adapters/llm/listener.ts'))) return missing('src/adapters/llm/listener.ts does not exist yet');
  const services: Service[] = [];
  let gateway: GatewayChild | undefined;
  try {
    const upPort = await freePort();
    services.push(await startNode('llm-upstream', join(import.meta.dirname, '../upstreams/llm.ts'), [String(upPort), KEY]));
    const upstream = `http://127.0.0.1:${upPort}/v1`;
    const floorPort = await freePort();
    const floor = await startNode('floor-http', join(import.meta.dirname, '../floor/http.ts'), [String(floorPort), `http://127.0.0.1:${upPort}`]);
    services.push(floor);

    let portkey: Service | string;
    try {
      const entry = createRequire(import.meta.url).resolve('@portkey-ai/gateway/build/start-server.js');
      const port = await freePort();
      portkey = startService('portkey', process.execPath, [entry, `--port=${port}`, '--headless'], { env: { ...process.env, NODE_ENV: 'production' } });
      services.push(portkey);
      await waitForPort(port, 20_000);
      (portkey as Service & { port?: number }).port = port;
    } catch (err) {
      portkey = `Portkey gateway could not start (npm install --save-dev @portkey-ai/gateway): ${(err as Error).message.split('\n')[0]}`;
      ctx.log(`  ${portkey}`);
    }

    try {
      gateway = await startGatewayChild(ctx.dir, `
admin:
  listen: 127.0.0.1:0
store: "sqlite:${join(ctx.dir, 'gatehouse-llm.db')}"
connections:
  openai:
    kind: llm
    listen: 127.0.0.1:0
    upstream: ${upstream}
    headers: { Authorization: "Bearer ${KEY}" }
roles:
  chat:
    openai:
      models: [gpt-4o-mini]
      max_tokens: 1024
      guards: { injection: block, secrets: redact, pii: redact }
`, { profileDir: ctx.profileDir });
    } catch (err) {
      return missing(`the gateway could not start an LLM listener: ${(err as Error).message.split('\n')[0]}`);
    }
    const token = await gateway.mint('chat', 'bench-llm');
    const gw = gateway.address('openai');
    const targets: Target[] = [
      { name: 'direct', base: upstream, headers: { authorization: `Bearer ${KEY}` } },
      { name: 'floor', base: `http://127.0.0.1:${floorPort}/v1`, headers: { authorization: `Bearer ${KEY}` }, pid: floor.pid },
      ...(typeof portkey !== 'string' ? [{
        name: 'ref' as const, base: `http://127.0.0.1:${(portkey as Service & { port: number }).port}/v1`, pid: portkey.pid,
        headers: { authorization: `Bearer ${KEY}`, 'x-portkey-provider': 'openai', 'x-portkey-custom-host': upstream },
      }] : []),
      { name: 'gatehouse', base: `http://${gw.host}:${gw.port}/v1`, headers: { authorization: `Bearer ${token}` }, pid: gateway.pid },
    ];

    const rows: Row[] = [];
    for (const stream of [false, true]) {
      const kind = stream ? 'streamed' : 'plain';
      const rps: Partial<Record<Target['name'], number>> = {};
      const cpu: Partial<Record<Target['name'], number>> = {};
      const seq: Partial<Record<Target['name'], { ttftMs: number; totalMs: number }>> = {};
      const failed: Partial<Record<Target['name'], string>> = {};
      for (const t of targets) {
        try {
          await timings(t, stream, 1000, 20); // warm-up, and a check that the target answers 200
        } catch (err) {
          ctx.log(`  ${t.name} (${kind}) does not answer: ${(err as Error).message}`);
          failed[t.name] = (err as Error).message.replace(/^\w+: /, '').slice(0, 80);
          continue;
        }
        ctx.log(`  wrk ${CONNECTIONS} connections, ${kind}, ${ctx.seconds} s: ${t.name}`);
        const before = t.pid ? treeCpuSeconds(t.pid) : 0;
        const r = await wrk(ctx.dir, { url: `${t.base}/chat/completions`, method: 'POST', headers: { ...t.headers, 'content-type': 'application/json' }, body: body(stream) }, { connections: CONNECTIONS, seconds: ctx.seconds });
        if (r.non2xx || r.errors) ctx.log(`  ${t.name}: ${r.non2xx} non-2xx responses, ${r.errors} socket errors`);
        if (!r.non2xx && Number.isFinite(r.rps)) rps[t.name] = r.rps;
        if (t.pid && r.requests > 0) cpu[t.name] = ((treeCpuSeconds(t.pid) - before) * 1e6) / r.requests;
        seq[t.name] = await timings(t, stream, 4000, 300);
      }
      const row = withRatios({ section, metric: `chat completions/s, ${kind}, ${CONNECTIONS} connections`, unit: 'req/s', direct: rps.direct, floor: rps.floor, ref: rps.ref, refName: 'Portkey', gatehouse: rps.gatehouse, note: `Gatehouse with guards on (injection block, secrets and PII redact)${failed.ref ? `; Portkey answers ${failed.ref}` : ''}${failed.gatehouse ? `; Gatehouse answers ${failed.gatehouse}` : ''}` });
      row.target = 'G ≥ 10× Portkey';
      row.pass = row.ratioRef !== undefined && row.ratioRef >= 10;
      rows.push(row);
      rows.push(withRatios({ section, metric: `proxy CPU per request, ${kind}`, unit: 'µs', floor: cpu.floor, ref: cpu.ref, refName: 'Portkey', gatehouse: cpu.gatehouse }));
      const added = (n: Target['name'], f: 'ttftMs' | 'totalMs') => (seq[n] && seq.direct ? (seq[n]![f] - seq.direct[f]) * 1000 : undefined);
      if (stream) rows.push({ section, metric: 'added time to first token, streamed, 1 at a time', unit: 'µs', floor: added('floor', 'ttftMs'), ref: added('ref', 'ttftMs'), refName: 'Portkey', gatehouse: added('gatehouse', 'ttftMs') });
      rows.push({ section, metric: `added time per request, ${kind}, 1 at a time`, unit: 'µs', floor: added('floor', 'totalMs'), ref: added('ref', 'totalMs'), refName: 'Portkey', gatehouse: added('gatehouse', 'totalMs') });
    }
    return rows;
  } finally {
    await gateway?.stop();
    for (const s of services) await s.stop();
  }
}
