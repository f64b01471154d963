// Console sign-ins: browser sessions kept in the store, so one signed in on any node is signed in on every node (and
// outlives a restart). Each is bound to one admin key, with expiry and a CSRF token.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AdminKey } from '../../config/schema.ts';
import type { SignInRecord, Store } from '../../services/store/store.ts';

export interface ConsoleSession {
  /** SHA-256 of the cookie value: the store never holds a usable session id. */
  readonly handle: string;
  readonly key: AdminKey;
  /** Sent by the console in `X-CSRF-Token` with every state change. */
  readonly csrf: string;
  readonly createdAt: number;
  /** Hard end, whatever the activity. */
  readonly expiresAt: number;
  /** Sliding end: pushed forward by every authenticated request. */
  readonly idleUntil: number;
}

export interface ConsoleSessionOptions {
  /** Absolute lifetime of a sign-in. */
  ttlMs?: number;
  /** A session unused this long ends. */
  idleMs?: number;
  /** Live sessions kept at most; the oldest is dropped beyond it (the store stays bounded). */
  max?: number;
  now?: () => number;
}

export type SessionEndListener = (handle: string) => void;

const handleOf = (id: string) => createHash('sha256').update(id).digest('hex');


export class ConsoleSessions {
  private readonly ended = new Set<SessionEndListener>();
  private readonly ttlMs: number;
  private readonly idleMs: number;
  private readonly max: number;
  private readonly now: () => number;
  /**
   * The idle deadline is written back only once it has moved this far (a tenth of the idle time, at most a minute): a
   * console's every request would otherwise be a store write, and idle for 30 minutes is not told apart from 29.
   */
  private readonly touchEvery: number;
  private readonly sweeper: NodeJS.Timeout;

  /** `keys` are the configured admin keys: a sign-in whose key is no longer configured is over. */
  constructor(private readonly store: Store, private readonly keys: AdminKey[], opts: ConsoleSessionOptions = {}) {
    this.ttlMs = opts.ttlMs ?? 8 * 3600_000;
    this.idleMs = opts.idleMs ?? 30 * 60_000;
    this.max = opts.max ?? 1000;
    this.now = opts.now ?? Date.now;
    this.touchEvery = Math.min(60_000, this.idleMs / 10);
    this.sweeper = setInterval(() => void this.sweep().catch(() => undefined), 60_000);
    this.sweeper.unref();
  }

  /** Starts a session; the returned id goes into the cookie and is never stored. 256 random bits. */
  async create(key: AdminKey): Promise<{ id: string; session: ConsoleSession }> {
    const id = randomBytes(32).toString('base64url');
    const now = this.now();
    const record: SignInRecord = {
      handle: handleOf(id), keyName: key.name, csrf: randomBytes(32).toString('base64url'),
      createdAt: now, expiresAt: now + this.ttlMs, idleUntil: Math.min(now + this.idleMs, now + this.ttlMs),
    };
    await this.store.insertSignIn(record, this.max);
    return { id, session: { ...record, key } };
  }

  /** The live session for a cookie value, its idle deadline pushed forward; undefined if unknown or expired. */
  async get(id: string | undefined): Promise<ConsoleSession | undefined> {
    if (!id || id.length > 128) return undefined;
    return this.use(handleOf(id));
  }

  /**
   * For an open event stream: a console left open counts as in use, so its session slides forward (never past
   * its hard end). Returns false once the session has ended, here or on another node.
   */
  async keepAlive(handle: string): Promise<boolean> {
    return (await this.use(handle)) !== undefined;
  }

  async destroy(id: string | undefined) {
    if (id) await this.end(handleOf(id));
  }

  checkCsrf(session: ConsoleSession, presented: string | undefined): boolean {
    if (!presented) return false;
    const a = createHash('sha256').update(session.csrf).digest();
    const b = createHash('sha256').update(presented).digest();
    return timingSafeEqual(a, b);
  }

  /** Called when a session ends on this node (sign-out, expiry): its event streams close at once. */
  onEnd(listener: SessionEndListener): () => void {
    this.ended.add(listener);
    return () => this.ended.delete(listener);
  }

  sweep(): Promise<void> {
    return this.store.sweepSignIns(this.now());
  }

  /** Stops the sweeper; sign-ins stay in the store for the other nodes and the next start. */
  stop() {
    clearInterval(this.sweeper);
  }

  private async use(handle: string): Promise<ConsoleSession | undefined> {
    const record = await this.store.signIn(handle);
    if (!record) return undefined;
    const key = this.keys.find((k) => k.name === record.keyName);
    const now = this.now();
    if (!key || now >= record.expiresAt || now >= record.idleUntil) {
      await this.end(handle);
      return undefined;
    }
    const idleUntil = Math.min(now + this.idleMs, record.expiresAt);
    if (idleUntil - record.idleUntil >= this.touchEvery) await this.store.touchSignIn(handle, idleUntil);
    return { ...record, idleUntil, key };
  }

  private async end(handle: string) {
    await this.store.deleteSignIn(handle);
    for (const l of this.ended) {
      try { l(handle); } catch { /* one listener must not keep a session alive */ }
    }
  }
}
