// A PostgreSQL store database made afresh on the loopback server, for the sections that run the gateway on a shared store.
import pg from 'pg';

const PG = { host: '127.0.0.1', port: 5432, user: 'postgres' };

/** Drops and creates `name`; resolves to the `store:` URL of it. */
export async function freshStoreDatabase(name: string): Promise<string> {
  const admin = new pg.Client({ ...PG, database: 'postgres' });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  return `postgres://${PG.user}@${PG.host}:${PG.port}/${name}`;
}
