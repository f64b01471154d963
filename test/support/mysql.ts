// Test support for the MySQL gateway: a fresh database and an upstream account on the real MariaDB, a running gateway, tokens, clients.
import mysql from 'mysql2/promise';
import { parseConfig } from '../../src/config/load.ts';
import { startGateway, type Gateway } from '../../src/main.ts';
import { silent } from './log.ts';
import { testStore } from './store.ts';

export const MARIADB = { host: '127.0.0.1', port: 3306, user: 'root' };
const suffix = process.env.GATEHOUSE_TEST_DB_SUFFIX ?? '';
/** The gateway's own upstream account, with a password, as a deployment would have. */
export const UPSTREAM_USER = `gh_mysql_gw${suffix}`.slice(0, 32);
export const UPSTREAM_PASSWORD = 'gh-mysql-upstream-secret-1';

export const schemaSql = `
CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL, email VARCHAR(100) NOT NULL, ssn VARCHAR(20));
CREATE TABLE products (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL, price DECIMAL(10,2) NOT NULL);
CREATE TABLE orders (id INT PRIMARY KEY AUTO_INCREMENT, customer_id INT NOT NULL, product_id INT NOT NULL, note VARCHAR(200));
CREATE VIEW customer_emails AS SELECT id, email FROM customers;
CREATE VIEW customer_names AS SELECT id, name FROM customers;
CREATE VIEW contact_list AS SELECT email AS contact FROM customer_emails;
INSERT INTO customers VALUES (1, 'Ada Lovelace', 'ada@example.com', '078-05-1120'), (2, 'Grace Hopper', 'grace@example.com', NULL);
INSERT INTO products VALUES (1, 'lamp', 20.00), (2, 'desk', 150.00), (3, 'chair', 80.00);
INSERT INTO orders (customer_id, product_id, note) VALUES (1, 1, 'first'), (2, 2, 'second'), (1, 3, 'third');`;

/** A fresh database `gh_mysql_<name><suffix>` with the schema, readable and writable by the gateway's upstream account. */
export async function freshDatabase(name: string): Promise<string> {
  const db = `gh_mysql_${name}${suffix}`;
  const root = await mysql.createConnection({ ...MARIADB, multipleStatements: true });
  try {
    await root.query(`CREATE USER IF NOT EXISTS '${UPSTREAM_USER}'@'127.0.0.1' IDENTIFIED BY '${UPSTREAM_PASSWORD}';
      DROP DATABASE IF EXISTS ${db}; CREATE DATABASE ${db}; GRANT ALL ON ${db}.* TO '${UPSTREAM_USER}'@'127.0.0.1'; USE ${db}; ${schemaSql}`);
  } finally {
    await root.end();
  }
  return db;
}

export async function dropDatabase(db: string) {
  const root = await mysql.createConnection(MARIADB);
  try {
    await root.query(`DROP DATABASE IF EXISTS ${db}`);
  } finally {
    await root.end();
  }
}

export interface MysqlGateway extends Gateway {
  address: { host: string; port: number };
  mint(role: string, label?: string, ttlSeconds?: number): Promise<{ token: string; id: string }>;
}

/** An approver who is not the tokens' issuer (`test`), so held statements can be decided. */
export const APPROVER = { name: 'approver', key: 'gh-mysql-approver-key-0123456789', roles: ['approver' as const] };

/** A gateway with one `shop` MySQL connection to `db` and the given roles (YAML under `roles:`); `connection` adds keys to it, `top` top-level sections. */
export async function mysqlGateway(db: string, roles: string, options: { connection?: string; top?: string } = {}): Promise<MysqlGateway> {
  const connection = options.connection ?? '';
  const yaml = `admin:
  listen: 127.0.0.1:0
  keys:
    - { name: ${APPROVER.name}, key: ${APPROVER.key}, roles: [approver] }
store: "${await testStore()}"
${options.top ?? ''}
connections:
  shop:
    kind: mysql
    listen: 127.0.0.1:0
    upstream: mysql://${UPSTREAM_USER}:${UPSTREAM_PASSWORD}@127.0.0.1:3306/${db}
${/upstream_tls:/.test(connection) ? '' : '    upstream_tls: disable\n'}${connection.replace(/^/gm, '    ')}
roles:
${roles.replace(/^/gm, '  ')}
`;
  const gw = await startGateway(parseConfig(yaml, 'test', {}), { log: silent });
  const listen = gw.listeners.find((l) => l.name === 'shop')!.address;
  return Object.assign(gw, {
    address: { host: listen.slice(0, listen.lastIndexOf(':')), port: Number(listen.slice(listen.lastIndexOf(':') + 1)) },
    mint: async (role: string, label = 'agent', ttlSeconds = 3600) => {
      const m = await gw.services.tokens.mint({ role, label, ttlSeconds, createdBy: 'test' });
      return { token: m.token, id: m.record.id };
    },
  });
}
