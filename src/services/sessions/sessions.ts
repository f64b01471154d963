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
    const dangling = store.endDanglingSessions(Date.now(), 'gateway stopped');
    if (dangling) audit.append({ kind: 'sessions.recovered', data: { closed: dangling } });
  }

  /** Records a new session; the audit record is written first, so a session the audit cannot see never starts. */
  open(start: SessionStart, terminate: (reason: string) => void): LiveSession {
    const record: SessionRecord = { ...start, id: 'ses_' + randomUUID().replace(/-/g, '').slice(0, 16), startedAt: Date.now(), endedAt: null, endReason: null };
    this.audit.append({
      kind: 'session.open', sessionId: record.id, tokenId: record.tokenId, connection: record.connection,
      data: { label: record.label, role: record.role, protocol: record.protocol, client: record.client, runId: record.runId, step: record.step },
    });
    this.store.insertSession(record);
    const session: LiveSession = { record, terminate };
    this.live.set(record.id, session);
    return session;
  }

  /** Called by the adapter when a session ends for any reason; idempotent. */
  close(id: string, reason: string) {
    const session = this.live.get(id);
    if (!session) return;
    this.live.delete(id);
    this.store.endSession(id, Date.now(), reason);
    this.audit.append({ kind: 'session.close', sessionId: id, tokenId: session.record.tokenId, connection: session.record.connection, data: { reason } });
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

  terminateAll(reason: string) {
    for (const s of [...this.live.values()]) {
      s.terminate(reason);
      this.close(s.record.id, reason);
    }
  }
}
