// The PostgreSQL adapter in the conformance suite: the real server on 127.0.0.1:5432 and the `pg` client.
import assert from 'node:assert/strict';
import pg from 'pg';
import { freshDatabase, PG, testDatabase } from '../support/pg.ts';
import type { Agent, Answer, Driver } from './driver.ts';

const DB = testDatabase('gatehouse_conformance');

const answer = (p: Promise<unknown>): Promise<Answer> =>
  p.then(() => ({ ok: true }) as const, (err: Error & { code?: string }) => ({ ok: false, refusal: `${err.code ?? ''} ${err.message}` }));

export const postgres: Driver = {
  name: 'postgres',
  async setup() {
    await freshDatabase(DB);
    return `
connections:
  crm:
    kind: postgres
    listen: 127.0.0.1:0
    upstream: postgres://postgres@127.0.0.1:5432/${DB}
    tls: off
    upstream_tls: disable
roles:
  agent:
    crm:
      read: [tickets]
      write: [tickets]
      functions: [pg_sleep]
      approve: [insert]
`;
  },
  async teardown() {},
  async connect(address, token, tags) {
    const [host, port] = address.split(':');
    const client = new pg.Client({ host, port: Number(port), user: token.label, password: token.token, database: DB, application_name: `conformance run=${tags.run} step=${tags.step}` });
    client.on('error', () => undefined); // a cut session errors the idle client too
    await client.connect();
    const agent: Agent = {
      allowed: async () => { await client.query('SELECT subject FROM tickets LIMIT 1'); },
      held: () => answer(client.query(`INSERT INTO tickets (customer_id, subject) VALUES (1, 'conformance')`)),
      live() {
        const ended = answer(client.query('SELECT pg_sleep(30)'));
        return { started: waitForActivity('pg_sleep(30)'), ended };
      },
      close: () => client.end().catch(() => undefined),
    };
    return agent;
  },
  authRefusal(outcome) {
    const err = outcome as { code?: string; message?: string };
    assert.ok(err.code === '28P01' || err.code === '28000', `a PostgreSQL authentication error, got ${err.code}: ${err.message}`);
    return `${err.code} ${err.message}`;
  },
  async forwardedHeld() {
    return Number((await direct(`SELECT count(*) AS n FROM tickets WHERE subject = 'conformance'`))[0].n);
  },
};

async function direct(sql: string): Promise<Record<string, unknown>[]> {
  const c = new pg.Client({ ...PG, database: DB });
  await c.connect();
  try { return (await c.query(sql)).rows; } finally { await c.end(); }
}

/** Resolves once the upstream runs a statement containing `needle` (it reached the database, not just the gateway). */
async function waitForActivity(needle: string) {
  for (let i = 0; i < 200; i++) {
    const rows = await direct(`SELECT 1 FROM pg_stat_activity WHERE datname = '${DB}' AND query LIKE '%${needle}%' AND state = 'active' AND pid <> pg_backend_pid()`);
    if (rows.length) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`the upstream never ran ${needle}`);
}
