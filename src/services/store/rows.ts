// Rows as both stores keep them (snake_case columns) and the records the rest of the gateway reads: one mapping for SQLite and PostgreSQL.
import type { AuditRecord, SessionRecord, TokenRecord } from './store.ts';

export interface TokenRow {
  id: string; hash: string; label: string; role: string; created_at: number; expires_at: number;
  revoked_at: number | null; last_used_at: number | null; created_by: string; scram_stored_key: string; scram_server_key: string;
  mysql_native: string | null;
}
export interface SessionRow {
  id: string; token_id: string; label: string; role: string; connection: string; protocol: string; client: string;
  run_id: string | null; step: string | null; started_at: number; ended_at: number | null; end_reason: string | null;
}
export interface StoredAudit {
  seq: number; ts: number; kind: string; session_id: string | null; token_id: string | null; connection: string | null;
  verdict: string | null; data: string; prev_hash: string; hash: string;
}

export const toToken = (r: TokenRow): TokenRecord => ({
  id: r.id, hash: r.hash, label: r.label, role: r.role, createdAt: r.created_at, expiresAt: r.expires_at,
  revokedAt: r.revoked_at, lastUsedAt: r.last_used_at, createdBy: r.created_by,
  scramStoredKey: r.scram_stored_key, scramServerKey: r.scram_server_key, mysqlNative: r.mysql_native,
});
export const toSession = (r: SessionRow): SessionRecord => ({
  id: r.id, tokenId: r.token_id, label: r.label, role: r.role, connection: r.connection, protocol: r.protocol,
  client: r.client, runId: r.run_id, step: r.step, startedAt: r.started_at, endedAt: r.ended_at, endReason: r.end_reason,
});
export const toAudit = (r: StoredAudit): AuditRecord => ({
  seq: r.seq, ts: r.ts, kind: r.kind, sessionId: r.session_id, tokenId: r.token_id, connection: r.connection,
  verdict: r.verdict, data: JSON.parse(r.data) as Record<string, unknown>, prevHash: r.prev_hash, hash: r.hash,
});
