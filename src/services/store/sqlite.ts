// The embedded store: one SQLite file in WAL mode, migrated on open.
import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { chainedAuditInserter } from './audit-table.ts';
import { toAudit, toSession, toToken, type SessionRow, type StoredAudit, type TokenRow } from './rows.ts';
import type { ApprovalRecord, SessionFilter, SignInRecord, Store, ToolPin } from './store.ts';

const migrations: string[] = [
  `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
   CREATE TABLE tokens (
     id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, label TEXT NOT NULL, role TEXT NOT NULL,
     created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, revoked_at INTEGER, last_used_at INTEGER,
     created_by TEXT NOT NULL, scram_stored_key TEXT NOT NULL, scram_server_key TEXT NOT NULL);
   CREATE INDEX tokens_label ON tokens(label);
   CREATE INDEX tokens_revoked ON tokens(revoked_at);
   CREATE TABLE sessions (
     id TEXT PRIMARY KEY, token_id TEXT NOT NULL, label TEXT NOT NULL, role TEXT NOT NULL, connection TEXT NOT NULL,
     protocol TEXT NOT NULL, client TEXT NOT NULL, run_id TEXT, step TEXT,
     started_at INTEGER NOT NULL, ended_at INTEGER, end_reason TEXT);
   CREATE INDEX sessions_started ON sessions(started_at);
   CREATE TABLE audit (
     seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, kind TEXT NOT NULL, session_id TEXT, token_id TEXT,
     connection TEXT, verdict TEXT, data TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
   CREATE INDEX audit_session ON audit(session_id, seq);`,
  // 2: LLM token usage counted against budgets, so a restart does not reset them.
  `CREATE TABLE llm_usage (
     scope TEXT NOT NULL, period TEXT NOT NULL, tokens INTEGER NOT NULL, updated_at INTEGER NOT NULL,
     PRIMARY KEY (scope, period));`,
  // 3: requests held for a human.
  `CREATE TABLE approvals (
     id TEXT PRIMARY KEY, status TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
     token_id TEXT NOT NULL, fingerprint TEXT NOT NULL, window_until INTEGER, record TEXT NOT NULL);
   CREATE INDEX approvals_status ON approvals(status, created_at);
   CREATE INDEX approvals_fingerprint ON approvals(fingerprint);`,
  // 4: MCP tool definitions pinned against rug pulls.
  `CREATE TABLE tool_pins (
     server TEXT NOT NULL, source TEXT NOT NULL, tool TEXT NOT NULL, fingerprint TEXT NOT NULL, definition TEXT NOT NULL,
     pinned_at INTEGER NOT NULL, PRIMARY KEY (server, source, tool));`,
  // 5: the mysql_native_password verifier, minted with each token from now on (NULL for tokens minted before).
  `ALTER TABLE tokens ADD COLUMN mysql_native TEXT;`,
  // The revocation epoch: each revocation numbered in commit order, so a watcher asks "what after N", never "since when".
  `CREATE TABLE revocations (epoch INTEGER PRIMARY KEY AUTOINCREMENT, token_id TEXT NOT NULL);`,
  // Console sign-ins outlive a restart of the gateway, as cookie sessions do.
  `CREATE TABLE console_sign_ins (
     handle TEXT PRIMARY KEY, key_name TEXT NOT NULL, csrf TEXT NOT NULL,
     created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, idle_until INTEGER NOT NULL);
   CREATE INDEX console_sign_ins_created ON console_sign_ins(created_at);`,
];

const approvalRow = (a: ApprovalRecord) => ({
  id: a.id, status: a.status, createdAt: a.createdAt, expiresAt: a.expiresAt, tokenId: a.tokenId,
  fingerprint: a.fingerprint, windowUntil: a.windowUntil, record: JSON.stringify(a),
});

export function openSqliteStore(path: string): Store {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  // WAL + NORMAL: a commit survives a killed process (kill -9); only an OS crash can lose the last commits.
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  const version = db.pragma('user_version', { simple: true }) as number;
  db.transaction(() => {
    for (let v = version; v < migrations.length; v++) db.exec(migrations[v]);
    db.pragma(`user_version = ${migrations.length}`);
  })();

  const q = {
    getMeta: db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
    setMeta: db.prepare('INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
    insertToken: db.prepare(`INSERT INTO tokens VALUES (@id, @hash, @label, @role, @createdAt, @expiresAt, @revokedAt,
      @lastUsedAt, @createdBy, @scramStoredKey, @scramServerKey, @mysqlNative)`),
    tokenByHash: db.prepare<[string], TokenRow>('SELECT * FROM tokens WHERE hash = ?'),
    tokenById: db.prepare<[string], TokenRow>('SELECT * FROM tokens WHERE id = ?'),
    liveForUser: db.prepare<[string, string, number], TokenRow>(
      'SELECT * FROM tokens WHERE (id = ? OR label = ?) AND revoked_at IS NULL AND expires_at > ? ORDER BY created_at DESC LIMIT 64'),
    deadForUser: db.prepare<[string, number], TokenRow>(
      'SELECT * FROM tokens WHERE label = ? AND (revoked_at IS NOT NULL OR expires_at <= ?) ORDER BY created_at DESC LIMIT 16'),
    listTokens: db.prepare<[], TokenRow>('SELECT * FROM tokens ORDER BY created_at DESC'),
    revoke: db.prepare('UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
    logRevocation: db.prepare('INSERT INTO revocations (token_id) VALUES (?)'),
    revocationsAfter: db.prepare<[number], { epoch: number; id: string }>('SELECT epoch, token_id AS id FROM revocations WHERE epoch > ? ORDER BY epoch'),
    revocationEpoch: db.prepare<[], { epoch: number | null }>('SELECT MAX(epoch) AS epoch FROM revocations'),
    touch: db.prepare('UPDATE tokens SET last_used_at = ? WHERE id = ?'),
    insertSession: db.prepare(`INSERT INTO sessions VALUES (@id, @tokenId, @label, @role, @connection, @protocol, @client,
      @runId, @step, @startedAt, @endedAt, @endReason)`),
    endSession: db.prepare('UPDATE sessions SET ended_at = ?, end_reason = ? WHERE id = ? AND ended_at IS NULL'),
    sessionById: db.prepare<[string], SessionRow>('SELECT * FROM sessions WHERE id = ?'),
    endDangling: db.prepare('UPDATE sessions SET ended_at = ?, end_reason = ? WHERE ended_at IS NULL'),
    usage: db.prepare<[string, string], { tokens: number }>('SELECT tokens FROM llm_usage WHERE scope = ? AND period = ?'),
    addUsage: db.prepare<[string, string, number, number], { tokens: number }>(`INSERT INTO llm_usage(scope, period, tokens, updated_at) VALUES (?, ?, ?, ?)
      ON CONFLICT(scope, period) DO UPDATE SET tokens = tokens + excluded.tokens, updated_at = excluded.updated_at RETURNING tokens`),
    insertApproval: db.prepare(`INSERT INTO approvals VALUES (@id, @status, @createdAt, @expiresAt, @tokenId, @fingerprint, @windowUntil, @record)`),
    updateApproval: db.prepare('UPDATE approvals SET status = @status, window_until = @windowUntil, record = @record WHERE id = @id'),
    approvalById: db.prepare<[string], { record: string }>('SELECT record FROM approvals WHERE id = ?'),
    listApprovals: db.prepare<[string | null, string | null, number], { record: string }>(
      'SELECT record FROM approvals WHERE (? IS NULL OR status = ?) ORDER BY created_at DESC LIMIT ?'),
    usableApproval: db.prepare<[string, number], { record: string }>(
      `SELECT record FROM approvals WHERE fingerprint = ? AND (status = 'approved' OR (status = 'used' AND window_until > ?))
       ORDER BY created_at DESC LIMIT 1`),
    pendingApprovals: db.prepare<[], { record: string }>(`SELECT record FROM approvals WHERE status = 'pending'`),
    toolPins: db.prepare<[string, string], ToolPin>(
      'SELECT server, source, tool, fingerprint, definition, pinned_at AS pinnedAt FROM tool_pins WHERE server = ? AND source = ? ORDER BY tool'),
    toolPin: db.prepare<[string, string, string], ToolPin>(
      'SELECT server, source, tool, fingerprint, definition, pinned_at AS pinnedAt FROM tool_pins WHERE server = ? AND source = ? AND tool = ?'),
    pinTool: db.prepare('INSERT INTO tool_pins VALUES (@server, @source, @tool, @fingerprint, @definition, @pinnedAt) ON CONFLICT DO NOTHING'),
    repinTool: db.prepare(`INSERT INTO tool_pins VALUES (@server, @source, @tool, @fingerprint, @definition, @pinnedAt)
      ON CONFLICT DO UPDATE SET fingerprint = excluded.fingerprint, definition = excluded.definition, pinned_at = excluded.pinned_at`),
    insertSignIn: db.prepare('INSERT INTO console_sign_ins VALUES (@handle, @keyName, @csrf, @createdAt, @expiresAt, @idleUntil)'),
    trimSignIns: db.prepare('DELETE FROM console_sign_ins WHERE handle IN (SELECT handle FROM console_sign_ins ORDER BY created_at DESC LIMIT -1 OFFSET ?)'),
    signIn: db.prepare<[string], SignInRecord>(`SELECT handle, key_name AS keyName, csrf, created_at AS createdAt, expires_at AS expiresAt,
      idle_until AS idleUntil FROM console_sign_ins WHERE handle = ?`),
    touchSignIn: db.prepare('UPDATE console_sign_ins SET idle_until = ? WHERE handle = ?'),
    deleteSignIn: db.prepare('DELETE FROM console_sign_ins WHERE handle = ?'),
    sweepSignIns: db.prepare('DELETE FROM console_sign_ins WHERE expires_at <= ? OR idle_until <= ?'),
    lastAudit: db.prepare<[], StoredAudit>('SELECT * FROM audit ORDER BY seq DESC LIMIT 1'),
    readAudit: db.prepare<[number, number], StoredAudit>('SELECT * FROM audit WHERE seq > ? ORDER BY seq LIMIT ?'),
    readSessionAudit: db.prepare<[string, number, number], StoredAudit>('SELECT * FROM audit WHERE session_id = ? AND seq > ? ORDER BY seq LIMIT ?'),
  };

  const approvalOf = (r: { record: string } | undefined) => r && (JSON.parse(r.record) as ApprovalRecord);
  const changeApproval = db.transaction((id: string, change: (current: ApprovalRecord) => ApprovalRecord | undefined) => {
    const before = approvalOf(q.approvalById.get(id));
    if (!before) return undefined;
    const after = change(before) ?? before;
    if (after !== before) q.updateApproval.run(approvalRow(after));
    return { before, after };
  });
  const consumeApproval = db.transaction((fingerprint: string, now: number) => {
    const found = approvalOf(q.usableApproval.get(fingerprint, now));
    if (!found) return undefined;
    const used: ApprovalRecord = { ...found, status: 'used', usedAt: found.usedAt ?? now };
    q.updateApproval.run(approvalRow(used));
    return used;
  });
  const failPending = db.transaction((at: number) => q.pendingApprovals.all().map((r) => {
    const a: ApprovalRecord = { ...(JSON.parse(r.record) as ApprovalRecord), status: 'failed', decidedAt: at };
    q.updateApproval.run(approvalRow(a));
    return a;
  }));
  const appendAudit = chainedAuditInserter(db);
  // Budget reservations of calls in flight: one process uses a SQLite store, so they live (and die) with it.
  const reservations = new Map<string, { scope: string; period: string; tokens: number }>();
  const reserved = (scope: string, period: string) => {
    let sum = 0;
    for (const r of reservations.values()) if (r.scope === scope && r.period === period) sum += r.tokens;
    return sum;
  };

  // SQLite answers synchronously; the interface is asynchronous so a store on the network implements it as it stands.
  // Each method does its work when called and resolves at once, so the order of calls is the order of writes.
  return {
    getMeta: async (key) => q.getMeta.get(key)?.value,
    setMeta: async (key, value) => void q.setMeta.run(key, value),
    insertToken: async (t) => void q.insertToken.run(t),
    tokenByHash: async (hash) => { const r = q.tokenByHash.get(hash); return r && toToken(r); },
    tokenById: async (id) => { const r = q.tokenById.get(id); return r && toToken(r); },
    liveTokensForUser: async (user, now) => q.liveForUser.all(user, user, now).map(toToken),
    deadTokensForUser: async (user, now) => q.deadForUser.all(user, now).map(toToken),
    listTokens: async () => q.listTokens.all().map(toToken),
    revokeToken: async (id, at) => db.transaction(() => {
      if (q.revoke.run(at, id).changes === 0) return false;
      q.logRevocation.run(id);
      return true;
    })(),
    revocationsAfter: async (epoch) => {
      const rows = q.revocationsAfter.all(epoch);
      return { epoch: rows.at(-1)?.epoch ?? epoch, ids: rows.map((r) => r.id) };
    },
    revocationEpoch: async () => q.revocationEpoch.get()?.epoch ?? 0,
    touchToken: async (id, at) => void q.touch.run(at, id),
    insertSession: async (s) => void q.insertSession.run(s),
    endSession: async (id, at, reason) => void q.endSession.run(at, reason, id),
    sessionById: async (id) => { const r = q.sessionById.get(id); return r && toSession(r); },
    async listSessions(f: SessionFilter) {
      const where: string[] = [];
      const args: (string | number)[] = [];
      if (f.tokenId) { where.push('token_id = ?'); args.push(f.tokenId); }
      if (f.connection) { where.push('connection = ?'); args.push(f.connection); }
      if (f.runId) { where.push('run_id = ?'); args.push(f.runId); }
      if (f.live) where.push('ended_at IS NULL');
      const sql = `SELECT * FROM sessions ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY started_at DESC LIMIT ?`;
      return db.prepare<(string | number)[], SessionRow>(sql).all(...args, f.limit ?? 100).map(toSession);
    },
    endDanglingSessions: async (at, reason) => q.endDangling.run(at, reason).changes,
    appendAudit: async (rows) => appendAudit(rows),
    lastAudit: async () => { const r = q.lastAudit.get(); return r && toAudit(r); },
    readAudit: async (afterSeq, limit, sessionId) =>
      (sessionId ? q.readSessionAudit.all(sessionId, afterSeq, limit) : q.readAudit.all(afterSeq, limit)).map(toAudit),
    insertApproval: async (a) => void q.insertApproval.run(approvalRow(a)),
    changeApproval: async (id, change) => changeApproval(id, change),
    approvalById: async (id) => approvalOf(q.approvalById.get(id)),
    listApprovals: async (status, limit) => q.listApprovals.all(status ?? null, status ?? null, limit).map((r) => JSON.parse(r.record) as ApprovalRecord),
    consumeApproval: async (fingerprint, now) => consumeApproval(fingerprint, now),
    failPendingApprovals: async (at) => failPending(at),
    toolPins: async (server, source) => q.toolPins.all(server, source),
    pinTool: async (pin) => {
      q.pinTool.run(pin);
      return q.toolPin.get(pin.server, pin.source, pin.tool)!;
    },
    repinTool: async (pin) => void q.repinTool.run(pin),
    usage: async (scope, period) => q.usage.get(scope, period)?.tokens ?? 0,
    addUsage: async (scope, period, tokens, at) => q.addUsage.get(scope, period, tokens, at)!.tokens,
    insertSignIn: async (s, keep) => db.transaction(() => {
      q.insertSignIn.run(s);
      q.trimSignIns.run(keep);
    })(),
    signIn: async (handle) => q.signIn.get(handle),
    touchSignIn: async (handle, idleUntil) => void q.touchSignIn.run(idleUntil, handle),
    deleteSignIn: async (handle) => q.deleteSignIn.run(handle).changes > 0,
    sweepSignIns: async (now) => void q.sweepSignIns.run(now, now),
    reservedUsage: async (scope, period) => reserved(scope, period),
    // Read and written in one synchronous step: nothing else runs in between.
    reserveUsage: async (scope, period, tokens, limit) => {
      const committed = (q.usage.get(scope, period)?.tokens ?? 0) + reserved(scope, period);
      if (committed + tokens > limit) return { committed };
      const id = randomUUID();
      reservations.set(id, { scope, period, tokens });
      return { committed, id };
    },
    releaseUsage: async (id) => void reservations.delete(id),
    dropReservations: async () => 0,
    // WAL + NORMAL fsyncs the log before every checkpoint of it: after this, each commit so far is on disk.
    syncAudit: async () => { db.pragma('wal_checkpoint(FULL)'); },
    close: async () => void db.close(),
  };
}
