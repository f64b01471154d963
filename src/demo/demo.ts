// `gatehouse demo`: everything in one process — PGlite as the upstream database, the gateway, and tokens to try.
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../config/load.ts';
import { startGateway } from '../main.ts';
import { demoRoles, demoSchema } from './seed.ts';

export interface DemoOptions {
  /** Ports for admin / crm; 0 picks free ones (tests). */
  adminPort?: number;
  crmPort?: number;
  log?: (line: string) => void;
}

export async function startDemo(opts: DemoOptions = {}) {
  const db = await PGlite.create({ extensions: { vector } });
  await db.exec(demoSchema);
  const pgServer = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 16 });
  await pgServer.start();
  const pgPort = Number(pgServer.getServerConn().split(':').at(-1));
  const adminKey = 'demo-' + randomBytes(16).toString('hex');
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-demo-'));
  const yaml = `
admin:
  listen: 127.0.0.1:${opts.adminPort ?? 7070}
  keys:
    - { name: demo-admin, key: "${adminKey}", roles: [admin, approver] }
store: sqlite:${join(dir, 'gatehouse.db')}
connections:
  crm:
    kind: postgres
    listen: 127.0.0.1:${opts.crmPort ?? 6432}
    upstream: postgres://postgres@127.0.0.1:${pgPort}/postgres
    upstream_tls: disable
${demoRoles}`;
  const config = parseConfig(yaml, 'demo');
  let gateway;
  try {
    gateway = await startGateway(config, { log: opts.log });
  } catch (err) {
    await pgServer.stop();
    await db.close();
    throw err;
  }
  const mint = (role: string, label: string) => gateway.services.tokens.mint({ role, label, ttlSeconds: 8 * 3600, createdBy: 'demo' });
  const rag = mint('retriever', 'rag');
  const support = mint('support-writer', 'support');
  const analyst = mint('analyst', 'analyst');
  const crm = gateway.listeners.find((l) => l.name === 'crm')!.address;
  const url = (label: string, token: string) => `postgresql://${label}:${token}@${crm}/crm`;

  const instructions = `
Gatehouse demo is running. Upstream: an in-process PostgreSQL (PGlite) with customers, documents, chunks, tickets.
Each chain step has its own token (valid 8h). Try, in another terminal:

  # retriever (read documents, chunks):
  psql "${url('rag', rag.token)}" -c "SELECT id, title FROM documents"                 # allowed
  psql "${url('rag', rag.token)}" -c "DELETE FROM documents"                           # refused: no write grant
  psql "${url('rag', rag.token)}" -c "SELECT * FROM customers"                         # refused: table not granted
  psql "${url('rag', rag.token)}" -c "SELECT set_config('search_path', 'x', false)"     # refused: volatile function

  # support-writer (read tickets+customers, write tickets; PII masked; DELETE needs approval):
  psql "${url('support', support.token)}" -c "SELECT name, email, phone, ssn FROM customers"   # masked
  psql "${url('support', support.token)}" -c "UPDATE tickets SET status = 'closed' WHERE id = 1"  # allowed
  psql "${url('support', support.token)}" -c "SELECT name FROM customers WHERE ssn LIKE '0%'"   # refused: masked column in a filter
  psql "${url('support', support.token)}" -c "DELETE FROM tickets WHERE id = 3"                  # waits for a human:
      npx gatehouse approvals list                      # (with the two env lines below) shows the held DELETE
      npx gatehouse approvals approve <id> --reason ok  # ...and psql completes; or: approvals deny <id>

  # analyst (max_rows: 2):
  psql "${url('analyst', analyst.token)}" -c "SELECT name, plan FROM customers"               # capped at 2 rows, with a NOTICE

Administer it with the CLI:
  export GATEHOUSE_URL=${gateway.adminUrl} GATEHOUSE_ADMIN_KEY=${adminKey}
  npx gatehouse token list
  npx gatehouse audit tail
  npx gatehouse sessions list
  npx gatehouse replay <session id>
  npx gatehouse token revoke ${rag.record.id}     # the rag psql sessions end at once
  npx gatehouse audit verify

Press Ctrl-C to stop.
`;
  return {
    gateway,
    adminKey,
    tokens: { rag, support, analyst },
    instructions,
    async close() {
      await gateway.close();
      await pgServer.stop();
      await db.close();
    },
  };
}
