// The audit log: append-only and hash-chained, so altering or removing any record is detectable.
//
// Records are written in batches (group commit): a record takes its place in the chain (seq and hash) the moment it is
// appended, and many records share one store transaction. `enqueue` leaves the commit to the end of the current turn of
// the event loop (setImmediate), so every session that judged a statement in that turn shares one commit, and
// `durable()` says when that commit has landed; `append` commits at once and resolves to the durable record. Callers
// that forward an effect wait for it first: audit before effect holds for queued records too.
//
// Commits are asynchronous and go to the store one at a time, in chain order: while one is in flight the next batch
// fills up, whatever turn its records come in, and goes as one commit when the one in flight lands (the classic group
// commit: a store whose commit waits on a disk flush then carries every request that arrived meanwhile in one flush,
// not one flush per turn). A failed commit rolls the chain back to what is stored; batches chained onto it fail with
// it, and nothing they cover is forwarded.
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

/** A record's place in the chain, as `enqueue` and `defer` give it: what a caller refers to it by. */
export interface ChainLink {
  seq: number;
  prevHash: string;
  hash: string;
}

interface Batch {
  /** The records as stored: the data text is the text that was hashed, serialised once. */
  rows: AuditRow[];
  /** The chain's generation the batch was chained in: a rollback starts a new one, and older batches cannot commit. */
  generation: number;
  /** Settles when the batch is committed (or failed); created on the first wait. */
  done?: { promise: Promise<void>; resolve: () => void; reject: (err: Error) => void };
  settled?: { error?: Error };
}

export class AuditLog {
  /** The chain's head including queued records. */
  private seq: number;
  private lastHash: string;
  /** The chain's head as committed; a failed batch rolls back to it. */
  private committedSeq: number;
  private committedHash: string;
  private generation = 0;
  private batch: Batch = { rows: [], generation: 0 };
  /** The newest batch handed to the store and not settled yet. */
  private inflight?: Batch;
  /** Commits in order, one at a time. */
  private tail: Promise<void> = Promise.resolve();
  private scheduled = false;
  private deferred?: NodeJS.Timeout;
  /** A flush was asked for while a commit was in flight: the queued batch goes when that commit lands. */
  private wanted = false;
  private readonly listeners = new Set<AuditListener>();

  /** Opens the log on the chain the store holds. */
  static async open(store: Store, metrics?: Pick<Metrics, 'auditCommitted' | 'storeError'>): Promise<AuditLog> {
    const last = await store.lastAudit();
    return new AuditLog(store, last, metrics);
  }

  /** `metrics` hears of every commit (its duration and size) and of every commit the store refuses. */
  private constructor(private readonly store: Store, last: AuditRecord | undefined, private readonly metrics?: Pick<Metrics, 'auditCommitted' | 'storeError'>) {
    this.seq = this.committedSeq = last?.seq ?? 0;
    this.lastHash = this.committedHash = last?.hash ?? GENESIS;
  }

  /**
   * Writes one record (with everything queued before it, in one transaction) and resolves to it once committed. Rejects
   * if the store refuses the write: callers treat that as "refuse the request" (audit before effect, fail closed).
   */
  async append(event: AuditEvent): Promise<AuditRecord> {
    const row = this.chain(event);
    await this.flush();
    return recordOf(row);
  }

  /**
   * Gives a record its place in the chain now and commits it with the next group commit (at the end of this turn of
   * the event loop, or earlier if `append` or `flush` runs first). Nothing it covers may be forwarded before
   * `durable()` resolves. A failed commit drops the batch: the chain rolls back and `durable()` rejects.
   */
  enqueue(event: AuditEvent): ChainLink {
    return this.queue(event, 'turn');
  }

  /**
   * Queues a record nobody waits for (what came of a request): it rides along with the next commit, or is committed
   * within DEFER_MS — most commits then carry a request record and a result record, instead of one each. A process
   * killed in that window loses the result record, never a request record.
   */
  defer(event: AuditEvent): ChainLink {
    return this.queue(event, 'soon');
  }

  /** Committed records after `afterSeq` (of one session if given), deferred ones included: a reader sees its own writes. */
  /** This node's chain, or `node`'s in a shared store; a session's records whichever node holds them. */
  async read(afterSeq: number, limit: number, sessionId?: string, node?: string): Promise<AuditRecord[]> {
    await this.flush();
    return this.store.readAudit(afterSeq, limit, sessionId, node);
  }

  /**
   * Settles once every record chained so far is committed (rejects if that commit failed); undefined if nothing is
   * waiting for a commit. Commits land in chain order, so the newest batch's commit covers every record before it.
   */
  durable(): Promise<void> | undefined {
    const batch = this.batch.rows.length ? this.batch : this.inflight;
    return batch && waitFor(batch);
  }

  /**
   * Commits the queued records now, or as soon as the commit in flight lands (records queued meanwhile ride along).
   * Rejects (after rolling the chain back) if the store refuses.
   */
  flush(): Promise<void> {
    const batch = this.batch;
    if (!batch.rows.length) return this.inflight ? waitFor(this.inflight) : Promise.resolve();
    const committed = waitFor(batch);
    // A full batch goes now (queued behind the one in flight), bounding memory and latency.
    if (this.inflight && batch.rows.length < MAX_BATCH) this.wanted = true;
    else this.send(batch);
    return committed;
  }

  /** Hands the queued batch to the store, after the commits before it; the next records start a new batch. */
  private send(batch: Batch) {
    if (this.deferred) {
      clearTimeout(this.deferred);
      this.deferred = undefined;
    }
    this.wanted = false;
    this.batch = { rows: [], generation: this.generation };
    this.inflight = batch;
    this.tail = this.tail.then(() => this.commit(batch));
  }

  /** After a commit settled: the batch that filled up meanwhile goes, if a flush asked for it. */
  private landed(batch: Batch) {
    if (this.inflight === batch) this.inflight = undefined;
    if (this.wanted && !this.inflight && this.batch.rows.length) this.send(this.batch);
  }

  /** Records chained but not committed yet. */
  get queued(): number {
    return this.batch.rows.length + (this.inflight?.rows.length ?? 0);
  }

  /** Live feed of committed records (console, `audit tail --follow`). Returns the unsubscribe function. */
  subscribe(listener: AuditListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private async commit(batch: Batch): Promise<void> {
    const started = performance.now();
    try {
      // A batch chained onto one that failed would not continue the stored chain: it fails without asking the store.
      if (batch.generation !== this.generation) throw new Error('an earlier audit commit failed; the records chained after it were dropped');
      await this.store.appendAudit(batch.rows);
    } catch (err) {
      if (batch.generation === this.generation) {
        this.metrics?.storeError('audit');
        this.rollback();
      }
      settle(batch, err as Error);
      this.landed(batch);
      return;
    }
    this.metrics?.auditCommitted((performance.now() - started) / 1000, batch.rows.length);
    const last = batch.rows[batch.rows.length - 1];
    this.committedSeq = last[0];
    this.committedHash = last[9];
    settle(batch);
    this.landed(batch);
    if (this.listeners.size) {
      for (const row of batch.rows) {
        const record = recordOf(row);
        for (const l of this.listeners) {
          try { l(record); } catch { /* a listener's failure must not undo a committed record */ }
        }
      }
    }
  }

  /**
   * The chain goes back to what is stored. Records queued meanwhile were chained onto the failed batch: they are
   * dropped with it (their waiters are refused), and the next record continues the stored chain.
   */
  private rollback() {
    this.generation++;
    this.seq = this.committedSeq;
    this.lastHash = this.committedHash;
    const orphaned = this.batch;
    this.wanted = false;
    this.batch = { rows: [], generation: this.generation };
    if (orphaned.rows.length) settle(orphaned, new Error('an earlier audit commit failed; the records chained after it were dropped'));
  }

  /** Chains a record and makes sure a commit will carry it: at the end of this turn, or within DEFER_MS at the latest. */
  private queue(event: AuditEvent, by: 'turn' | 'soon'): ChainLink {
    const row = this.chain(event);
    if (this.batch.rows.length >= MAX_BATCH) this.flushQuietly();
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
    return { seq: row[0], prevHash: row[8], hash: row[9] };
  }

  /** A scheduled commit: its failure reaches the waiters through durable() (a lost result record leaves the chain intact). */
  private flushQuietly() {
    this.flush().catch(() => undefined);
  }

  /**
   * Gives the event its place in the chain as the row that will be stored. The data is serialised once, and that text is
   * both what is hashed and what is stored; nothing is parsed back or copied on this path (it runs twice per request):
   * a full record is made from the row only for whoever reads one (`append`, subscribers).
   */
  private chain(event: AuditEvent): AuditRow {
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
    const row: AuditRow = [seq, ts, kind, sessionId, tokenId, connection, verdict, dataJson, prevHash, digest];
    this.seq = seq;
    this.lastHash = digest;
    this.batch.rows.push(row);
    return row;
  }
}

/** The record a row stores, read back as a reader of the store would: the data parsed from the text that was hashed. */
function recordOf([seq, ts, kind, sessionId, tokenId, connection, verdict, data, prevHash, hash]: AuditRow): AuditRecord {
  return { seq, ts, kind, sessionId, tokenId, connection, verdict, data: JSON.parse(data) as Record<string, unknown>, prevHash, hash };
}

/** The promise a batch's waiters share; one that settled already answers at once. */
function waitFor(batch: Batch): Promise<void> {
  if (batch.settled) return batch.settled.error ? Promise.reject(batch.settled.error) : Promise.resolve();
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

function settle(batch: Batch, error?: Error) {
  batch.settled = error ? { error } : {};
  if (error) batch.done?.reject(error);
  else batch.done?.resolve();
}

export interface VerifyResult {
  ok: boolean;
  records: number;
  /** The first record that does not chain, and why (and on which node's chain, in a shared store). */
  broken?: { node?: string; seq: number; reason: string };
}

export interface ChainsResult extends VerifyResult {
  /** Each node's chain in a shared store (one entry, without a node, in the embedded store). */
  chains: ({ node?: string } & VerifyResult)[];
}

/** Verifies every chain the store holds: each node's, in a shared store. */
export async function verifyAllChains(store: Store): Promise<ChainsResult> {
  const nodes: (string | undefined)[] = store.auditNodes ? await store.auditNodes() : [undefined];
  const chains: ChainsResult['chains'] = [];
  for (const node of nodes) chains.push({ ...(node === undefined ? {} : { node }), ...(await verifyAudit(store, 5000, node)) });
  const broken = chains.find((c) => !c.ok)?.broken;
  return { ok: !broken, records: chains.reduce((n, c) => n + c.records, 0), ...(broken ? { broken } : {}), chains };
}

/** Verifies one chain: this node's, or `node`'s in a shared store. A missing number is a gap; a link that does not match, a fork or an alteration. */
export async function verifyAudit(store: Store, batch = 5000, node?: string): Promise<VerifyResult> {
  let prevHash = GENESIS;
  let expectedSeq = 1;
  let count = 0;
  const on = node === undefined ? {} : { node };
  for (let after = 0; ; ) {
    const records = await store.readAudit(after, batch, undefined, node);
    if (records.length === 0) return { ok: true, records: count };
    for (const r of records) {
      if (r.seq !== expectedSeq) return { ok: false, records: count, broken: { ...on, seq: expectedSeq, reason: `record ${expectedSeq} is missing (a gap)` } };
      if (r.prevHash !== prevHash) return { ok: false, records: count, broken: { ...on, seq: r.seq, reason: 'previous-hash link does not match the record before it (a fork or an altered record)' } };
      if (recordHash(prevHash, r) !== r.hash) return { ok: false, records: count, broken: { ...on, seq: r.seq, reason: 'record content does not match its hash (altered)' } };
      prevHash = r.hash;
      expectedSeq++;
      count++;
      after = r.seq;
    }
  }
}
