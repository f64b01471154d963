// HTTP has no connection-long session, so one gate session is kept per token, run and step: opened at its first request,
// closed when idle; when the gate cuts it (revocation, shutdown), every request of it still in flight is cut.
import type { IncomingMessage } from 'node:http';
import { correlationFromHeaders } from '../../../pipeline/correlation.ts';
import type { Gate, GateSession, RequestContext, SessionStart } from '../../../pipeline/gate.ts';
import type { TokenRecord } from '../../../services/store/store.ts';

/** How long a token's session stays open after its last request ends. */
export const SESSION_IDLE_MS = 5 * 60_000;

/** One request in flight; `done` must be called when it ends. */
export interface InFlight {
  session: GateSession;
  /** The session's context (who, session id, connection), as every record of the request carries it. */
  ctx: RequestContext;
  done(): void;
}

interface Entry {
  /** Settles once the session's opening is audited; rejects if it could not be. */
  session: Promise<GateSession>;
  /** How each request in flight is cut. */
  inflight: Set<(reason: string) => void>;
  idle?: NodeJS.Timeout;
}

export class TokenSessions {
  /** Keyed by token, run and step: an agent reuses one token across runs, and each run's steps are sessions of their own. */
  private readonly byKey = new Map<string, Entry>();

  constructor(private readonly gate: Gate, private readonly connection: string, private readonly protocol: 'http' | 'llm' | 'egress', private readonly idleMs = SESSION_IDLE_MS) {}

  /**
   * Registers a request of `token`, opening its session if needed (audited first, so this rejects if the audit is
   * unavailable). `onCut` is told why when the request is cut.
   */
  async begin(token: TokenRecord, req: IncomingMessage, client: string, onCut: (reason: string) => void): Promise<InFlight> {
    const correlation = correlationFromHeaders(req.headers);
    const key = `${token.id}\n${correlation.runId ?? ''}\n${correlation.step ?? ''}`;
    const entry = this.byKey.get(key) ?? this.open(key, { token, connection: this.connection, protocol: this.protocol, client, runId: correlation.runId, step: correlation.step });
    clearTimeout(entry.idle);
    entry.idle = undefined;
    // Registered before the session is open: a cut arriving meanwhile reaches this request too.
    entry.inflight.add(onCut);
    let session: GateSession;
    try {
      session = await entry.session;
    } catch (err) {
      entry.inflight.delete(onCut);
      throw err;
    }
    return {
      session,
      ctx: session.ctx,
      done: () => {
        if (!entry.inflight.delete(onCut) || entry.inflight.size || this.byKey.get(key) !== entry) return;
        entry.idle = setTimeout(() => this.end(key, 'idle'), this.idleMs);
        entry.idle.unref();
      },
    };
  }

  /** Ends every session (listener shutdown). */
  async closeAll(reason: string) {
    await Promise.all([...this.byKey.keys()].map((key) => this.end(key, reason)));
  }

  private open(key: string, start: SessionStart): Entry {
    const entry: Entry = { inflight: new Set(), session: undefined! };
    entry.session = this.gate.open(start, (reason) => this.cut(key, entry, reason));
    // A session the audit could not record never starts: the next request tries again.
    entry.session.catch(() => { if (this.byKey.get(key) === entry) this.byKey.delete(key); });
    this.byKey.set(key, entry);
    return entry;
  }

  /** The gate cut the session: every request in flight is cut at once, and the next request opens a new session. */
  private cut(key: string, entry: Entry, reason: string) {
    if (this.byKey.get(key) === entry) this.byKey.delete(key);
    clearTimeout(entry.idle);
    for (const onCut of entry.inflight) {
      try { onCut(reason); } catch { /* keep cutting the others */ }
    }
    entry.inflight.clear();
  }

  private async end(key: string, reason: string) {
    const entry = this.byKey.get(key);
    if (!entry) return;
    this.cut(key, entry, reason);
    const session = await entry.session.catch(() => undefined);
    session?.close(reason);
  }
}
