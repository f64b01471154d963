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
  /** When the revocation watch last read the store: revocations made elsewhere before then have been applied. */
  private caughtUpAt = Date.now();
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
   * Picks up revocations made by other processes or nodes sharing the store. A poll the store fails is reported to
   * `onError` and tried again at the next interval; meanwhile `revocationLag` grows.
   */
  watch(intervalMs = 250, onError: (err: Error) => void = () => undefined) {
    let since = Date.now() - intervalMs;
    const seen = new Set<string>();
    this.caughtUpAt = Date.now();
    const poll = async () => {
      const now = Date.now();
      try {
        for (const { id } of await this.store.revokedSince(since - 5_000)) {
          if (!seen.has(id)) { seen.add(id); this.emit(id); }
        }
        since = this.caughtUpAt = now;
      } catch (err) {
        onError(err as Error);
      }
      // One poll at a time, whatever the store's latency.
      if (this.watchTimer) this.watchTimer = setTimeout(poll, intervalMs).unref();
    };
    this.watchTimer = setTimeout(poll, intervalMs).unref();
  }

  /** Milliseconds since the store was last read for revocations (how stale this process's view of them may be). */
  revocationLag(now = Date.now()): number {
    return now - this.caughtUpAt;
  }

  stop() {
    clearTimeout(this.watchTimer);
    this.watchTimer = undefined;
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
