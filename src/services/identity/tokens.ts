// Tokens: one narrow, revocable credential per chain step. Minted once, stored only as hashes.
import { hash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { scramParams, scramVerifier } from './scram-keys.ts';
import type { Store, TokenRecord } from '../store/store.ts';
import { mysqlNativeVerifier } from './mysql-native.ts';

/** Recognisable prefix so secret scanners can find leaked tokens; 32 random bytes follow (256 bits). */
export const TOKEN_PREFIX = 'gth_';
const TOKEN_PATTERN = /^gth_[A-Za-z0-9_-]{43}$/;

/** Tokens are hashed on every request: one-shot hashing is several times cheaper than a Hash object. */
export const hashToken = (token: string) => hash('sha256', token, 'hex');

/**
 * How long a checked token is trusted from memory before the store is read again. Revocations made through this process,
 * and those `watch` picks up from others, evict it at once; this bounds a revocation made elsewhere when nobody watches.
 */
const CHECK_CACHE_MS = 1_000;
const CHECK_CACHE_MAX = 10_000;
/** `node.revocation_stale_after` when not configured. */
export const DEFAULT_STALE_AFTER_MS = 5_000;


export type TokenCheck = { ok: true; token: TokenRecord } | { ok: false; reason: 'unknown' | 'expired' | 'revoked' };

export interface MintRequest {
  role: string;
  label: string;
  ttlSeconds: number;
  createdBy: string;
}

export type RevocationListener = (tokenId: string) => void;

export class Tokens {
  private readonly listeners = new Set<RevocationListener>();
  private watchTimer?: NodeJS.Timeout;
  private unlisten?: () => Promise<void>;
  /** The last revocation epoch applied: every revocation numbered up to it has cut its sessions here. */
  private epoch = 0;
  /** When the revocation watch last read the store: revocations made elsewhere before then have been applied. */
  private caughtUpAt = Date.now();
  /** Since when the store's push channel is down (undefined while it is up, or when the store has none). */
  private listenerDownSince?: number;
  /** When the push channel last came up (undefined while it is down). */
  private listenerUpAt?: number;
  private staleAfterMs = DEFAULT_STALE_AFTER_MS;
  private catching?: Promise<void>;
  private again = false;
  /** Live tokens recently checked, by hash: a request then costs one hash and a map lookup, not a store read. */
  private readonly checked = new Map<string, { record: TokenRecord; until: number }>();
  /** Counts evictions, so a store read that overlapped one does not put back what it evicted. */
  private forgotten = 0;

  constructor(private readonly store: Store, private readonly roles: ReadonlySet<string>) {}

  async mint(req: MintRequest): Promise<{ token: string; record: TokenRecord }> {
    if (!this.roles.has(req.role)) throw new Error(`unknown role "${req.role}" (defined: ${[...this.roles].join(', ') || 'none'})`);
    if (!/^[A-Za-z0-9_.-]{1,63}$/.test(req.label)) throw new Error('label must be 1-63 characters of letters, digits, _ . -');
    if (!(req.ttlSeconds > 0)) throw new Error('ttl must be positive');
    const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const { salt, iterations } = scramParams(req.label);
    const verifier = scramVerifier(token, salt, iterations);
    const now = Date.now();
    const record: TokenRecord = {
      id: 'tok_' + randomUUID().replace(/-/g, '').slice(0, 16),
      hash: hashToken(token),
      label: req.label,
      role: req.role,
      createdAt: now,
      expiresAt: now + req.ttlSeconds * 1000,
      revokedAt: null,
      lastUsedAt: null,
      createdBy: req.createdBy,
      scramStoredKey: verifier.storedKey.toString('base64'),
      scramServerKey: verifier.serverKey.toString('base64'),
      mysqlNative: mysqlNativeVerifier(token).toString('hex'),
    };
    await this.store.insertToken(record);
    return { token, record };
  }

  /**
   * Checks a bearer token (HTTP, LLM, Redis AUTH, egress). A token checked within the last second is answered from
   * memory without touching the store; revocations seen by this process evict it at once.
   */
  check(token: string, now = Date.now()): Promise<TokenCheck> {
    if (!TOKEN_PATTERN.test(token)) return Promise.resolve({ ok: false, reason: 'unknown' });
    const hash = hashToken(token);
    const cached = this.checked.get(hash);
    if (cached && cached.until > now) return Promise.resolve(this.status(cached.record, now));
    return this.load(hash, now);
  }

  private async load(hash: string, now: number): Promise<TokenCheck> {
    const forgotten = this.forgotten;
    const record = await this.store.tokenByHash(hash);
    if (!record || !timingSafeEqual(Buffer.from(record.hash), Buffer.from(hash))) return { ok: false, reason: 'unknown' };
    // A revocation heard while the store was read may concern this record: it is not trusted from memory then.
    if (record.revokedAt === null && forgotten === this.forgotten) {
      this.checked.delete(hash); // re-inserted last, so the oldest entries go first
      if (this.checked.size >= CHECK_CACHE_MAX) this.checked.delete(this.checked.keys().next().value!);
      this.checked.set(hash, { record, until: Date.now() + CHECK_CACHE_MS });
    }
    return this.status(record, now);
  }

  status(record: TokenRecord, now = Date.now()): TokenCheck {
    if (record.revokedAt !== null) return { ok: false, reason: 'revoked' };
    if (record.expiresAt <= now) return { ok: false, reason: 'expired' };
    return { ok: true, token: record };
  }

  /** Live tokens a PostgreSQL user name can mean; SCRAM then picks the one whose verifier the proof matches. */
  async scramCandidates(user: string): Promise<TokenRecord[]> {
    return (await this.store.liveTokensForUser(user, Date.now())).filter((t) => t.label === user);
  }

  deadTokensForUser(user: string): Promise<TokenRecord[]> {
    return this.store.deadTokensForUser(user, Date.now());
  }

  byId(id: string) {
    return this.store.tokenById(id);
  }

  list() {
    return this.store.listTokens();
  }

  /** Writes a last-use time; informational, so a failed write is only reported to `onError`. */
  touch(id: string, onError: (err: Error) => void = () => undefined) {
    this.store.touchToken(id, Date.now()).catch(onError);
  }

  /** Revokes a token; listeners (live sessions) are told at once. Resolves to false if unknown or already revoked. */
  async revoke(id: string): Promise<boolean> {
    const done = await this.store.revokeToken(id, Date.now());
    if (done) this.emit(id);
    else this.forget(id); // revoked elsewhere first: not trusted from memory either
    return done;
  }

  onRevoke(listener: RevocationListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Applies revocations made by other processes or nodes sharing the store: woken by the store's push channel when it
   * has one (PostgreSQL LISTEN), and polled every `intervalMs` either way. Each pass asks for what follows the last
   * revocation epoch applied, so nothing is missed after a reconnect. A failed read is reported to `onError`.
   */
  async watch(opts: { intervalMs?: number; staleAfterMs?: number; onError?: (err: Error) => void } = {}) {
    const { intervalMs = 250, onError = () => undefined } = opts;
    this.staleAfterMs = opts.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;
    this.epoch = await this.store.revocationEpoch();
    this.caughtUpAt = Date.now();
    const pass = () => this.catchUp().catch(onError);
    if (this.store.listenRevocations) {
      this.listenerDownSince = Date.now();
      this.unlisten = this.store.listenRevocations({
        wake: () => void pass(),
        // Up again: current only once a pass begun since then has applied what was revoked meanwhile.
        up: () => { this.listenerUpAt = Date.now(); void pass(); },
        down: (err) => { this.listenerUpAt = undefined; this.listenerDownSince ??= Date.now(); onError(err); },
      });
    }
    const poll = async () => {
      await pass();
      // One poll at a time, whatever the store's latency.
      if (this.watchTimer) this.watchTimer = setTimeout(poll, intervalMs).unref();
    };
    this.watchTimer = setTimeout(poll, intervalMs).unref();
  }

  /** Reads and applies what follows the last epoch applied; passes asked for meanwhile run once more after it. */
  private catchUp(): Promise<void> {
    if (this.catching) {
      this.again = true;
      return this.catching;
    }
    this.catching = (async () => {
      do {
        this.again = false;
        const startedAt = Date.now();
        const { epoch, ids } = await this.store.revocationsAfter(this.epoch);
        for (const id of ids) this.emit(id);
        this.epoch = epoch;
        this.caughtUpAt = startedAt;
        if (this.listenerUpAt !== undefined && startedAt >= this.listenerUpAt) this.listenerDownSince = undefined;
      } while (this.again);
    })().finally(() => { this.catching = undefined; });
    return this.catching;
  }

  /**
   * Milliseconds this process's view of revocations may be behind: since the store was last read, or since the
   * listener went down, whichever is longer.
   */
  revocationLag(now = Date.now()): number {
    return Math.max(now - this.caughtUpAt, this.listenerDownSince === undefined ? 0 : now - this.listenerDownSince);
  }

  /** Why this process must not serve new requests now (its revocations may be stale), or undefined when it may. */
  revocationsStale(now = Date.now()): string | undefined {
    const lag = this.revocationLag(now);
    if (lag <= this.staleAfterMs) return undefined;
    const seconds = Math.round(lag / 100) / 10;
    return this.listenerDownSince !== undefined
      ? `this gateway node has not heard revocations from its store for ${seconds}s (its listener is down); requests are refused until it has caught up`
      : `this gateway node has not read revocations from its store for ${seconds}s; requests are refused until it has caught up`;
  }

  async stop() {
    clearTimeout(this.watchTimer);
    this.watchTimer = undefined;
    await this.unlisten?.();
    this.unlisten = undefined;
  }

  private emit(id: string) {
    this.forget(id);
    for (const l of this.listeners) l(id);
  }

  private forget(id: string) {
    this.forgotten++;
    for (const [hash, { record }] of this.checked) if (record.id === id) this.checked.delete(hash);
  }
}
