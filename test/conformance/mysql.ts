// The MySQL adapter in the conformance suite: the real MariaDB on 127.0.0.1:3306 and the mysql2 client.
import assert from 'node:assert/strict';
import mysql from 'mysql2/promise';
import { dropDatabase, freshDatabase, MARIADB, UPSTREAM_PASSWORD, UPSTREAM_USER } from '../support/mysql.ts';
import type { Agent, Answer, Driver } from './driver.ts';

let db = '';

const answer = (p: Promise<unknown>): Promise<Answer> =>
  p.then(() => ({ ok: true }) as const, (err: Error & { errno?: number }) => ({ ok: false, refusal: `${err.errno ?? ''} ${err.message}` }));

export const mysqlDriver: Driver = {
  name: 'mysql',
  async setup() {
    db = await freshDatabase('conformance');
    return `
connections:
  shop:
    kind: mysql
    listen: 127.0.0.1:0
    upstream: mysql://${UPSTREAM_USER}:${UPSTREAM_PASSWORD}@127.0.0.1:3306/${db}
    tls: off
    upstream_tls: disable
roles:
  agent:
    shop:
      read: [orders]
      write: [orders]
      functions: [sleep]
      approve: [insert]
`;
  },
  async teardown() {
    await dropDatabase(db);
  },
  async connect(address, token, tags) {
    const [host, port] = address.split(':');
    const client = await mysql.createConnection({
      host, port: Number(port), user: token.label, password: token.token, database: db,
      connectAttributes: { program_name: `conformance run=${tags.run} step=${tags.step}` },
    });
    client.on('error', () => undefined); // a cut session errors the idle client too
    const agent: Agent = {
      allowed: async () => { await client.query('SELECT note FROM orders LIMIT 1'); },
      held: () => answer(client.query("INSERT INTO orders (customer_id, product_id, note) VALUES (1, 1, 'conformance')")),
      live() {
        const ended = answer(client.query('SELECT SLEEP(30)'));
        return { started: waitForActivity('SLEEP(30)'), ended };
      },
      close: () => client.end().catch(() => undefined),
    };
    return agent;
  },
  authRefusal(outcome) {
    const err = outcome as { errno?: number; sqlState?: string; message?: string };
    assert.equal(err.errno, 1045, `a MySQL access-denied error, got ${err.errno}: ${err.message}`);
    assert.equal(err.sqlState, '28000');
    return `${err.errno} ${err.message}`;
  },
  async forwardedHeld() {
    return Number((await direct("SELECT COUNT(*) AS n FROM orders WHERE note = 'conformance'"))[0].n);
  },
};

async function direct(sql: string): Promise<Record<string, unknown>[]> {
  const c = await mysql.createConnection({ ...MARIADB, database: db });
  try { return (await c.query(sql))[0] as Record<string, unknown>[]; } finally { await c.end(); }
}

/** Resolves once the upstream runs a statement containing `needle` (it reached the database, not just the gateway). */
async function waitForActivity(needle: string) {
  for (let i = 0; i < 200; i++) {
    const rows = await direct(`SELECT 1 FROM information_schema.PROCESSLIST WHERE DB = '${db}' AND INFO LIKE '%${needle}%' AND ID <> CONNECTION_ID()`);
    if (rows.length) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`the upstream never ran ${needle}`);
}
