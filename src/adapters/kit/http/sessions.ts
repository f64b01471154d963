// HTTP has no connection-long session, so one is kept per token and chain step: opened at its first request, closed when idle or revoked.
import type { IncomingMessage } from 'node:http';
import { correlationFromHeaders, type Correlation } from '../../../pipeline/correlation.ts';
import type { RequestContext } from '../../../pipeline/enforce.ts';
import type { Services } from '../../../services/services.ts';
import type { LiveSession } from '../../../services/sessions/sessions.ts';
import type { TokenRecord } from '../../../services/store/store.ts';

/** How long a token's session stays open after its last request ends. */
export const SESSION_IDLE_MS = 5 * 60_000;
/** Last-use times are written at most this often per token, not on every request. */
const TOUCH_EVERY_MS = 30_000;

/** One request in flight; `done` must be called when it ends. Its `onAbort` is told when it is cut (revocation, shutdown). */
export interface InFlight {
  ctx: RequestContext;
  done(): void;
}

interface Entry {
  live: LiveSession;
  /** The `onAbort` of each request in flight. */
  inflight: Set<(reason: string) => void>;
  idle?: NodeJS.Timeout;
  touched: number;
  /** Every request of the session shares it: it names the same token, session and connection. */
  ctx: RequestContext;
}

export class TokenSessions {
  /** Keyed by token, run and step: an agent reuses one token across runs, and each run's steps are sessions of their own. */
  private readonly byKey = new Map<string, Entry>();

  constructor(private readonly services: Services, private readonly connection: string, private readonly protocol: 'http' | 'llm', private readonly idleMs = SESSION_IDLE_MS) {}

  /**
   * Registers a request of `token`, opening its session if needed (its audit record is written first, so this throws if
   * the audit is unavailable). `onAbort` is told why when the request is cut.
   */
  begin(token: TokenRecord, req: IncomingMessage, client: string, onAbort: (reason: string) => void): InFlight {
    const correlation = correlationFromHeaders(req.headers);
    const key = `${token.id}\n${correlation.runId ?? ''}\n${correlation.step ?? ''}`;
    let entry = this.byKey.get(key);
    if (!entry) entry = this.open(key, token, correlation, client);
    clearTimeout(entry.idle);
    entry.idle = undefined;
    const now = Date.now();
    if (now - entry.touched > TOUCH_EVERY_MS) { this.services.tokens.touch(token.id); entry.touched = now; }
    const e = entry;
    e.inflight.add(onAbort);
    return {
      ctx: e.ctx,
      done: () => {
        if (!e.inflight.delete(onAbort) || e.inflight.size || this.byKey.get(key) !== e) return;
        e.idle = setTimeout(() => this.end(key, 'idle'), this.idleMs);
        e.idle.unref();
      },
    };
  }

  /** Ends every session (listener shutdown). */
  closeAll(reason: string) {
    for (const key of [...this.byKey.keys()]) this.end(key, reason);
  }

  private open(key: string, token: TokenRecord, correlation: Correlation, client: string): Entry {
    const entry = { inflight: new Set(), touched: Date.now() } as Entry;
    entry.live = this.services.sessions.open(
      { tokenId: token.id, label: token.label, role: token.role, connection: this.connection, protocol: this.protocol, client, runId: correlation.runId, step: correlation.step },
      (reason) => this.cut(key, entry, reason),
    );
    const r = entry.live.record;
    entry.ctx = { who: { tokenId: token.id, label: token.label, role: token.role, runId: r.runId ?? undefined, step: r.step ?? undefined }, sessionId: r.id, connection: this.connection };
    this.services.tokens.touch(token.id);
    this.byKey.set(key, entry);
    return entry;
  }

  /** Called by the sessions service (revocation): every in-flight request of the token is aborted at once. */
  private cut(key: string, entry: Entry, reason: string) {
    if (this.byKey.get(key) === entry) this.byKey.delete(key);
    clearTimeout(entry.idle);
    for (const onAbort of entry.inflight) {
      try { onAbort(reason); } catch { /* keep cutting the others */ }
    }
    entry.inflight.clear();
  }

  private end(key: string, reason: string) {
    const entry = this.byKey.get(key);
    if (!entry) return;
    this.cut(key, entry, reason);
    this.services.sessions.close(entry.live.record.id, reason);
  }
}
