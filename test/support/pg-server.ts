// The PostgreSQL server the tests and benchmarks use (127.0.0.1:5432, trust auth), and databases made afresh on it.
import pg from 'pg';

export const PG = { host: '127.0.0.1', port: 5432, user: 'postgres' };

/**
 * Test databases are suffixed with GATEHOUSE_TEST_DB_SUFFIX when it is set, so two checkouts can run their suites
 * against the same server at once without dropping each other's databases.
 */
export const testDatabase = (name: string) => `${name}${process.env.GATEHOUSE_TEST_DB_SUFFIX ?? ''}`;

/** One statement on `database` over a connection of its own; resolves to its rows. Fails loudly if PostgreSQL is down. */
export async function queryOnce<T = Record<string, unknown>>(database: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ ...PG, database });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows as T[];
  } finally {
    await c.end();
  }
}

/** Drops and recreates an empty database on the real server (a store's, say). */
export async function emptyDatabase(name: string): Promise<void> {
  await queryOnce('postgres', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await queryOnce('postgres', `CREATE DATABASE ${name}`);
}
