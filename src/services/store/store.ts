// The store interface: everything Gatehouse persists. Promise-returning, so a store on the network (PostgreSQL, several
// nodes) implements it as it stands; SQLite embeds it for one process.
import type { AuditRow } from './audit-table.ts';

export interface TokenRecord {
  id: string;
  /** SHA-256 of the token (hex); the token itself is never stored. */
  hash: string;
  label: string;
  role: string;
  createdAt: number;
  expiresAt: number;
  revokedAt: number | null;
  lastUsedAt: number | null;
  createdBy: string;
  /** SCRAM-SHA-256 verifier halves (base64) so PostgreSQL clients can authenticate with the token. */
  scramStoredKey: string;
  scramServerKey: string;
  /** mysql_native_password verifier, SHA1(SHA1(token)) as hex; null for tokens minted before Gatehouse spoke MySQL. */
  mysqlNative: string | null;
}

export interface SessionRecord {
  id: string;
  tokenId: string;
  label: string;
  role: string;
  connection: string;
  protocol: string;
  client: string;
  runId: string | null;
  step: string | null;
  startedAt: number;
  endedAt: number | null;
  endReason: string | null;
}

/** What an adapter or service asks to be audited; seq, time and hashes are added by the audit log. */
export interface AuditEvent {
  kind: string;
  sessionId?: string | null;
  tokenId?: string | null;
  connection?: string | null;
  verdict?: string | null;
  data?: Record<string, unknown>;
}

export interface AuditRecord extends Required<AuditEvent> {
  seq: number;
  ts: number;
  prevHash: string;
  hash: string;
}

export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'withdrawn' | 'failed' | 'used';

export interface ApprovalDecision {
  by: string;
  decision: 'approve' | 'deny';
  reason: string | null;
  at: number;
}

/** A request held for a human: bound to exactly one request (its fingerprint), single-use unless a window is granted. */
export interface ApprovalRecord {
  id: string;
  status: ApprovalStatus;
  createdAt: number;
  expiresAt: number;
  tokenId: string;
  label: string;
  role: string;
  createdBy: string;
  runId: string | null;
  step: string | null;
  connection: string;
  protocol: string;
  sessionId: string | null;
  /** The exact request, masked where masking applies. */
  summary: string;
  /** Why policy asks for a human. */
  reason: string;
  fingerprint: string;
  mode: 'wait' | 'async';
  required: number;
  decisions: ApprovalDecision[];
  decidedAt: number | null;
  /** With an approval "for N minutes", identical requests until then need no new approval. */
  windowUntil: number | null;
  usedAt: number | null;
}

export interface SessionFilter {
  tokenId?: string;
  connection?: string;
  runId?: string;
  live?: boolean;
  limit?: number;
}

/** A tool as first seen, or as a person last accepted it: a later definition that differs is a rug pull until accepted. */
export interface ToolPin {
  /** The server's configured name and its URL or command line: never what the server says about itself. */
  server: string;
  source: string;
  /** The tool's name on its server. */
  tool: string;
  /** SHA-256 (hex) of `definition`. */
  fingerprint: string;
  /** The canonical JSON of the pinned definition (kept to show what changed). */
  definition: string;
  pinnedAt: number;
}

/** Where tool pins live. Promise-returning, so a store on the network implements it as it stands. */
export interface ToolPinStore {
  toolPins(server: string, source: string): Promise<ToolPin[]>;
  /** Stores the pin unless the tool is pinned already, and resolves to the stored one: the first sighting wins a race. */
  pinTool(pin: ToolPin): Promise<ToolPin>;
  /** Replaces a tool's pin once a person accepted its new definition. */
  repinTool(pin: ToolPin): Promise<void>;
}

/** One unit taken from a rate limit's bucket, or the seconds until one is left. */
export type RateTaken = { ok: true } | { ok: false; retryAfter: number };

export interface RevocationEvents {
  wake(): void;
  up(): void;
  down(err: Error): void;
}

export interface Store extends ToolPinStore {
  getMeta(key: string): Promise<string | undefined>;
  setMeta(key: string, value: string): Promise<void>;

  insertToken(t: TokenRecord): Promise<void>;
  tokenByHash(hash: string): Promise<TokenRecord | undefined>;
  tokenById(id: string): Promise<TokenRecord | undefined>;
  /** Live tokens a PostgreSQL user name may mean: by id, or by label. */
  liveTokensForUser(user: string, now: number): Promise<TokenRecord[]>;
  /** Revoked or expired tokens with this label, newest first: to tell an agent precisely why its token fails. */
  deadTokensForUser(user: string, now: number): Promise<TokenRecord[]>;
  listTokens(): Promise<TokenRecord[]>;
  revokeToken(id: string, at: number): Promise<boolean>;
  /**
   * Revocations numbered above `epoch`, and the highest number among them (`epoch` when there are none). Numbers are
   * given in commit order, so a node that has applied everything up to N misses nothing by asking for what is after N.
   */
  revocationsAfter(epoch: number): Promise<{ epoch: number; ids: string[] }>;
  /** The number of the latest revocation (0 before the first). */
  revocationEpoch(): Promise<number>;
  /**
   * A push channel for revocations made by other nodes (PostgreSQL LISTEN), when the store has one: `wake` on each
   * revocation, `up` when (re)connected, `down` when lost (it reconnects by itself). Returns a function that stops it.
   */
  listenRevocations?(events: RevocationEvents): () => Promise<void>;
  touchToken(id: string, at: number): Promise<void>;

  insertSession(s: SessionRecord): Promise<void>;
  endSession(id: string, at: number, reason: string): Promise<void>;
  listSessions(f: SessionFilter): Promise<SessionRecord[]>;
  sessionById(id: string): Promise<SessionRecord | undefined>;
  /** Sessions a crash left open: closed at start-up so the list never lies. */
  endDanglingSessions(at: number, reason: string): Promise<number>;

  /** Appends audit rows to the chain atomically, once committed. Throws if they do not continue the stored chain. */
  appendAudit(rows: AuditRow[]): Promise<void>;
  lastAudit(): Promise<AuditRecord | undefined>;
  /**
   * This node's chain (or, with `node`, another node's chain in a shared store). With `sessionId`, that session's
   * records whichever node's chain holds them.
   */
  readAudit(afterSeq: number, limit: number, sessionId?: string, node?: string): Promise<AuditRecord[]>;
  /** Every node that keeps an audit chain in a shared store; absent where there is one chain (the embedded store). */
  auditNodes?(): Promise<string[]>;
  /** Makes every committed audit record durable (fsynced to disk), for a signed checkpoint to cover only what survives a crash. */
  syncAudit(): Promise<void>;

  insertApproval(a: ApprovalRecord): Promise<void>;
  /**
   * Reads an approval and stores what `change` makes of it, atomically: no other process or node changes it in between,
   * so a decision, an expiry and a use never overwrite each other. `change` returns undefined to leave it as it is (and
   * may throw to refuse). Resolves to the record as it was and as it is now; undefined if there is no such approval.
   */
  changeApproval(id: string, change: (current: ApprovalRecord) => ApprovalRecord | undefined): Promise<{ before: ApprovalRecord; after: ApprovalRecord } | undefined>;
  approvalById(id: string): Promise<ApprovalRecord | undefined>;
  listApprovals(status: ApprovalStatus | undefined, limit: number): Promise<ApprovalRecord[]>;
  /**
   * Consumes the approval that lets this exact request through now — approved and unused, or used inside its window —
   * marking it used in the same transaction, so a single-use approval lets exactly one request through.
   */
  consumeApproval(fingerprint: string, now: number): Promise<ApprovalRecord | undefined>;
  /** Pending approvals a restart orphaned: they fail, and nothing unapproved is ever forwarded. */
  failPendingApprovals(at: number): Promise<ApprovalRecord[]>;

  /** LLM tokens spent by `scope` (a token or a role on a connection) in `period` (a budget window, or `life`). */
  usage(scope: string, period: string): Promise<number>;
  /** Adds spent tokens and returns the new total, atomically. */
  addUsage(scope: string, period: string, tokens: number, at: number): Promise<number>;
  /** What calls in flight, on every node sharing the store, have reserved of a budget window. */
  reservedUsage(scope: string, period: string): Promise<number>;
  /**
   * Reserves `tokens` of a budget window for a call in flight, only if what is spent and reserved plus `tokens` stays
   * within `limit` — checked and written atomically across every node sharing the store. `committed` is what was spent
   * and reserved before; `id` names the reservation, absent when it did not fit.
   */
  reserveUsage(scope: string, period: string, tokens: number, limit: number, at: number): Promise<{ committed: number; id?: string }>;
  /** Ends a reservation: its call has been charged what it spent, or was refused. */
  releaseUsage(id: string): Promise<void>;
  /** Reservations a crash of this node left behind, dropped at start-up; resolves to how many. */
  dropReservations(): Promise<number>;
  /**
   * Takes one unit from the token bucket `key` (`limit` units, refilled evenly over `periodMs`) for every node sharing
   * the store, atomically and by the store's clock; when none is left, says how many seconds until one is. Absent where
   * one process uses the store (the embedded one): it counts in memory.
   */
  takeRate?(key: string, limit: number, periodMs: number): Promise<RateTaken>;

  close(): Promise<void>;
}
