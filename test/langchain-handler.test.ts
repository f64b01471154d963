// @gatehouse/langchain: the callback handler follows real LangChain runs, and tags fetch requests and PostgreSQL connections.
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import 'reflect-metadata';
import { Document } from '@langchain/core/documents';
import { BaseRetriever } from '@langchain/core/retrievers';
import { RunnableLambda, RunnableSequence } from '@langchain/core/runnables';
import { tool } from '@langchain/core/tools';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { z } from 'zod';
import { GatehouseCallbackHandler, stepName } from '../packages/langchain/src/index.ts';
import { correlatedPg, correlatedPool } from '../packages/langchain/src/pg.ts';
import { correlationFromApplicationName, correlationFromHeaders } from '../src/pipeline/correlation.ts';
import { PG } from './support/pg.ts';

const RUN = '0193f2a4-7b1c-7d2e-9f00-1234567890ab';
const RUN2 = '0193f2a4-7b1c-7d2e-9f00-1234567890cd';
const tick = () => new Promise((r) => setTimeout(r, 5));

class StaticRetriever extends BaseRetriever {
  override lc_namespace = ['test'];
  constructor(private readonly probe: () => void) { super(); }
  override async _getRelevantDocuments(query: string) {
    this.probe();
    await tick();
    return [new Document({ pageContent: query })];
  }
}

test('the run is the outermost run; the step is the tool, the retriever, or what the client says', async () => {
  const h = new GatehouseCallbackHandler();
  const seen: Record<string, unknown> = {};
  const lookup = tool(async ({ q }) => {
    seen.tool = h.correlation();
    await tick();
    seen.toolAfterAwait = h.correlation();
    seen.toolAsChat = h.correlation({ step: 'chat' });
    return q;
  }, { name: 'lookup', schema: z.object({ q: z.string() }) });
  const chain = RunnableSequence.from([
    new StaticRetriever(() => { seen.retriever = h.correlation(); }).withConfig({ runName: 'retrieve' }),
    RunnableLambda.from(async (docs: Document[], config) => lookup.invoke({ q: docs[0].pageContent }, config)),
  ]);
  assert.equal(h.correlation(), undefined, 'outside a run there is nothing to tag');
  assert.equal(await chain.invoke('hello', { callbacks: [h], runId: RUN }), 'hello');
  assert.deepEqual(seen, {
    retriever: { runId: RUN, step: 'retrieve' },
    tool: { runId: RUN, step: 'lookup' },
    toolAfterAwait: { runId: RUN, step: 'lookup' },
    toolAsChat: { runId: RUN, step: 'chat' },
  });
  assert.equal(h.openRuns, 0, 'a finished run is forgotten');
  assert.equal(h.correlation(), undefined);
});

test('concurrent runs each see their own run id', async () => {
  const h = new GatehouseCallbackHandler();
  const seen: string[] = [];
  const slow = tool(async ({ ms }) => {
    await new Promise((r) => setTimeout(r, ms));
    const c = h.correlation()!;
    seen.push(`${c.runId}/${c.step}`);
    return c.runId;
  }, { name: 'slow', schema: z.object({ ms: z.number() }) });
  const [a, b] = await Promise.all([
    slow.invoke({ ms: 30 }, { callbacks: [h], runId: RUN }),
    slow.invoke({ ms: 5 }, { callbacks: [h], runId: RUN2 }),
  ]);
  assert.equal(a, RUN);
  assert.equal(b, RUN2);
  assert.deepEqual(seen, [`${RUN2}/slow`, `${RUN}/slow`]);
});

test('a step named in metadata wins; step names are made safe for Gatehouse', async () => {
  const h = new GatehouseCallbackHandler();
  let seen;
  const t = tool(async () => { seen = h.correlation(); return 'ok'; }, { name: 'search the docs!', schema: z.object({}) });
  await t.invoke({}, { callbacks: [h], runId: RUN, metadata: { gatehouse_step: 'docs' } });
  assert.deepEqual(seen, { runId: RUN, step: 'docs' });
  await t.invoke({}, { callbacks: [h], runId: RUN });
  assert.deepEqual(seen, { runId: RUN, step: 'search-the-docs' });
  assert.equal(stepName('  a/b c  '), 'a-b-c');
  assert.equal(stepName('x'.repeat(80)).length, 64);
  assert.equal(stepName('!!!'), 'step');
  assert.deepEqual(correlationFromApplicationName(`langchain run=${RUN} step=${stepName('what? ever')}`), { runId: RUN, step: 'what-ever' });
});

let server: ReturnType<typeof createServer>;
let base = '';
const received: { headers: IncomingHttpHeaders; body: string }[] = [];
before(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => { received.push({ headers: req.headers, body }); res.end('{}'); });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => server.close());

test('fetch: X-Gatehouse-Run / X-Gatehouse-Step on requests made inside a run, the caller\'s headers kept', async () => {
  const h = new GatehouseCallbackHandler();
  const fetch = h.fetch();
  const call = tool(async () => {
    await fetch(`${base}/invoices/42`, { headers: { authorization: 'Bearer tok' } });
    await fetch(new Request(`${base}/req`, { headers: { 'x-custom': '1' } }));
    return 'ok';
  }, { name: 'billing_get', schema: z.object({}) });
  received.length = 0;
  await call.invoke({}, { callbacks: [h], runId: RUN });
  await fetch(`${base}/outside`);
  assert.equal(received.length, 3);
  assert.deepEqual(correlationFromHeaders(received[0].headers), { runId: RUN, step: 'billing_get' });
  assert.equal(received[0].headers.authorization, 'Bearer tok');
  assert.deepEqual(correlationFromHeaders(received[1].headers), { runId: RUN, step: 'billing_get' });
  assert.equal(received[1].headers['x-custom'], '1', 'a Request\'s own headers are kept');
  assert.deepEqual(correlationFromHeaders(received[2].headers), { runId: null, step: null }, 'outside a run: untouched');
  assert.deepEqual(h.headers(), {});
});

test('fetch with metadata: LLM request bodies carry gatehouse_run / gatehouse_step; other bodies are left alone', async () => {
  const h = new GatehouseCallbackHandler();
  const fetch = h.fetch({ step: 'chat', metadata: true });
  const model = tool(async () => {
    await fetch(`${base}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'gpt-4o-mini', metadata: { team: 'a' }, messages: [] }) });
    await fetch(`${base}/upload`, { method: 'POST', body: JSON.stringify({ file: 'x' }) });
    await fetch(`${base}/text`, { method: 'POST', body: 'not json' });
    return 'ok';
  }, { name: 'model_call', schema: z.object({}) });
  received.length = 0;
  await model.invoke({}, { callbacks: [h], runId: RUN });
  assert.deepEqual(JSON.parse(received[0].body).metadata, { team: 'a', gatehouse_run: RUN, gatehouse_step: 'chat' });
  assert.deepEqual(JSON.parse(received[1].body), { file: 'x' });
  assert.equal(received[2].body, 'not json');
  assert.deepEqual(correlationFromHeaders(received[0].headers), { runId: RUN, step: 'chat' });
});

// PostgreSQL keeps 63 bytes of application_name (Gatehouse reads the whole value the client sends): these names fit.
const appName = async (q: { query(sql: string): Promise<{ rows: { a: string }[] }> }) => (await q.query("SELECT current_setting('application_name') AS a")).rows[0].a;

test('pg pool: inside a run, connections carry `run=<id> step=<name>` as application_name; closed when the run ends', async () => {
  const h = new GatehouseCallbackHandler();
  const pool = correlatedPool(h, { ...PG, database: 'postgres', application_name: 'bot', max: 2 });
  try {
    assert.equal(await appName(pool), 'bot', 'outside a run: the pool as configured');
    const sql = tool(async () => {
      const viaQuery = await appName(pool);
      const client = await pool.connect();
      try { return `${viaQuery}|${await appName(client)}`; } finally { client.release(); }
    }, { name: 'sql', schema: z.object({}) });
    const [viaQuery, viaConnect] = (await sql.invoke({}, { callbacks: [h], runId: RUN })).split('|');
    assert.equal(viaQuery, `bot run=${RUN} step=sql`);
    assert.equal(viaConnect, viaQuery);
    assert.deepEqual(correlationFromApplicationName(viaQuery), { runId: RUN, step: 'sql' });
    // The run's own pool is ended with the run: its connections leave the server.
    const watcher = new pg.Client({ ...PG, database: 'postgres' });
    await watcher.connect();
    try {
      let left = -1;
      for (let i = 0; i < 100 && left !== 0; i++, await tick()) {
        left = (await watcher.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [viaQuery])).rows[0].n;
      }
      assert.equal(left, 0);
    } finally {
      await watcher.end();
    }
  } finally {
    await pool.end();
  }
});

test('pg driver for TypeORM: DataSource queries inside a tool are tagged', async () => {
  const h = new GatehouseCallbackHandler();
  const ds = new DataSource({ type: 'postgres', ...PG, username: PG.user, database: 'postgres', driver: correlatedPg(h) });
  await ds.initialize();
  try {
    const sql = tool(async () => (await ds.query("SELECT current_setting('application_name') AS a"))[0].a as string, { name: 'sql', schema: z.object({}) });
    assert.equal(await sql.invoke({}, { callbacks: [h], runId: RUN }), `langchain run=${RUN} step=sql`);
    assert.deepEqual(correlationFromApplicationName((await ds.query("SELECT current_setting('application_name') AS a"))[0].a), { runId: null, step: null });
  } finally {
    await ds.destroy();
  }
});
