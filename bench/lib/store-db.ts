// A PostgreSQL store database made afresh on the loopback server, for the sections that run the gateway on a shared store.
import { emptyDatabase, PG } from '../../test/support/pg-server.ts';

/** Drops and creates `name`; resolves to the `store:` URL of it. */
export async function freshStoreDatabase(name: string): Promise<string> {
  await emptyDatabase(name);
  return `postgres://${PG.user}@${PG.host}:${PG.port}/${name}`;
}
