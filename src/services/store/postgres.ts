// The PostgreSQL store: the same state as the embedded one, in a database several gateway nodes can share.
import { createHash, randomUUID } from 'node:crypto';
import pg from 'pg';
import { GENESIS, type AuditRow } from './audit-table.ts';
import { POSTGRES_MIGRATIONS } from './postgres-schema.ts';
import { toAudit, toSession, toToken, type SessionRow, type StoredAudit, type TokenRow } from './rows.ts';
import type { ApprovalRecord, RevocationEvents, SessionFilter, SignInRecord, SpendEntry, Store, ToolPin } from './store.ts';

/** The oldest PostgreSQL the store is tested on (FOR UPDATE, ON CONFLICT, WITH (FORCE) are older; 13 is the oldest supported release). */
const MIN_SERVER_VERSION = 130000;
/** One lock id for every gateway's migrations: nodes that start together migrate once, one after the other. */
const MIGRATION_LOCK = 0x6761_7465; // "gate"
/** Where a revocation is announced (its epoch as payload); listeners then read what they have not applied. */
const REVOCATION_CHANNEL = 'gatehouse_revocations';
/** How long nodes' spending of rate limits is kept: as long as a node may lag behind (one further behind starts afresh). */
const SPENDING_KEPT_MS = 60_000;
/** How far back a node first reads another node's spending (a node just started, or one seen for the first time). */
const SPENDING_FIRST_READ_MS = 5_000;
/** The database's clock in epoch milliseconds. */
const DB_NOW_MS = '(extract(epoch from clock_timestamp()) * 1000)::bigint';
/** How long the revocation listener waits before reconnecting after it lost its connection. */
const LISTEN_RETRY_MS = 250;

export interface PostgresStoreOptions {
  /** This node's name: its audit chain, and the sessions and approvals it alone can end after a restart. */
  node: string;
  /** Connections in the pool (default 10). */
  max?: number;
}

export class StoreError extends Error {}

// int8 columns (times in ms, sequence numbers) as numbers: they stay far below 2^53.
const types = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/** The URL without its password, for error messages and logs. */
export function describeStore(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparseable URL)';
  }
}

/** Opens the store: checks the server, migrates under an advisory lock, and fails with what is wrong in plain words. */
export async function openPostgresStore(url: string, opts: PostgresStoreOptions): Promise<Store> {
  const where = describeStore(url);
  const pool = new pg.Pool({ connectionString: url, max: opts.max ?? 10, types, connectionTimeoutMillis: 5_000 });
  // An idle connection the server dropped must not crash the process: the next query reconnects or fails.
  pool.on('error', () => undefined);
  try {
    await migrate(pool, where);
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }
  return postgresStore(pool, url, opts.node);
}

async function migrate(pool: pg.Pool, where: string) {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    throw new StoreError(`store ${where}: PostgreSQL is unreachable (${(err as Error).message})`);
  }
  try {
    const { rows: [{ version, role }] } = await client.query<{ version: number; role: string }>(
      `SELECT current_setting('server_version_num')::int AS version, current_user AS role`);
    if (version < MIN_SERVER_VERSION) {
      throw new StoreError(`store ${where}: PostgreSQL ${Math.floor(version / 10000)} is too old; the store needs PostgreSQL ${MIN_SERVER_VERSION / 10000} or later`);
    }
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await client.query('CREATE TABLE IF NOT EXISTS gatehouse_schema (version INTEGER NOT NULL)');
      await client.query('INSERT INTO gatehouse_schema SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM gatehouse_schema)');
      const { rows: [{ version: current }] } = await client.query<{ version: number }>('SELECT version FROM gatehouse_schema');
      if (current > POSTGRES_MIGRATIONS.length) {
        throw new StoreError(`store ${where}: its schema (version ${current}) is newer than this Gatehouse knows (${POSTGRES_MIGRATIONS.length}); upgrade Gatehouse`);
      }
      for (let v = current; v < POSTGRES_MIGRATIONS.length; v++) {
        await client.query('BEGIN');
        try {
          await client.query(POSTGRES_MIGRATIONS[v]);
          await client.query('UPDATE gatehouse_schema SET version = $1', [v + 1]);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw err;
        }
      }
    } catch (err) {
      if ((err as { code?: string }).code === '42501') {
        throw new StoreError(`store ${where}: role "${role}" lacks a privilege the store needs (${(err as Error).message}); grant it CREATE on the database's schema, or run the first start with a role that has it`);
      }
      throw err;
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    }
  } finally {
    client.release();
  }
}

const digestOf = (s: string) => createHash('sha256').update(s).digest('hex');
const approvalOf = (r: { record: string } | undefined) => r && (JSON.parse(r.record) as ApprovalRecord);
const approvalArgs = (a: ApprovalRecord) => [a.status, a.windowUntil, JSON.stringify(a), a.id];

function postgresStore(pool: pg.Pool, url: string, node: string): Store {
  // Tables of short-lived rows are swept now and then, so they stay as small as their use.
  const sweepAuthFailures = occasionally(60_000, (before: number) => pool.query('DELETE FROM auth_failures WHERE since <= $1', [before]));
  const sweepSpending = occasionally(SPENDING_KEPT_MS, () => pool.query(`DELETE FROM rate_spending WHERE at < ${DB_NOW_MS} - $1`, [SPENDING_KEPT_MS]));
  /** The number of this node's last spending batch (read at the first share). */
  let spendSeq: number | undefined;
  const one = async <R extends pg.QueryResultRow>(sql: string, args: unknown[] = []) => (await pool.query<R>(sql, args)).rows[0];
  const all = async <R extends pg.QueryResultRow>(sql: string, args: unknown[] = []) => (await pool.query<R>(sql, args)).rows;
  /** One transaction on one connection; rolled back if `work` throws. */
  const transaction = async <T>(work: (c: pg.PoolClient) => Promise<T>): Promise<T> => {
    const c = await pool.connect();
    // A server that drops the connection between two statements emits 'error' on it: the next query fails instead of
    // the process crashing (a checked-out client has no listener of the pool's).
    let lost: Error | undefined;
    const dropped = (err: Error) => { lost = err; };
    c.on('error', dropped);
    try {
      await c.query('BEGIN');
      const result = await work(c);
      await c.query('COMMIT');
      return result;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.off('error', dropped);
      c.release(lost); // a lost connection is discarded, not handed out again
    }
  };

  return {
    node,
    getMeta: async (key) => (await one<{ value: string }>('SELECT value FROM meta WHERE key = $1', [key]))?.value,
    setMeta: async (key, value) => void await pool.query('INSERT INTO meta(key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value', [key, value]),
    insertToken: async (t) => void await pool.query(
      'INSERT INTO tokens VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)',
      [t.id, t.hash, t.label, t.role, t.createdAt, t.expiresAt, t.revokedAt, t.lastUsedAt, t.createdBy, t.scramStoredKey, t.scramServerKey, t.mysqlNative]),
    tokenByHash: async (hash) => { const r = await one<TokenRow>('SELECT * FROM tokens WHERE hash = $1', [hash]); return r && toToken(r); },
    tokenById: async (id) => { const r = await one<TokenRow>('SELECT * FROM tokens WHERE id = $1', [id]); return r && toToken(r); },
    liveTokensForUser: async (user, now) => (await all<TokenRow>(
      'SELECT * FROM tokens WHERE (id = $1 OR label = $1) AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at DESC LIMIT 64', [user, now])).map(toToken),
    deadTokensForUser: async (user, now) => (await all<TokenRow>(
      'SELECT * FROM tokens WHERE label = $1 AND (revoked_at IS NOT NULL OR expires_at <= $2) ORDER BY created_at DESC LIMIT 16', [user, now])).map(toToken),
    listTokens: async () => (await all<TokenRow>('SELECT * FROM tokens ORDER BY created_at DESC')).map(toToken),
    revokeToken: (id, at) => transaction(async (c) => {
      // One revoker at a time (readers are not blocked): epochs then commit in order, and none is skipped by a reader.
      await c.query('LOCK TABLE revocations IN EXCLUSIVE MODE');
      if (((await c.query('UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [at, id])).rowCount ?? 0) === 0) return false;
      const { rows: [{ epoch }] } = await c.query<{ epoch: number }>(
        'INSERT INTO revocations SELECT COALESCE(MAX(epoch), 0) + 1, $1 FROM revocations RETURNING epoch', [id]);
      await c.query('SELECT pg_notify($1, $2)', [REVOCATION_CHANNEL, String(epoch)]); // delivered on commit
      return true;
    }),
    revocationsAfter: async (epoch) => {
      const rows = await all<{ epoch: number; id: string }>('SELECT epoch, token_id AS id FROM revocations WHERE epoch > $1 ORDER BY epoch', [epoch]);
      return { epoch: rows.at(-1)?.epoch ?? epoch, ids: rows.map((r) => r.id) };
    },
    revocationEpoch: async () => (await one<{ epoch: number | null }>('SELECT MAX(epoch) AS epoch FROM revocations'))?.epoch ?? 0,
    listenRevocations: (events) => listenRevocations(url, node, events),
    touchToken: async (id, at) => void await pool.query('UPDATE tokens SET last_used_at = $1 WHERE id = $2', [at, id]),
    insertSession: async (s) => void await pool.query(
      'INSERT INTO sessions VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)',
      [s.id, s.tokenId, s.label, s.role, s.connection, s.protocol, s.client, s.runId, s.step, s.startedAt, s.endedAt, s.endReason, node]),
    endSession: async (id, at, reason) => void await pool.query('UPDATE sessions SET ended_at = $1, end_reason = $2 WHERE id = $3 AND ended_at IS NULL', [at, reason, id]),
    sessionById: async (id) => { const r = await one<SessionRow>('SELECT * FROM sessions WHERE id = $1', [id]); return r && toSession(r); },
    async listSessions(f: SessionFilter) {
      const where: string[] = [];
      const args: unknown[] = [];
      const arg = (v: unknown) => (args.push(v), `$${args.length}`);
      if (f.tokenId) where.push(`token_id = ${arg(f.tokenId)}`);
      if (f.connection) where.push(`connection = ${arg(f.connection)}`);
      if (f.runId) where.push(`run_id = ${arg(f.runId)}`);
      if (f.live) where.push('ended_at IS NULL');
      const sql = `SELECT * FROM sessions ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY started_at DESC LIMIT ${arg(f.limit ?? 100)}`;
      return (await all<SessionRow>(sql, args)).map(toSession);
    },
    // Only this node's: another node's open sessions are live.
    endDanglingSessions: async (at, reason) =>
      (await pool.query('UPDATE sessions SET ended_at = $1, end_reason = $2 WHERE ended_at IS NULL AND node = $3', [at, reason, node])).rowCount ?? 0,
    appendAudit: (rows) => appendChained(pool, node, rows),
    lastAudit: async (chain) => { const r = await one<StoredAudit>('SELECT * FROM audit WHERE node = $1 ORDER BY seq DESC LIMIT 1', [chain ?? node]); return r && toAudit(r); },
    // A PostgreSQL commit is on disk when it returns (synchronous_commit on): nothing more to make durable.
    syncAudit: async () => undefined,
    // A session lives on one node, so its records are on one chain: found whichever node asks (replay, the console).
    readAudit: async (afterSeq, limit, sessionId, chain) => (await (sessionId
      ? all<StoredAudit>('SELECT * FROM audit WHERE session_id = $1 AND seq > $2 AND ($3::text IS NULL OR node = $3) ORDER BY seq LIMIT $4', [sessionId, afterSeq, chain ?? null, limit])
      : all<StoredAudit>('SELECT * FROM audit WHERE node = $1 AND seq > $2 ORDER BY seq LIMIT $3', [chain ?? node, afterSeq, limit]))).map(toAudit),
    // A skip scan over the (node, seq) key: one index probe per node, however long the chains (the console asks every second).
    auditNodes: async () => (await all<{ node: string }>(
      `WITH RECURSIVE n AS (SELECT min(node) AS node FROM audit UNION ALL SELECT (SELECT min(node) FROM audit WHERE node > n.node) FROM n WHERE n.node IS NOT NULL)
       SELECT node FROM n WHERE node IS NOT NULL`)).map((r) => r.node),
    insertApproval: async (a) => void await pool.query(
      'INSERT INTO approvals VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)',
      [a.id, a.status, a.createdAt, a.expiresAt, a.tokenId, a.fingerprint, a.windowUntil, JSON.stringify(a), node]),
    // SELECT ... FOR UPDATE: a decision, an expiry and a use of one approval, on any node, happen one after the other.
    changeApproval: (id, change) => transaction(async (c) => {
      const before = approvalOf((await c.query<{ record: string }>('SELECT record FROM approvals WHERE id = $1 FOR UPDATE', [id])).rows[0]);
      if (!before) return undefined;
      const after = change(before) ?? before;
      if (after !== before) await c.query('UPDATE approvals SET status = $1, window_until = $2, record = $3 WHERE id = $4', approvalArgs(after));
      return { before, after };
    }),
    approvalById: async (id) => approvalOf(await one<{ record: string }>('SELECT record FROM approvals WHERE id = $1', [id])),
    listApprovals: async (status, limit) => (await all<{ record: string }>(
      'SELECT record FROM approvals WHERE ($1::text IS NULL OR status = $1) ORDER BY created_at DESC LIMIT $2', [status ?? null, limit])).map((r) => JSON.parse(r.record) as ApprovalRecord),
    consumeApproval: (fingerprint, now) => transaction(async (c) => {
      const found = approvalOf((await c.query<{ record: string }>(
        `SELECT record FROM approvals WHERE fingerprint = $1 AND (status = 'approved' OR (status = 'used' AND window_until > $2))
         ORDER BY created_at DESC LIMIT 1 FOR UPDATE`, [fingerprint, now])).rows[0]);
      if (!found) return undefined;
      const used: ApprovalRecord = { ...found, status: 'used', usedAt: found.usedAt ?? now };
      await c.query('UPDATE approvals SET status = $1, window_until = $2, record = $3 WHERE id = $4', approvalArgs(used));
      return used;
    }),
    // Only this node's: another node still holds its own pending requests.
    failPendingApprovals: (at) => transaction(async (c) => {
      const pending = (await c.query<{ record: string }>(`SELECT record FROM approvals WHERE status = 'pending' AND node = $1 FOR UPDATE`, [node])).rows;
      const failed: ApprovalRecord[] = [];
      for (const r of pending) {
        const a: ApprovalRecord = { ...(JSON.parse(r.record) as ApprovalRecord), status: 'failed', decidedAt: at };
        await c.query('UPDATE approvals SET status = $1, window_until = $2, record = $3 WHERE id = $4', approvalArgs(a));
        failed.push(a);
      }
      return failed;
    }),
    toolPins: (server, source) => all<ToolPin>(
      'SELECT server, source, tool, fingerprint, definition, pinned_at AS "pinnedAt" FROM tool_pins WHERE server = $1 AND source = $2 ORDER BY tool', [server, source]),
    pinTool: async (pin) => {
      await pool.query('INSERT INTO tool_pins VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING', [pin.server, pin.source, pin.tool, pin.fingerprint, pin.definition, pin.pinnedAt]);
      return (await one<ToolPin>('SELECT server, source, tool, fingerprint, definition, pinned_at AS "pinnedAt" FROM tool_pins WHERE server = $1 AND source = $2 AND tool = $3', [pin.server, pin.source, pin.tool]))!;
    },
    repinTool: async (pin) => void await pool.query(
      `INSERT INTO tool_pins VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (server, source, tool)
       DO UPDATE SET fingerprint = excluded.fingerprint, definition = excluded.definition, pinned_at = excluded.pinned_at`,
      [pin.server, pin.source, pin.tool, pin.fingerprint, pin.definition, pin.pinnedAt]),
    usage: async (scope, period) => (await one<{ tokens: number }>('SELECT tokens FROM llm_usage WHERE scope = $1 AND period = $2', [scope, period]))?.tokens ?? 0,
    addUsage: async (scope, period, tokens, at) => (await one<{ tokens: number }>(
      `INSERT INTO llm_usage(scope, period, tokens, updated_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (scope, period) DO UPDATE SET tokens = llm_usage.tokens + excluded.tokens, updated_at = excluded.updated_at RETURNING tokens`,
      [scope, period, tokens, at]))!.tokens,
    insertSignIn: (s, keep) => transaction(async (c) => {
      await c.query('INSERT INTO console_sign_ins VALUES ($1, $2, $3, $4, $5, $6)', [s.handle, s.keyName, s.csrf, s.createdAt, s.expiresAt, s.idleUntil]);
      await c.query('DELETE FROM console_sign_ins WHERE handle IN (SELECT handle FROM console_sign_ins ORDER BY created_at DESC OFFSET $1)', [keep]);
    }),
    signIn: (handle) => one<SignInRecord>(
      `SELECT handle, key_name AS "keyName", csrf, created_at AS "createdAt", expires_at AS "expiresAt", idle_until AS "idleUntil"
       FROM console_sign_ins WHERE handle = $1`, [handle]),
    touchSignIn: async (handle, idleUntil) => void await pool.query('UPDATE console_sign_ins SET idle_until = $1 WHERE handle = $2', [idleUntil, handle]),
    deleteSignIn: async (handle) => ((await pool.query('DELETE FROM console_sign_ins WHERE handle = $1', [handle])).rowCount ?? 0) > 0,
    sweepSignIns: async (now) => void await pool.query('DELETE FROM console_sign_ins WHERE expires_at <= $1 OR idle_until <= $1', [now]),
    countAuthFailures: async (keys, windowMs, now) => {
      // Stored by digest: a key carries what a client sent (any bytes, NUL included) and an address; neither is needed.
      const digests = [...new Set(keys.map(digestOf))];
      // A key whose window has passed starts a new one at this failure; the rest count on. Counts come back per key.
      const rows = await all<{ key: string; failures: number }>(
        `INSERT INTO auth_failures (key, since, failures) SELECT k, $2, 1 FROM unnest($1::text[]) AS k
         ON CONFLICT (key) DO UPDATE SET
           failures = CASE WHEN auth_failures.since <= $2 - $3 THEN 1 ELSE auth_failures.failures + 1 END,
           since = CASE WHEN auth_failures.since <= $2 - $3 THEN $2 ELSE auth_failures.since END
         RETURNING key, failures`, [digests, now, windowMs]);
      sweepAuthFailures(now - windowMs);
      const counts = new Map(rows.map((r) => [r.key, r.failures]));
      return keys.map((k) => counts.get(digestOf(k)) ?? 0);
    },
    reservedUsage: async (scope, period) => (await one<{ tokens: number }>(
      'SELECT COALESCE(sum(tokens), 0)::bigint AS tokens FROM llm_reservations WHERE scope = $1 AND period = $2', [scope, period]))!.tokens,
    reserveUsage: (scope, period, tokens, limit, at) => transaction(async (c) => {
      // The window's usage row is the lock: every node's reservations and charges of one window take it in turn.
      await c.query('INSERT INTO llm_usage(scope, period, tokens, updated_at) VALUES ($1, $2, 0, $3) ON CONFLICT DO NOTHING', [scope, period, at]);
      const spent = (await c.query<{ tokens: number }>('SELECT tokens FROM llm_usage WHERE scope = $1 AND period = $2 FOR UPDATE', [scope, period])).rows[0].tokens;
      const held = (await c.query<{ tokens: number }>(
        'SELECT COALESCE(sum(tokens), 0)::bigint AS tokens FROM llm_reservations WHERE scope = $1 AND period = $2', [scope, period])).rows[0].tokens;
      const committed = spent + held;
      if (committed + tokens > limit) return { committed };
      const id = randomUUID();
      await c.query('INSERT INTO llm_reservations VALUES ($1, $2, $3, $4, $5, $6)', [id, node, scope, period, tokens, at]);
      return { committed, id };
    }),
    releaseUsage: async (id) => void await pool.query('DELETE FROM llm_reservations WHERE id = $1', [id]),
    dropReservations: async () => (await pool.query('DELETE FROM llm_reservations WHERE node = $1', [node])).rowCount ?? 0,
    // Times are the database's clock (one clock for every node: skew between nodes does not matter).
    shareSpending: async (entries, seen) => {
      spendSeq ??= (await one<{ seq: number }>('SELECT COALESCE(max(seq), 0)::bigint AS seq FROM rate_spending WHERE node = $1', [node]))!.seq;
      if (entries.length) {
        await pool.query(`INSERT INTO rate_spending VALUES ($1, $2, ${DB_NOW_MS}, $3)`, [node, spendSeq + 1, JSON.stringify(entries)]);
        spendSeq++;
      }
      sweepSpending();
      // A node's batches after the last one read; of a node not read before, those of the last few seconds.
      const rows = await all<{ node: string; seq: number; entries: string }>(
        `SELECT node, seq, entries FROM rate_spending WHERE node <> $1
           AND CASE WHEN $2::jsonb ? node THEN seq > ($2::jsonb ->> node)::bigint ELSE at >= ${DB_NOW_MS} - $3 END
         ORDER BY node, seq`, [node, JSON.stringify(Object.fromEntries(seen)), SPENDING_FIRST_READ_MS]);
      return rows.map((r) => ({ node: r.node, seq: r.seq, entries: JSON.parse(r.entries) as SpendEntry[] }));
    },
    close: () => pool.end(),
  };
}

/**
 * One statement per group commit, all or none (a statement is its own transaction): the batch's rows are inserted only
 * if its first row links to the stored record before it (the genesis hash for record 1). With the (node, seq) primary
 * key that makes a fork impossible: a second writer under the same node id either finds the link missing (nothing is
 * inserted) or collides on a sequence number already taken (the statement fails). Named, so each pooled connection
 * parses and plans it once.
 */
const APPEND_AUDIT = {
  name: 'gatehouse_append_audit',
  text: `INSERT INTO audit (node, seq, ts, kind, session_id, token_id, connection, verdict, data, prev_hash, hash)
    SELECT $1, (r->>0)::bigint, (r->>1)::bigint, r->>2, r->>3, r->>4, r->>5, r->>6, r->>7, r->>8, r->>9
    FROM json_array_elements($2::json) AS r
    WHERE $3::text = COALESCE((SELECT hash FROM audit WHERE node = $1 AND seq = $4::bigint - 1), CASE WHEN $4::bigint = 1 THEN '${GENESIS}' END)`,
};
/** PostgreSQL's unique_violation: the batch's first sequence number is taken already. */
const UNIQUE_VIOLATION = '23505';

/** Inserts a batch onto this node's chain, all or none, only if it continues what is stored; throws otherwise. */
async function appendChained(pool: pg.Pool, node: string, rows: AuditRow[]) {
  if (!rows.length) return;
  const [seq, , , , , , , , prevHash] = rows[0];
  // The rows travel as one JSON text (serialised natively) rather than as ten array parameters escaped one by one.
  const inserted = await pool.query({ ...APPEND_AUDIT, values: [node, JSON.stringify(rows), prevHash, seq] }).then(
    (r) => r.rowCount,
    (err: { code?: string }) => { if (err.code === UNIQUE_VIOLATION) return 0; throw err; },
  );
  if (inserted === rows.length) return;
  const head = (await pool.query<{ seq: number }>('SELECT seq FROM audit WHERE node = $1 ORDER BY seq DESC LIMIT 1', [node])).rows[0];
  throw new Error(`audit batch starting at record ${seq} does not continue the stored chain (last stored: ${head?.seq ?? 0})`);
}

/**
 * LISTEN on a dedicated connection of its own (a pooled one would be handed to other queries, and a transaction-pooling
 * proxy drops LISTEN): reconnects by itself, and says when it is up or down so the node can tell how stale it may be.
 */
function listenRevocations(url: string, node: string, events: RevocationEvents): () => Promise<void> {
  let stopped = false;
  let current: pg.Client | undefined;
  let retry: NodeJS.Timeout | undefined;
  const connect = async () => {
    // Named, so an operator (and pg_stat_activity) can tell which node's listener a connection is.
    const client = new pg.Client({ connectionString: url, types, connectionTimeoutMillis: 5_000, keepAlive: true, application_name: `gatehouse revocations ${node}`.slice(0, 63) });
    current = client;
    let lost = false;
    const lose = (err: Error) => {
      if (lost || stopped) return;
      lost = true;
      client.end().catch(() => undefined);
      events.down(err);
      retry = setTimeout(() => void connect(), LISTEN_RETRY_MS).unref();
    };
    client.on('error', lose);
    client.on('end', () => lose(new Error('the listening connection was closed')));
    client.on('notification', () => events.wake());
    try {
      await client.connect();
      await client.query(`LISTEN ${REVOCATION_CHANNEL}`);
    } catch (err) {
      lose(err as Error);
      return;
    }
    if (!stopped && !lost) events.up();
  };
  void connect();
  return async () => {
    stopped = true;
    clearTimeout(retry);
    await current?.end().catch(() => undefined);
  };
}

/** `work` at most once per `everyMs`, in the background; a failure waits for the next time. */
function occasionally<A extends unknown[]>(everyMs: number, work: (...args: A) => Promise<unknown>): (...args: A) => void {
  let last = 0;
  return (...args) => {
    if (Date.now() - last < everyMs) return;
    last = Date.now();
    void work(...args).catch(() => undefined);
  };
}
