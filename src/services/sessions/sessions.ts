// Live sessions: recorded in the store, audited at both ends, and closed at once when their token is revoked.
import { randomUUID } from 'node:crypto';
import type { AuditLog } from '../audit/log.ts';
import type { Tokens } from '../identity/tokens.ts';
import type { SessionRecord, Store } from '../store/store.ts';

export interface LiveSession {
  readonly record: SessionRecord;
  /** Ends the session from the gateway's side (revocation, shutdown); the adapter says why in its own protocol. */
  terminate(reason: string): void;
}

export type SessionStart = Omit<SessionRecord, 'id' | 'startedAt' | 'endedAt' | 'endReason'>;

export class Sessions {
  private readonly live = new Map<string, LiveSession>();

  constructor(private readonly store: Store, private readonly audit: AuditLog, tokens: Tokens) {
    tokens.onRevoke((tokenId) => this.terminateToken(tokenId, 'token revoked'));
  }

  /** Sessions a previous process left open are closed in the store, so the list never lies. Run once at start-up. */
  async recover() {
    const dangling = await this.store.endDanglingSessions(Date.now(), 'gateway stopped');
    if (dangling) await this.audit.append({ kind: 'sessions.recovered', data: { closed: dangling } });
  }

  /** Records a new session; the audit record is written first, so a session the audit cannot see never starts. */
  async open(start: SessionStart, terminate: (reason: string) => void): Promise<LiveSession> {
    const record: SessionRecord = { ...start, id: 'ses_' + randomUUID().replace(/-/g, '').slice(0, 16), startedAt: Date.now(), endedAt: null, endReason: null };
    await this.audit.append({
      kind: 'session.open', sessionId: record.id, tokenId: record.tokenId, connection: record.connection,
      data: { label: record.label, role: record.role, protocol: record.protocol, client: record.client, runId: record.runId, step: record.step },
    });
    await this.store.insertSession(record);
    const session: LiveSession = { record, terminate };
    this.live.set(record.id, session);
    return session;
  }

  /**
   * Called by the adapter when a session ends for any reason; idempotent. The session is gone from this process at once;
   * the store and the audit hear of it asynchronously, and a failure there is only reported (the session ended anyway).
   */
  close(id: string, reason: string): Promise<void> {
    const session = this.live.get(id);
    if (!session) return Promise.resolve();
    this.live.delete(id);
    const at = Date.now();
    const audited = this.audit.append({ kind: 'session.close', sessionId: id, tokenId: session.record.tokenId, connection: session.record.connection, data: { reason } });
    return Promise.all([this.store.endSession(id, at, reason), audited]).then(() => undefined, () => undefined);
  }

  /** The sessions open in this process now. */
  *liveRecords(): Iterable<SessionRecord> {
    for (const s of this.live.values()) yield s.record;
  }

  terminateToken(tokenId: string, reason: string) {
    for (const s of [...this.live.values()]) {
      if (s.record.tokenId !== tokenId) continue;
      s.terminate(reason);
      this.close(s.record.id, reason);
    }
  }

  /** Ends every live session; resolves once the store and the audit have heard of it. */
  terminateAll(reason: string): Promise<void> {
    const closed: Promise<void>[] = [];
    for (const s of [...this.live.values()]) {
      s.terminate(reason);
      closed.push(this.close(s.record.id, reason));
    }
    return Promise.all(closed).then(() => undefined);
  }
}
