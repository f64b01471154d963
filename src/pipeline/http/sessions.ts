// HTTP has no connection-long session, so one is kept per token per connection: opened at its first request, closed when idle or revoked.
import type { IncomingMessage } from 'node:http';
import type { RequestContext } from '../enforce.ts';
import type { Services } from '../../services/services.ts';
import type { LiveSession } from '../../services/sessions/sessions.ts';
import type { TokenRecord } from '../../services/store/store.ts';

/** How long a token's session stays open after its last request ends. */
export const SESSION_IDLE_MS = 5 * 60_000;
/** Last-use times are written at most this often per token, not on every request. */
const TOUCH_EVERY_MS = 30_000;

/** One request in flight: `abort` cuts it (revocation, shutdown); `done` must be called when it ends. */
export interface InFlight {
  ctx: RequestContext;
  signal: AbortSignal;
  done(): void;
}

interface Entry {
  live: LiveSession;
  inflight: Map<AbortController, (reason: string) => void>;
  idle?: NodeJS.Timeout;
  touched: number;
}

export class TokenSessions {
  private readonly byToken = new Map<string, Entry>();

  constructor(private readonly services: Services, private readonly connection: string, private readonly protocol: 'http' | 'llm', private readonly idleMs = SESSION_IDLE_MS) {}

  /**
   * Registers a request of `token`, opening its session if needed (its audit record is written first, so this throws if
   * the audit is unavailable). `onAbort` is told why when the request is cut.
   */
  begin(token: TokenRecord, req: IncomingMessage, client: string, onAbort: (reason: string) => void): InFlight {
    let entry = this.byToken.get(token.id);
    if (!entry) entry = this.open(token, req, client);
    clearTimeout(entry.idle);
    entry.idle = undefined;
    const now = Date.now();
    if (now - entry.touched > TOUCH_EVERY_MS) { this.services.tokens.touch(token.id); entry.touched = now; }
    const controller = new AbortController();
    const e = entry;
    e.inflight.set(controller, onAbort);
    const r = e.live.record;
    return {
      ctx: { who: { tokenId: token.id, label: token.label, role: token.role, runId: r.runId ?? undefined, step: r.step ?? undefined }, sessionId: r.id, connection: this.connection },
      signal: controller.signal,
      done: () => {
        if (!e.inflight.delete(controller) || e.inflight.size || this.byToken.get(token.id) !== e) return;
        e.idle = setTimeout(() => this.end(token.id, 'idle'), this.idleMs);
        e.idle.unref();
      },
    };
  }

  /** Ends every session (listener shutdown). */
  closeAll(reason: string) {
    for (const id of [...this.byToken.keys()]) this.end(id, reason);
  }

  private open(token: TokenRecord, req: IncomingMessage, client: string): Entry {
    const header = (name: string) => {
      const v = req.headers[name];
      return typeof v === 'string' && /^[\w.:-]{1,128}$/.test(v) ? v : null;
    };
    const entry: Entry = { inflight: new Map(), touched: Date.now(), live: undefined as unknown as LiveSession };
    entry.live = this.services.sessions.open(
      { tokenId: token.id, label: token.label, role: token.role, connection: this.connection, protocol: this.protocol, client, runId: header('x-gatehouse-run-id'), step: header('x-gatehouse-step') },
      (reason) => this.cut(token.id, entry, reason),
    );
    this.services.tokens.touch(token.id);
    this.byToken.set(token.id, entry);
    return entry;
  }

  /** Called by the sessions service (revocation): every in-flight request of the token is aborted at once. */
  private cut(tokenId: string, entry: Entry, reason: string) {
    if (this.byToken.get(tokenId) === entry) this.byToken.delete(tokenId);
    clearTimeout(entry.idle);
    for (const [controller, onAbort] of entry.inflight) {
      try { onAbort(reason); } catch { /* keep cutting the others */ }
      controller.abort(new Error(reason));
    }
    entry.inflight.clear();
  }

  private end(tokenId: string, reason: string) {
    const entry = this.byToken.get(tokenId);
    if (!entry) return;
    this.cut(tokenId, entry, reason);
    this.services.sessions.close(entry.live.record.id, reason);
  }
}
