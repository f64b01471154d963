// The PostgreSQL store's schema, one migration per entry, applied in order once (under an advisory lock).
// Times are epoch milliseconds (bigint), as in the embedded store; `node` names the gateway node that wrote a row where a
// node restarting must only touch its own (its audit chain, its sessions, the approvals it holds).
export const POSTGRES_MIGRATIONS: string[] = [
  `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
   CREATE TABLE tokens (
     id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, label TEXT NOT NULL, role TEXT NOT NULL,
     created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, revoked_at BIGINT, last_used_at BIGINT,
     created_by TEXT NOT NULL, scram_stored_key TEXT NOT NULL, scram_server_key TEXT NOT NULL, mysql_native TEXT);
   CREATE INDEX tokens_label ON tokens(label);
   CREATE INDEX tokens_revoked ON tokens(revoked_at);
   CREATE TABLE sessions (
     id TEXT PRIMARY KEY, token_id TEXT NOT NULL, label TEXT NOT NULL, role TEXT NOT NULL, connection TEXT NOT NULL,
     protocol TEXT NOT NULL, client TEXT NOT NULL, run_id TEXT, step TEXT,
     started_at BIGINT NOT NULL, ended_at BIGINT, end_reason TEXT, node TEXT NOT NULL);
   CREATE INDEX sessions_started ON sessions(started_at);
   CREATE INDEX sessions_live ON sessions(node) WHERE ended_at IS NULL;
   CREATE TABLE audit (
     node TEXT NOT NULL, seq BIGINT NOT NULL, ts BIGINT NOT NULL, kind TEXT NOT NULL, session_id TEXT, token_id TEXT,
     connection TEXT, verdict TEXT, data TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL,
     PRIMARY KEY (node, seq));
   CREATE INDEX audit_session ON audit(session_id, node, seq);
   CREATE TABLE llm_usage (
     scope TEXT NOT NULL, period TEXT NOT NULL, tokens BIGINT NOT NULL, updated_at BIGINT NOT NULL,
     PRIMARY KEY (scope, period));
   CREATE TABLE approvals (
     id TEXT PRIMARY KEY, status TEXT NOT NULL, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL,
     token_id TEXT NOT NULL, fingerprint TEXT NOT NULL, window_until BIGINT, record TEXT NOT NULL, node TEXT NOT NULL);
   CREATE INDEX approvals_status ON approvals(status, created_at);
   CREATE INDEX approvals_fingerprint ON approvals(fingerprint);
   CREATE TABLE tool_pins (
     server TEXT NOT NULL, source TEXT NOT NULL, tool TEXT NOT NULL, fingerprint TEXT NOT NULL, definition TEXT NOT NULL,
     pinned_at BIGINT NOT NULL, PRIMARY KEY (server, source, tool));`,
  // The revocation epoch: revocations numbered in commit order (writers take the table's lock in turn), so a node that
  // reconnects asks for what is after the last number it applied; no clock is compared.
  `CREATE TABLE revocations (epoch BIGINT PRIMARY KEY, token_id TEXT NOT NULL);`,
  // Budget reservations of calls in flight on every node, so nodes cannot all spend one remainder; a node drops its own
  // at start-up (what a crash left).
  `CREATE TABLE llm_reservations (
     id TEXT PRIMARY KEY, node TEXT NOT NULL, scope TEXT NOT NULL, period TEXT NOT NULL, tokens BIGINT NOT NULL, at BIGINT NOT NULL);
   CREATE INDEX llm_reservations_window ON llm_reservations(scope, period);
   CREATE INDEX llm_reservations_node ON llm_reservations(node);`,
  // Rate-limit token buckets every node takes from (`at`: the store's clock, in ms, when `tokens` was last computed).
  `CREATE TABLE rate_buckets (key TEXT PRIMARY KEY, tokens DOUBLE PRECISION NOT NULL, at BIGINT NOT NULL);`,
];
