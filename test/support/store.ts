// Which store a test gateway runs on: the embedded SQLite store, or — with GATEHOUSE_TEST_STORE=postgres — the PostgreSQL
// store on 127.0.0.1:5432, so the store-dependent suites run on both (`npm test` runs them twice). Each gateway gets a
// fresh schema of its own in one database, made anew by each test file (they run one at a time): as empty as
// `sqlite::memory:`, and quick to make.
import pg from 'pg';

const PG = { host: '127.0.0.1', port: 5432, user: 'postgres' };
const which = process.env.GATEHOUSE_TEST_STORE ?? 'sqlite';
let database: Promise<string> | undefined;
let schemas = 0;

/** The `store:` value for a test gateway. */
export async function testStore(): Promise<string> {
  if (which === 'sqlite') return 'sqlite::memory:';
  if (which !== 'postgres') throw new Error(`GATEHOUSE_TEST_STORE must be sqlite or postgres, not "${which}"`);
  database ??= freshDatabase(`gatehouse_suite_store${process.env.GATEHOUSE_TEST_DB_SUFFIX ?? ''}`);
  const name = await database;
  const schema = `gateway_${++schemas}`;
  await withAdmin(name, (c) => c.query(`CREATE SCHEMA ${schema}`));
  return `postgres://${PG.user}@${PG.host}:${PG.port}/${name}?options=-c%20search_path%3D${schema}`;
}

async function freshDatabase(name: string): Promise<string> {
  await withAdmin('postgres', async (c) => {
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await c.query(`CREATE DATABASE ${name}`);
  });
  return name;
}

async function withAdmin<T>(database: string, work: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ ...PG, database });
  await c.connect();
  try {
    return await work(c);
  } finally {
    await c.end();
  }
}
