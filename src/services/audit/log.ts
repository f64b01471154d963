// The audit log: append-only and hash-chained, so altering or removing any record is detectable.
//
// Records are written in batches (group commit): a record takes its place in the chain (seq and hash) the moment it is
// appended, and many records share one SQLite transaction. `append` commits at once and returns a durable record;
// `enqueue` leaves the commit to the end of the current turn of the event loop (setImmediate), so every session that
// judged a statement in that turn shares one commit, and `durable()` says when that commit has landed. Callers that
// forward an effect wait for it first: audit before effect holds for queued records too.
import { hash } from 'node:crypto';
import { GENESIS, type AuditRow } from '../store/audit-table.ts';
import type { AuditEvent, AuditRecord, Store } from '../store/store.ts';
import type { Metrics } from '../telemetry/metrics.ts';

/** A batch larger than this is committed at once rather than at the end of the turn, bounding memory and latency. */
const MAX_BATCH = 512;
/** How long a deferred record may wait for a commit to ride along with. */
const DEFER_MS = 5;

/** One-shot hashing: half the cost of a Hash object per record. */
const sha256 = (text: string) => hash('sha256', text, 'hex');

/** The hashed form of a record: the JSON array of its fields, data last. Verification recomputes exactly this. */
function recordHash(prevHash: string, r: Omit<AuditRecord, 'hash' | 'prevHash'>): string {
  const body = JSON.stringify([r.seq, r.ts, r.kind, r.sessionId, r.tokenId, r.connection, r.verdict, r.data]);
  return sha256(`${prevHash}\n${body}`);
}

export type AuditListener = (record: AuditRecord) => void;

interface Batch {
  records: AuditRecord[];
  /** The same records as stored: the data text is the text that was hashed. */
  rows: AuditRow[];
  /** Created only when someone waits for this batch. */
  done?: { promise: Promise<void>; resolve: () => void; reject: (err: Error) => void };
}

export class AuditLog {
  /** The chain's head including queued records. */
  private seq: number;
  private lastHash: string;
  /** The chain's head as committed; a failed batch rolls back to it. */
  private committedSeq: number;
  private committedHash: string;
  private batch: Batch = { records: [], rows: [] };
  private scheduled = false;
  private deferred?: NodeJS.Timeout;
  private readonly listeners = new Set<AuditListener>();

  /** `metrics` hears of every commit (its duration and size) and of every commit the store refuses. */
  constructor(private readonly store: Store, private readonly metrics?: Pick<Metrics, 'auditCommitted' | 'storeError'>) {
    const last = store.lastAudit();
    this.seq = this.committedSeq = last?.seq ?? 0;
    this.lastHash = this.committedHash = last?.hash ?? GENESIS;
  }

  /**
   * Writes one record (with everything queued before it, in one transaction) and returns it once committed. Throws if
   * the store refuses the write: callers treat that as "refuse the request" (audit before effect, fail closed).
   */
  append(event: AuditEvent): AuditRecord {
    const record = this.chain(event);
    this.flush();
    return record;
  }

  /**
   * Gives a record its place in the chain now and commits it with the next group commit (at the end of this turn of
   * the event loop, or earlier if `append` or `flush` runs first). Nothing it covers may be forwarded before
   * `durable()` resolves. A failed commit drops the batch: the chain rolls back, `durable()` rejects (or, when the
   * batch was full and committed at once, this throws).
   */
  enqueue(event: AuditEvent): AuditRecord {
    return this.queue(event, 'turn');
  }

  /**
   * Queues a record nobody waits for (what came of a request): it rides along with the next commit, or is committed
   * within DEFER_MS — most commits then carry a request record and a result record, instead of one each. A process
   * killed in that window loses the result record, never a request record.
   */
  defer(event: AuditEvent): AuditRecord {
    return this.queue(event, 'soon');
  }

  /** Committed records after `afterSeq` (of one session if given), deferred ones included: a reader sees its own writes. */
  read(afterSeq: number, limit: number, sessionId?: string): AuditRecord[] {
    this.flush();
    return this.store.readAudit(afterSeq, limit, sessionId);
  }

  /** Settles once every record queued so far is committed (rejects if that commit failed); undefined if none is queued. */
  durable(): Promise<void> | undefined {
    const batch = this.batch;
    if (!batch.records.length) return undefined;
    if (!batch.done) {
      let resolve!: () => void;
      let reject!: (err: Error) => void;
      const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
      // A batch nobody ends up awaiting must not become an unhandled rejection.
      promise.catch(() => undefined);
      batch.done = { promise, resolve, reject };
    }
    return batch.done.promise;
  }

  /** Commits the queued records now, in one transaction. Throws (after rolling the chain back) if the store refuses. */
  flush(): void {
    const batch = this.batch;
    if (!batch.records.length) return;
    if (this.deferred) {
      clearTimeout(this.deferred);
      this.deferred = undefined;
    }
    this.batch = { records: [], rows: [] };
    const started = performance.now();
    try {
      this.store.appendAudit(batch.rows);
    } catch (err) {
      this.metrics?.storeError('audit');
      this.seq = this.committedSeq;
      this.lastHash = this.committedHash;
      batch.done?.reject(err as Error);
      throw err;
    }
    this.metrics?.auditCommitted((performance.now() - started) / 1000, batch.records.length);
    const last = batch.records[batch.records.length - 1];
    this.committedSeq = last.seq;
    this.committedHash = last.hash;
    batch.done?.resolve();
    if (this.listeners.size) {
      for (const record of batch.records) {
        for (const l of this.listeners) {
          try { l(record); } catch { /* a listener's failure must not undo a committed record */ }
        }
      }
    }
  }

  /** Records chained but not committed yet. */
  get queued(): number {
    return this.batch.records.length;
  }

  /** Live feed of committed records (console, `audit tail --follow`). Returns the unsubscribe function. */
  subscribe(listener: AuditListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Chains a record and makes sure a commit will carry it: at the end of this turn, or within DEFER_MS at the latest. */
  private queue(event: AuditEvent, by: 'turn' | 'soon'): AuditRecord {
    const record = this.chain(event);
    // A full batch commits now; if that fails the record is not in the chain, so the caller hears of it here.
    if (this.batch.records.length >= MAX_BATCH) this.flush();
    else if (by === 'turn' && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.flushQuietly();
      });
    } else if (!this.scheduled && !this.deferred) {
      this.deferred = setTimeout(() => {
        this.deferred = undefined;
        this.flushQuietly();
      }, DEFER_MS).unref();
    }
    return record;
  }

  /** A scheduled commit: its failure reaches the waiters through durable() (a lost result record leaves the chain intact). */
  private flushQuietly() {
    try { this.flush(); } catch { /* reported through durable() */ }
  }

  private chain(event: AuditEvent): AuditRecord {
    const dataJson = JSON.stringify(event.data ?? {});
    const seq = this.seq + 1;
    const ts = Date.now();
    const kind = event.kind;
    const sessionId = event.sessionId ?? null;
    const tokenId = event.tokenId ?? null;
    const connection = event.connection ?? null;
    const verdict = event.verdict ?? null;
    // The same hash as recordHash, from data already serialised: JSON.stringify of the parsed form of a JSON.stringify
    // output is that output again, so splicing the data text into the array text gives the identical body.
    const head = JSON.stringify([seq, ts, kind, sessionId, tokenId, connection, verdict]);
    const prevHash = this.lastHash;
    const digest = sha256(`${prevHash}\n${head.slice(0, -1)},${dataJson}]`);
    // A plain literal of one shape (no spread): this runs twice per statement. The data is parsed back so the record
    // holds exactly what is stored and read back (no undefined, no class instances).
    const record: AuditRecord = { seq, ts, kind, sessionId, tokenId, connection, verdict, data: JSON.parse(dataJson) as Record<string, unknown>, prevHash, hash: digest };
    this.seq = seq;
    this.lastHash = digest;
    this.batch.records.push(record);
    this.batch.rows.push([seq, ts, kind, sessionId, tokenId, connection, verdict, dataJson, prevHash, digest]);
    return record;
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
