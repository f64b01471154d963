// More real clients through the MySQL gateway: caching_sha2_password (over TLS and over RSA), TypeORM's MySQL driver, LangChain's SqlDatabase.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import { DataSource, EntitySchema } from 'typeorm';
import { SqlDatabase } from '@langchain/classic/sql_db';
import { dropDatabase, freshDatabase, mysqlGateway, type MysqlGateway } from './support/mysql.ts';

const roles = `writer:
  shop: { read: [orders, products, customers], write: [orders], mask: { customers.email: partial } }
reader:
  shop: { read: [orders, products] }`;

let db: string;
let gw: MysqlGateway;
before(async () => {
  db = await freshDatabase('clients');
  gw = await mysqlGateway(db, roles, { connection: 'auth_plugin: caching_sha2_password' });
});
after(async () => {
  await gw?.close();
  await dropDatabase(db);
});

describe('caching_sha2_password (what MySQL 8 clients speak by default)', () => {
  test('full authentication over TLS: the token travels inside TLS', async () => {
    const { token } = await gw.mint('reader', 'sha2');
    const c = await mysql.createConnection({ ...gw.address, user: 'sha2', password: token, database: db, ssl: { rejectUnauthorized: false } });
    const [rows] = await c.query('SELECT COUNT(*) AS n FROM products') as [Record<string, unknown>[], unknown];
    assert.equal(Number(rows[0].n), 3);
    await c.end();
  });

  test('full authentication without TLS: the token travels RSA-encrypted with the gateway\'s key', async () => {
    const { token } = await gw.mint('reader', 'sha2');
    const c = await mysql.createConnection({ ...gw.address, user: 'sha2', password: token, database: db });
    await c.query('SELECT 1');
    await c.end();
  });

  test('a wrong token, or the right token under another label, is refused', async () => {
    const { token } = await gw.mint('reader', 'sha2');
    const wrong = await mysql.createConnection({ ...gw.address, user: 'sha2', password: token.slice(0, -1) + 'x', database: db }).then(() => undefined, (e: { errno: number }) => e);
    assert.equal(wrong?.errno, 1045);
    const other = await mysql.createConnection({ ...gw.address, user: 'someone-else', password: token, database: db }).then(() => undefined, (e: { errno: number; message: string }) => e);
    assert.equal(other?.errno, 1045);
    assert.match(other?.message ?? '', /labelled "sha2"/);
  });
});

interface Order { id: number; customer_id: number; product_id: number; note: string | null }
const OrderSchema = new EntitySchema<Order>({
  name: 'Order',
  tableName: 'orders',
  columns: { id: { type: Number, primary: true, generated: true }, customer_id: { type: Number }, product_id: { type: Number }, note: { type: String, nullable: true } },
});

describe('TypeORM (mysql driver over mysql2)', () => {
  test('connects with the token, reads and writes what the grant allows, and gets ERR 1142 for the rest', async () => {
    const { token } = await gw.mint('writer', 'orm');
    const ds = new DataSource({ type: 'mysql', ...gw.address, username: 'orm', password: token, database: db, entities: [OrderSchema] });
    await ds.initialize();
    try {
      const repo = ds.getRepository(OrderSchema);
      const all = await repo.find({ order: { id: 'ASC' } });
      assert.deepEqual(all.map((o) => o.note), ['first', 'second', 'third']);
      const saved = await repo.save({ customer_id: 2, product_id: 1, note: 'via typeorm' });
      assert.ok(saved.id > 3);
      const e = await ds.query('DELETE FROM products').then(() => undefined, (err: { errno: number }) => err);
      assert.equal(e?.errno, 1142);
      const masked = await ds.query('SELECT email FROM customers ORDER BY id');
      assert.equal(masked[0].email, 'a***@example.com');
    } finally {
      await ds.destroy();
    }
  });
});

describe('LangChain SqlDatabase over TypeORM', () => {
  test('introspects the granted tables and runs an agent\'s query; a prompt-injected DROP comes back as an error', async () => {
    const { token } = await gw.mint('reader', 'sql-agent');
    const ds = new DataSource({ type: 'mysql', ...gw.address, username: 'sql-agent', password: token, database: db });
    await ds.initialize();
    try {
      const sqlDb = await SqlDatabase.fromDataSourceParams({ appDataSource: ds, includesTables: ['orders', 'products'], sampleRowsInTableInfo: 1 });
      const info = await sqlDb.getTableInfo();
      assert.match(info, /CREATE TABLE products/);
      assert.match(info, /CREATE TABLE orders/);
      const result = await sqlDb.run('SELECT name FROM products ORDER BY price DESC LIMIT 1');
      assert.match(result, /desk/);
      const refused = await sqlDb.run('DROP TABLE orders').then((r) => r, (e: Error) => e.message);
      assert.match(String(refused), /Gatehouse.*ddl/);
    } finally {
      await ds.destroy();
    }
  });
});

describe('upstream TLS', () => {
  test('upstream_tls: require refuses a plaintext upstream at start-up, saying why', async () => {
    await assert.rejects(mysqlGateway(db, roles, { connection: 'upstream_tls: require' }), /does not offer TLS and upstream_tls is "require"/);
  });
});

describe('graceful shutdown', () => {
  test('a drain lets an open transaction finish, then ends the session; new connections are refused', async () => {
    const draining = await mysqlGateway(db, roles);
    try {
      const { token } = await draining.mint('writer', 'drain');
      const c = await mysql.createConnection({ ...draining.address, user: 'drain', password: token, database: db });
      c.on('error', () => undefined);
      await c.query('BEGIN');
      await c.query("INSERT INTO orders (customer_id, product_id, note) VALUES (1, 2, 'during drain')");
      const drained = draining.listeners[0].drain!();
      await c.query('COMMIT');
      await drained;
      const root = await mysql.createConnection({ host: '127.0.0.1', user: 'root', database: db });
      const [rows] = await root.query("SELECT COUNT(*) AS n FROM orders WHERE note = 'during drain'") as [Record<string, unknown>[], unknown];
      await root.end();
      assert.equal(Number(rows[0].n), 1, 'the transaction finished');
      await assert.rejects(c.query('SELECT 1'), 'the session ended once idle');
      await assert.rejects(mysql.createConnection({ ...draining.address, user: 'drain', password: token, database: db }), 'no new connections');
    } finally {
      await draining.close();
    }
  });
});
