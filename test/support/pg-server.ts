// The PostgreSQL server the tests and benchmarks use (127.0.0.1:5432, trust auth), and databases made afresh on it.
import pg from 'pg';

export const PG = { host: '127.0.0.1', port: 5432, user: 'postgres' };

/**
 * Test databases are suffixed with GATEHOUSE_TEST_DB_SUFFIX when it is set, so two checkouts can run their suites
 * against the same server at once without dropping each other's databases.
 */
export const testDatabase = (name: string) => `${name}${process.env.GATEHOUSE_TEST_DB_SUFFIX ?? ''}`;

/** Drops and recreates an empty database on the real server (a store's, say). Fails loudly if PostgreSQL is down. */
export async function emptyDatabase(name: string): Promise<void> {
  const admin = new pg.Client({ ...PG, database: 'postgres' });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
}
