// The audit table's rows and its chained batch insert.
import type Database from 'better-sqlite3';

/**
 * A record as one row of column values in table order — seq, ts, kind, session, token, connection, verdict, data
 * (the JSON text that was hashed), previous hash, hash.
 */
export type AuditRow = [number, number, string, string | null, string | null, string | null, string | null, string, string, string];

/** The previous hash of the first record. */
export const GENESIS = '0'.repeat(64);

/**
 * Inserts a batch of rows in one transaction, all or none, and only if the batch continues the stored chain (its first
 * row follows the last stored seq and links to its hash). A batch chained onto one that failed, or written by a second
 * writer, is refused instead of forking the chain: the audit log rolls back to what is stored and goes on from there.
 */
export function chainedAuditInserter(db: Database.Database): (rows: AuditRow[]) => void {
  const insert = db.prepare('INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
  const last = db.prepare<[], { seq: number; hash: string }>('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1');
  // The head is read inside the transaction: a batch continues what is stored, whoever stored it.
  return db.transaction((rows: AuditRow[]) => {
    if (!rows.length) return;
    const head = last.get() ?? { seq: 0, hash: GENESIS };
    const [seq, , , , , , , , prevHash] = rows[0];
    if (seq !== head.seq + 1 || prevHash !== head.hash) {
      throw new Error(`audit batch starting at record ${seq} does not continue the stored chain (last stored: ${head.seq})`);
    }
    for (const row of rows) insert.run(row);
  });
}
