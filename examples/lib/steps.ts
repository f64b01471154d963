// The chain steps the examples share, written as any LangChain.js app would: each knows only a connection string, or a base URL and a key.
import 'reflect-metadata';
import { SqlDatabase } from '@langchain/classic/sql_db';
import { PGVectorStore } from '@langchain/community/vectorstores/pgvector';
import type { BaseRetriever } from '@langchain/core/retrievers';
import { tool } from '@langchain/core/tools';
import { ChatOpenAI } from '@langchain/openai';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { z } from 'zod';
import { GatehouseCallbackHandler } from '../../packages/langchain/src/index.ts';
import { correlatedPg, correlatedPool } from '../../packages/langchain/src/pg.ts';
import { DemoEmbeddings } from './embeddings.ts';

/** Everything the agent is configured with: per step, a connection string, or a base URL and a key (its Gatehouse token). */
export interface StepConfig {
  /** Retriever step: reads the pgvector `chunks` table. */
  ragDatabaseUrl: string;
  /** SQL step: a read-only token. */
  sqlDatabaseUrl: string;
  /** Support step (approvals example): may delete tickets, once a person approves. */
  supportDatabaseUrl?: string;
  billingBaseUrl: string;
  billingApiKey: string;
  /** MCP step: the gateway's MCP endpoint and a token for its tools. */
  mcpUrl?: string;
  mcpToken?: string;
  /** Workspace step: a directory served over MCP, and a token for it. */
  workspaceUrl?: string;
  workspaceToken?: string;
  openaiBaseUrl: string;
  openaiApiKey: string;
}

/** The chat model, through the LLM gateway. `fetch` tags each call with the run and step (optional). */
export function chatModel(baseURL: string, apiKey: string, handler?: GatehouseCallbackHandler) {
  return new ChatOpenAI({
    model: 'gpt-4o-mini',
    apiKey,
    maxRetries: 1,
    configuration: { baseURL, ...(handler ? { fetch: handler.fetch({ step: 'chat' }) } : {}) },
  });
}

/** PGVectorStore over the demo's `chunks` table, through the PostgreSQL gateway (never initialize(): that runs DDL). */
export function vectorStore(databaseUrl: string, handler?: GatehouseCallbackHandler) {
  const store = new PGVectorStore(new DemoEmbeddings(), {
    pool: pgPool(databaseUrl, handler),
    tableName: 'chunks',
    columns: { idColumnName: 'id', contentColumnName: 'content', metadataColumnName: 'metadata', vectorColumnName: 'embedding' },
    distanceStrategy: 'cosine',
  });
  return { store, retriever: store.asRetriever({ k: 2 }), close: () => store.pool.end() };
}

/** LangChain's SqlDatabase over TypeORM, through the PostgreSQL gateway. */
export async function sqlDatabase(databaseUrl: string, handler?: GatehouseCallbackHandler) {
  const dataSource = new DataSource({ type: 'postgres', url: databaseUrl, ...(handler ? { driver: correlatedPg(handler) } : {}) });
  const db = await SqlDatabase.fromDataSourceParams({ appDataSource: dataSource, includesTables: ['tickets', 'documents'], sampleRowsInTableInfo: 2 });
  return { db, close: () => dataSource.destroy() };
}

/** A failed statement, as the model should read it: SQLSTATE and the server's (here: Gatehouse's) message. */
export class SqlToolError extends Error {
  constructor(readonly code: string | undefined, message: string) {
    super(`SQL error${code ? ` ${code}` : ''}: ${message}`);
    this.name = 'SqlToolError';
  }
}

const sqlError = (err: unknown) => {
  const e = err as { code?: string; message?: string; driverError?: { code?: string } };
  return new SqlToolError(e.code ?? e.driverError?.code, e.message ?? String(err));
};

/** The SQL agent's tool: runs the model's statement with the step's read-only token. Errors reach the model as tool errors. */
export function querySqlTool(db: SqlDatabase) {
  return tool(async ({ query }) => {
    try {
      return await db.run(query);
    } catch (err) {
      throw sqlError(err);
    }
  }, {
    name: 'query_sql',
    description: `Runs one PostgreSQL query and returns the rows as JSON. Tables: ${db.includesTables.join(', ')}.`,
    schema: z.object({ query: z.string().describe('a single SQL statement') }),
  });
}

/** Document search: the retriever as a tool. */
export function searchDocsTool(retriever: BaseRetriever) {
  return tool(async ({ query }, config) => {
    const docs = await retriever.invoke(query, config);
    return docs.map((d) => `${String(d.metadata?.title ?? 'doc')}: ${d.pageContent}`).join('\n');
  }, {
    name: 'search_docs',
    description: 'Searches the help-centre documents.',
    schema: z.object({ query: z.string() }),
  });
}

/** The billing API step: GET any path with the step's token; the gateway decides which paths it may read. */
export function billingTool(baseUrl: string, apiKey: string, handler?: GatehouseCallbackHandler) {
  const fetch = handler ? handler.fetch() : globalThis.fetch;
  return tool(async ({ path }) => {
    const res = await fetch(`${baseUrl.replace(/\/$/, '')}/${path.replace(/^\//, '')}`, { headers: { Authorization: `Bearer ${apiKey}` } });
    return httpResult(res);
  }, {
    name: 'billing_get',
    description: 'GETs a path of the billing API, e.g. /invoices/42, and returns the JSON.',
    schema: z.object({ path: z.string() }),
  });
}

/** A risky tool: a refund. The billing grant says `approve: ["POST /refunds"]`, so the call waits for a person. */
export function refundTool(baseUrl: string, apiKey: string, handler?: GatehouseCallbackHandler) {
  const fetch = handler ? handler.fetch() : globalThis.fetch;
  return tool(async (refund) => {
    const res = await fetch(`${baseUrl.replace(/\/$/, '')}/refunds`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${apiKey}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(refund),
    });
    return httpResult(res);
  }, {
    name: 'refund_invoice',
    description: 'Refunds an amount of an invoice.',
    schema: z.object({ invoice: z.number().int(), amount: z.number().positive(), currency: z.string() }),
  });
}

/** An HTTP answer as the model should read it: the body, or an error with the status and Gatehouse's (or the API's) message. */
async function httpResult(res: Response): Promise<string> {
  const text = await res.text();
  if (res.ok) return text;
  let message = text;
  try { message = (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? text; } catch { /* not JSON */ }
  throw new Error(`HTTP ${res.status}: ${message}`);
}

/** A risky tool: deleting a ticket. Gatehouse holds the DELETE until a person approves; the call just takes longer. */
export function closeTicketTool(databaseUrl: string, handler?: GatehouseCallbackHandler) {
  const p = pgPool(databaseUrl, handler);
  const close = tool(async ({ id }) => {
    try {
      const r = await p.query('DELETE FROM tickets WHERE id = $1', [id]);
      return `deleted ${r.rowCount} ticket(s)`;
    } catch (err) {
      throw sqlError(err);
    }
  }, {
    name: 'close_duplicate_ticket',
    description: 'Deletes a duplicate support ticket by id.',
    schema: z.object({ id: z.number().int() }),
  });
  return { tool: close, close: () => p.end() };
}

/** A pool on the step's connection string; with the handler, its connections carry the run and step (application_name). */
function pgPool(connectionString: string, handler?: GatehouseCallbackHandler): pg.Pool {
  const config = { connectionString, max: 4 };
  return handler ? correlatedPool(handler, config) : new pg.Pool(config);
}
