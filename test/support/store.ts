// Which store a test gateway runs on: the embedded SQLite store, or — with GATEHOUSE_TEST_STORE=postgres — the PostgreSQL
// store on 127.0.0.1:5432, so the store-dependent suites run on both (`npm test` runs them twice). Each gateway gets a
// fresh schema of its own in one database, made anew by each test file (they run one at a time): as empty as
// `sqlite::memory:`, and quick to make.
import { emptyDatabase, PG, queryOnce, testDatabase } from './pg-server.ts';

const which = process.env.GATEHOUSE_TEST_STORE ?? 'sqlite';
const DATABASE = testDatabase('gatehouse_suite_store');
let made: Promise<void> | undefined;
let schemas = 0;

/** The `store:` value for a test gateway. */
export async function testStore(): Promise<string> {
  if (which === 'sqlite') return 'sqlite::memory:';
  if (which !== 'postgres') throw new Error(`GATEHOUSE_TEST_STORE must be sqlite or postgres, not "${which}"`);
  await (made ??= emptyDatabase(DATABASE));
  const schema = `gateway_${++schemas}`;
  await queryOnce(DATABASE, `CREATE SCHEMA ${schema}`);
  return `postgres://${PG.user}@${PG.host}:${PG.port}/${DATABASE}?options=-c%20search_path%3D${schema}`;
}
