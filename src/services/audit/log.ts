// The audit log: append-only and hash-chained, so altering or removing any record is detectable.
import { createHash } from 'node:crypto';
import type { AuditEvent, AuditRecord, Store } from '../store/store.ts';

const GENESIS = '0'.repeat(64);

function recordHash(prevHash: string, r: Omit<AuditRecord, 'hash' | 'prevHash'>): string {
  const body = JSON.stringify([r.seq, r.ts, r.kind, r.sessionId, r.tokenId, r.connection, r.verdict, r.data]);
  return createHash('sha256').update(prevHash).update('\n').update(body).digest('hex');
}

export type AuditListener = (record: AuditRecord) => void;

export class AuditLog {
  private seq: number;
  private lastHash: string;
  private readonly listeners = new Set<AuditListener>();

  constructor(private readonly store: Store) {
    const last = store.lastAudit();
    this.seq = last?.seq ?? 0;
    this.lastHash = last?.hash ?? GENESIS;
  }

  /**
   * Writes one record and returns it once committed. Throws if the store refuses the write:
   * callers treat that as "refuse the request" (audit before effect, fail closed).
   */
  append(event: AuditEvent): AuditRecord {
    const base = {
      seq: this.seq + 1,
      ts: Date.now(),
      kind: event.kind,
      sessionId: event.sessionId ?? null,
      tokenId: event.tokenId ?? null,
      connection: event.connection ?? null,
      verdict: event.verdict ?? null,
      // Round-trip through JSON so the hashed form is exactly what is stored and read back.
      data: JSON.parse(JSON.stringify(event.data ?? {})) as Record<string, unknown>,
    };
    const record: AuditRecord = { ...base, prevHash: this.lastHash, hash: recordHash(this.lastHash, base) };
    this.store.appendAudit([record]);
    this.seq = record.seq;
    this.lastHash = record.hash;
    for (const l of this.listeners) {
      try { l(record); } catch { /* a listener's failure must not undo a committed record */ }
    }
    return record;
  }

  /** Live feed of committed records (console, `audit tail --follow`). Returns the unsubscribe function. */
  subscribe(listener: AuditListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

export interface VerifyResult {
  ok: boolean;
  records: number;
  /** The first record that does not chain, and why. */
  broken?: { seq: number; reason: string };
}

/** Walks the whole chain from genesis, recomputing every hash. */
export function verifyAudit(store: Store, batch = 5000): VerifyResult {
  let prevHash = GENESIS;
  let expectedSeq = 1;
  let count = 0;
  for (let after = 0; ; ) {
    const records = store.readAudit(after, batch);
    if (records.length === 0) return { ok: true, records: count };
    for (const r of records) {
      if (r.seq !== expectedSeq) return { ok: false, records: count, broken: { seq: expectedSeq, reason: `record ${expectedSeq} is missing` } };
      if (r.prevHash !== prevHash) return { ok: false, records: count, broken: { seq: r.seq, reason: 'previous-hash link does not match the record before it' } };
      if (recordHash(prevHash, r) !== r.hash) return { ok: false, records: count, broken: { seq: r.seq, reason: 'record content does not match its hash (altered)' } };
      prevHash = r.hash;
      expectedSeq++;
      count++;
      after = r.seq;
    }
  }
}
