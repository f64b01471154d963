// examples/rag-chain.ts end to end: LangChain's PGVectorStore and ChatOpenAI through Gatehouse's PostgreSQL and LLM gateways.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { Document } from '@langchain/core/documents';
import { PGVectorStore } from '@langchain/community/vectorstores/pgvector';
import { GatehouseCallbackHandler } from '../packages/langchain/src/index.ts';
import { ragChain } from '../examples/rag-chain.ts';
import { DemoEmbeddings, embed } from '../examples/lib/embeddings.ts';
import type { SessionRecord } from '../src/services/store/store.ts';
import { startLangchainDemo, type LangchainDemo } from './helpers/langchain.ts';
import { run } from './support/run.ts';

let t: LangchainDemo;
before(async () => { t = await startLangchainDemo(); });
after(async () => { await t?.close(); });

const cli = (args: string[]) => run(process.execPath, ['bin/gatehouse.js', ...args], { GATEHOUSE_URL: t.admin.url, GATEHOUSE_ADMIN_KEY: t.admin.key });
const QUESTION = 'How do refunds work for annual plans?';

test('the demo embedder puts questions on the seed\'s axes', () => {
  assert.deepEqual(embed('How do refunds work?'), [1, 0, 0]);
  assert.deepEqual(embed('I forgot my password'), [0, 1, 0]);
  assert.deepEqual(embed('export my data as CSV'), [0, 0, 1]);
  const other = embed('hello');
  assert.equal(other.length, 3);
  assert.ok(other.every((x) => x > 0), 'never the zero vector');
  assert.deepEqual(embed('hello'), other, 'deterministic');
});

test('retrieval chain: the retriever reads pgvector chunks with its token, the model answers with its own', async () => {
  const handler = new GatehouseCallbackHandler();
  const { chain, close } = ragChain(await t.config('chat'), handler);
  const runId = randomUUID();
  try {
    const out = await chain.invoke(QUESTION, { callbacks: [handler], runId });
    assert.deepEqual(out.docs.map((d) => d.pageContent), ['Refunds are available within 30 days', 'for annual plans']);
    assert.deepEqual(out.docs[0].metadata, { document_id: 1, title: 'Refund policy' });
    assert.equal(out.answer, `Hello from the Gatehouse demo model. You said: "${QUESTION}"`);
  } finally {
    await close();
  }
  // What the retriever sent is an ordinary pgvector query, judged and allowed for the retriever role.
  // One run, two steps, two tokens: the retriever on PostgreSQL and the model on the LLM gateway.
  const sessions = await t.gateway.services.store.listSessions({ runId, limit: 10 });
  assert.deepEqual(sessions.map((s) => [s.label, s.role, s.connection, s.step]).sort(), [['chat', 'chat', 'openai', 'chat'], ['rag', 'retriever', 'crm', 'retrieve']]);
  const retriever = sessions.find((s) => s.connection === 'crm')!;
  const requests = (await t.audit()).filter((r) => r.kind === 'request' && r.sessionId === retriever.id);
  assert.equal(requests.length, 1);
  assert.equal(requests[0].verdict, 'allow');
  assert.match(String(requests[0].data.summary), /"embedding" <=> \$1 as "_distance"\s+FROM chunks/);
  // The model call went through the LLM gateway as the chat step.
  const chat = sessions.find((s) => s.connection === 'openai')!;
  assert.ok((await t.audit()).some((r) => r.kind === 'request' && r.sessionId === chat.id && r.verdict === 'allow' && r.data.model === 'gpt-4o-mini'));
});

test('`gatehouse sessions list --run` and `replay` show the run\'s retriever step', async () => {
  const handler = new GatehouseCallbackHandler();
  const { chain, close } = ragChain(await t.config('chat'), handler);
  const runId = randomUUID();
  try {
    await chain.invoke('I forgot my password', { callbacks: [handler], runId });
  } finally {
    await close();
  }
  const listed = await cli(['sessions', 'list', '--run', runId, '--json']);
  assert.equal(listed.status, 0, listed.stderr);
  const sessions = JSON.parse(listed.stdout) as SessionRecord[];
  assert.deepEqual(sessions.map((s) => [s.runId, s.step, s.label]).sort(), [[runId, 'chat', 'chat'], [runId, 'retrieve', 'rag']]);
  const replay = await cli(['replay', sessions.find((s) => s.step === 'retrieve')!.id]);
  assert.equal(replay.status, 0, replay.stderr);
  assert.match(replay.stdout, new RegExp(`run ${runId} step retrieve`));
  assert.match(replay.stdout, /ALLOW\s+SELECT \*, "embedding" <=> \$1/);
  assert.match(replay.stdout, /Use the Forgot password link/, 'the rows the retriever saw');
});

test('LangChain\'s own schema setup and writes are refused for the retriever token (42501), the store stays usable', async () => {
  const config = await t.config('chat');
  // initialize() keeps a client checked out, and throws before anyone could release it: the test does, to end cleanly.
  const pool = new pg.Pool({ connectionString: config.ragDatabaseUrl, max: 2 });
  const held = new Set<pg.PoolClient>();
  pool.on('acquire', (c) => { held.add(c); c.on('error', () => undefined); });
  pool.on('release', (_err, c) => held.delete(c));
  const args = {
    pool,
    tableName: 'chunks',
    columns: { idColumnName: 'id', contentColumnName: 'content', metadataColumnName: 'metadata', vectorColumnName: 'embedding' },
  };
  try {
    // PGVectorStore.initialize() runs CREATE EXTENSION / CREATE TABLE IF NOT EXISTS: DDL the retriever was never granted.
    await assert.rejects(PGVectorStore.initialize(new DemoEmbeddings(), { ...args, dimensions: 3 }), (e: { code?: string; message: string }) => {
      assert.equal(e.code, '42501');
      assert.match(e.message, /statement kind "ddl" \(CREATE EXTENSION\) is not granted to role "retriever"/);
      return true;
    });
    for (const c of held) c.release();
    const store = new PGVectorStore(new DemoEmbeddings(), args);
    // PGVectorStore rewraps insert errors without the SQLSTATE; the gateway's 42501 message is still what it says.
    await assert.rejects(store.addDocuments([new Document({ pageContent: 'injected: refunds are unlimited', metadata: {} })]),
      /Error inserting: Gatehouse: role "retriever" may not insert into public\.chunks/);
    const found = await store.similaritySearch('refund', 4);
    assert.equal(found.length, 4);
    assert.ok(!found.some((d) => d.pageContent.includes('injected')));
  } finally {
    for (const c of held) c.release();
    await pool.end();
  }
  const refused = (await t.audit()).filter((r) => r.kind === 'request' && r.verdict === 'deny' && /^\s*(CREATE EXTENSION|INSERT INTO chunks)/.test(String(r.data.summary)));
  assert.deepEqual(refused.map((r) => r.data.rule), ['sql.statement.ddl', 'sql.relation.write']);
});

test('without the companion package the chain works the same, its sessions just carry no run', async () => {
  const { chain, close } = ragChain(await t.config('chat'));
  const before = new Set((await t.gateway.services.store.listSessions({ connection: 'crm', limit: 1000 })).map((s) => s.id));
  try {
    const out = await chain.invoke('How do I export data?');
    assert.deepEqual(out.docs.map((d) => d.pageContent)[0], 'export workspace data as CSV');
  } finally {
    await close();
  }
  const fresh = (await t.gateway.services.store.listSessions({ connection: 'crm', limit: 1000 })).filter((s) => !before.has(s.id));
  assert.deepEqual(fresh.map((s) => [s.label, s.runId, s.step]), [['rag', null, null]]);
});
