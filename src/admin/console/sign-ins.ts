// Console sign-ins: an in-memory store of browser sessions, each bound to one admin key, with expiry and a CSRF token.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AdminKey } from '../../config/schema.ts';

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
  idleUntil: number;
}

export interface ConsoleSessionOptions {
  /** Absolute lifetime of a sign-in. */
  ttlMs?: number;
  /** A session unused this long ends. */
  idleMs?: number;
  /** Live sessions kept at most; the oldest is dropped beyond it (memory stays bounded). */
  max?: number;
  now?: () => number;
}

export type SessionEndListener = (handle: string) => void;

const handleOf = (id: string) => createHash('sha256').update(id).digest('hex');

export class ConsoleSessions {
  private readonly sessions = new Map<string, ConsoleSession>();
  private readonly ended = new Set<SessionEndListener>();
  private readonly ttlMs: number;
  private readonly idleMs: number;
  private readonly max: number;
  private readonly now: () => number;
  private readonly sweeper: NodeJS.Timeout;

  constructor(opts: ConsoleSessionOptions = {}) {
    this.ttlMs = opts.ttlMs ?? 8 * 3600_000;
    this.idleMs = opts.idleMs ?? 30 * 60_000;
    this.max = opts.max ?? 1000;
    this.now = opts.now ?? Date.now;
    this.sweeper = setInterval(() => this.sweep(), 60_000);
    this.sweeper.unref();
  }

  /** Starts a session; the returned id goes into the cookie and is never stored. 256 random bits. */
  create(key: AdminKey): { id: string; session: ConsoleSession } {
    const id = randomBytes(32).toString('base64url');
    const now = this.now();
    const session: ConsoleSession = {
      handle: handleOf(id), key, csrf: randomBytes(32).toString('base64url'),
      createdAt: now, expiresAt: now + this.ttlMs, idleUntil: Math.min(now + this.idleMs, now + this.ttlMs),
    };
    if (this.sessions.size >= this.max) this.end(this.sessions.keys().next().value!);
    this.sessions.set(session.handle, session);
    return { id, session };
  }

  /** The live session for a cookie value, its idle deadline pushed forward; undefined if unknown or expired. */
  get(id: string | undefined): ConsoleSession | undefined {
    if (!id || id.length > 128) return undefined;
    const handle = handleOf(id);
    const session = this.sessions.get(handle);
    if (!session) return undefined;
    const now = this.now();
    if (now >= session.expiresAt || now >= session.idleUntil) {
      this.end(handle);
      return undefined;
    }
    session.idleUntil = Math.min(now + this.idleMs, session.expiresAt);
    return session;
  }

  /**
   * For an open event stream: a console left open counts as in use, so its session slides forward (never past
   * its hard end). Returns false once the session has ended.
   */
  keepAlive(handle: string): boolean {
    const s = this.sessions.get(handle);
    const now = this.now();
    if (!s || now >= s.expiresAt || now >= s.idleUntil) {
      this.end(handle);
      return false;
    }
    s.idleUntil = Math.min(now + this.idleMs, s.expiresAt);
    return true;
  }

  destroy(id: string | undefined) {
    if (id) this.end(handleOf(id));
  }

  checkCsrf(session: ConsoleSession, presented: string | undefined): boolean {
    if (!presented) return false;
    const a = createHash('sha256').update(session.csrf).digest();
    const b = createHash('sha256').update(presented).digest();
    return timingSafeEqual(a, b);
  }

  /** Called when a session ends (sign-out, expiry): its event streams close at once. */
  onEnd(listener: SessionEndListener): () => void {
    this.ended.add(listener);
    return () => this.ended.delete(listener);
  }

  get size() {
    return this.sessions.size;
  }

  sweep() {
    const now = this.now();
    for (const [handle, s] of this.sessions) if (now >= s.expiresAt || now >= s.idleUntil) this.end(handle);
  }

  stop() {
    clearInterval(this.sweeper);
    for (const handle of [...this.sessions.keys()]) this.end(handle);
  }

  private end(handle: string) {
    if (!this.sessions.delete(handle)) return;
    for (const l of this.ended) {
      try { l(handle); } catch { /* one listener must not keep a session alive */ }
    }
  }
}
