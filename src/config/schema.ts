// The configuration contract (see PRODUCT.md): validated once at the boundary, typed everywhere after.
import { z } from 'zod';

const hostPort = z.string().regex(/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:6432');
const nameList = z.array(z.string().min(1));
export const maskStrategy = z.enum(['redact', 'partial', 'hash', 'null']);
const guardMode = z.enum(['block', 'redact', 'flag', 'off']);

export const adminKey = z.strictObject({
  name: z.string().min(1),
  key: z.string().min(16, 'admin keys must be at least 16 characters'),
  roles: z.array(z.enum(['admin', 'approver'])).min(1),
});

const tlsFiles = z.strictObject({ cert: z.string(), key: z.string() });

const duration = z.string().regex(/^\d+(\.\d+)?[smhd]?$/, 'expected a duration such as 30s, 15m, 2h');
/** A duration that may be shorter than a second (timeouts): 500ms, 30s, 2m. */
const shortDuration = z.string().regex(/^\d+(\.\d+)?(ms|[smhd])?$/, 'expected a duration such as 500ms, 30s, 15m')
  .refine((text) => Number.parseFloat(text) > 0, 'a timeout must be longer than zero');

export const postgresConnection = z.strictObject({
  kind: z.literal('postgres'),
  listen: hostPort,
  upstream: z.string().regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL'),
  /** TLS for agents: configured files, or a self-signed certificate generated at start-up. */
  tls: z.union([tlsFiles, z.literal('self-signed'), z.literal('off')]).default('self-signed'),
  /** Upstream TLS: `require` refuses a plaintext upstream. */
  upstream_tls: z.enum(['disable', 'prefer', 'require']).default('prefer'),
  /** Sessions on this connection, all tokens together (each holds an upstream connection). Unset: no cap of our own. */
  max_sessions: z.number().int().positive().optional(),
  /** Sessions one token may hold at once, unless its role's grant says otherwise. */
  max_sessions_per_token: z.number().int().positive().default(20),
  /** Connections still authenticating, all clients together; when full, the longest-silent one makes room. */
  max_handshakes: z.number().int().positive().default(128),
  /** Connections still authenticating per client: one address with one user name (or none yet). */
  max_handshakes_per_client: z.number().int().positive().default(8),
  /** Time a connection has for TLS, startup and authentication together. */
  handshake_timeout: shortDuration.default('10s'),
});

/** Fairness and deadlines, the same for every HTTP-speaking connection (see adapters/kit/http/fairness.ts and deadline.ts). */
const httpLimits = {
  /** Upstream connections this listener opens at most; when all are busy they go round-robin between tokens. */
  upstream_pool: z.number().int().positive().default(256),
  /** Requests one token may have in flight on this connection; more are refused with 429. */
  max_concurrent_per_token: z.number().int().positive().default(32),
  /** A request's headers must arrive within this, its body within `body_timeout_ms` after them (else 408). */
  header_timeout_ms: z.number().int().positive().default(10_000),
  body_timeout_ms: z.number().int().positive().default(60_000),
};

export const mysqlConnection = z.strictObject({
  kind: z.literal('mysql'),
  listen: hostPort,
  upstream: z.string().regex(/^(mysql|mariadb):\/\//, 'expected a mysql:// URL'),
  /** TLS for agents: configured files, or a self-signed certificate generated at start-up. */
  tls: z.union([tlsFiles, z.literal('self-signed'), z.literal('off')]).default('self-signed'),
  /** Upstream TLS: `require` refuses a plaintext upstream. */
  upstream_tls: z.enum(['disable', 'prefer', 'require']).default('prefer'),
  /**
   * The auth plugin announced to clients (each may answer with its own). caching_sha2_password always takes the full
   * path (the token over TLS, or RSA-encrypted): see the README for why the fast path is never accepted.
   */
  auth_plugin: z.enum(['mysql_native_password', 'caching_sha2_password']).default('mysql_native_password'),
  /** Largest statement or row Gatehouse holds to inspect; larger packets end the connection with an error. */
  max_packet_bytes: z.number().int().min(1024).max(1024 * 1024 * 1024).default(64 * 1024 * 1024),
  /** Each step of a client's handshake must arrive within this; a client that stalls is disconnected. */
  handshake_timeout_ms: z.number().int().positive().default(10_000),
  /** Connections still authenticating, all clients together; when full, the longest-silent one makes room. */
  max_handshakes: z.number().int().positive().default(128),
  /** Connections still authenticating per client: one address with one user name (or none yet). */
  max_handshakes_per_client: z.number().int().positive().default(8),
});

export const httpConnection = z.strictObject({
  kind: z.literal('http'),
  listen: hostPort,
  upstream: z.string().url(),
  headers: z.record(z.string(), z.string()).default({}),
  timeout_ms: z.number().int().positive().default(30_000),
  /** Largest request/response body Gatehouse will buffer when it must inspect or mask one. */
  max_inspect_bytes: z.number().int().positive().default(4 * 1024 * 1024),
  /**
   * X-HTTP-Method-Override, X-HTTP-Method, X-Method-Override, X-Original-URL, X-Rewrite-URL and `?_method=`: `refuse`
   * such requests, `strip` the headers, or `honour` them (forwarded, and judged as the method and path they name).
   */
  override_headers: z.enum(['refuse', 'strip', 'honour']).default('refuse'),
  ...httpLimits,
});

export const llmConnection = z.strictObject({
  kind: z.literal('llm'),
  listen: hostPort,
  upstream: z.string().url(),
  flavor: z.enum(['openai', 'anthropic']).default('openai'),
  headers: z.record(z.string(), z.string()).default({}),
  timeout_ms: z.number().int().positive().default(120_000),
  /** Audit prompts/completions in full, or only their SHA-256 digests. */
  audit_content: z.enum(['full', 'digest']).default('full'),
  max_inspect_bytes: z.number().int().positive().default(8 * 1024 * 1024),
  /**
   * Request fields and beta flags the dialect's inventory does not know: `refuse` them (default), or `forward` them with
   * every string inside scanned as text the model reads.
   */
  unknown_fields: z.enum(['refuse', 'forward']).default('refuse'),
  ...httpLimits,
});

/** An MCP server name: tools are exposed as `<server>__<tool>`, so a name never holds `__` (one server cannot shadow another). */
const mcpServerName = z.string().regex(/^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$/, 'MCP server names are lower-case identifiers without "__" (tools are exposed as <server>__<tool>)');

/** An upstream MCP server: reached over streamable HTTP (or legacy SSE), or spawned over stdio. */
export const mcpServer = z.union([
  z.strictObject({
    url: z.string().url(),
    transport: z.enum(['streamable-http', 'sse']).default('streamable-http'),
    /** Sent on every request to the server (e.g. its API key); agents never see them. */
    headers: z.record(z.string(), z.string()).default({}),
  }),
  z.strictObject({
    /** The program and its arguments; a bare program name is looked up on the gateway's PATH at start-up. */
    command: z.array(z.string().min(1)).min(1),
    /** The child's whole environment: nothing of the gateway's own is passed on. */
    env: z.record(z.string(), z.string()).default({}),
    /** Working directory (relative paths: to the gateway's own); the gateway's own by default. */
    cwd: z.string().optional(),
  }),
]);

export const mcpConnection = z.strictObject({
  kind: z.literal('mcp'),
  listen: hostPort,
  servers: z.record(mcpServerName, mcpServer).refine((s) => Object.keys(s).length > 0, 'an MCP connection needs at least one server'),
  /** How long one upstream request may take before the agent gets an error. */
  timeout_ms: z.number().int().positive().default(30_000),
  /** How long reaching a server may take: spawning a stdio server, or connecting, and initializing. */
  connect_timeout_ms: z.number().int().positive().default(30_000),
  /** How long a tool call held for approval waits on the wire before it is answered "awaits approval" (agents retry). */
  approval_wait_ms: z.number().int().positive().default(45_000),
  /** Largest tool/resource/prompt result passed back to an agent. */
  max_result_bytes: z.number().int().positive().default(1024 * 1024),
  /** An agent's MCP session (and its stdio servers) ends after this long without a request. */
  idle_timeout_ms: z.number().int().positive().default(10 * 60_000),
  /** Live sessions one token may hold; a new one beyond this closes that token's least recently used session. */
  max_sessions_per_token: z.number().int().positive().default(32),
  /** A request's headers must arrive within this, its body within `body_timeout_ms` after them (else 408). */
  header_timeout_ms: z.number().int().positive().default(10_000),
  body_timeout_ms: z.number().int().positive().default(60_000),
});

/** A directory served to agents over MCP (`http://<listen>/mcp`): every path confined to `root`, judged by the token's grant. */
export const filesystemConnection = z.strictObject({
  kind: z.literal('filesystem'),
  /** The directory agents see as their whole world (relative: to the gateway's working directory); it must exist. */
  root: z.string().min(1),
  listen: hostPort,
  /** How long a call held for approval waits on the wire before it is answered "awaits approval" (agents retry). */
  approval_wait_ms: z.number().int().positive().default(45_000),
  /** Largest tool result passed back to an agent (a file read, a listing, search hits). */
  max_result_bytes: z.number().int().positive().default(16 * 1024 * 1024),
  /** An agent's MCP session ends after this long without a request. */
  idle_timeout_ms: z.number().int().positive().default(10 * 60_000),
  /** Live sessions one token may hold; a new one beyond this closes that token's least recently used session. */
  max_sessions_per_token: z.number().int().positive().default(32),
  /** A request's headers must arrive within this, its body within `body_timeout_ms` after them (else 408). */
  header_timeout_ms: z.number().int().positive().default(10_000),
  body_timeout_ms: z.number().int().positive().default(60_000),
});

export const redisConnection = z.strictObject({
  kind: z.literal('redis'),
  listen: hostPort,
  /** The upstream server, its password and database: `redis://user:password@host:port/db`. */
  upstream: z.string().regex(/^redis:\/\/[^/?#]*(\/\d+)?\/?$/, 'expected redis://[user:password@]host:port[/db] (TLS upstreams are not supported yet)'),
  /** Largest command an agent may send (all its arguments), and most arguments in one command. */
  max_command_bytes: z.number().int().positive().default(64 * 1024 * 1024),
  max_command_args: z.number().int().positive().default(100_000),
  /** Largest single reply relayed from the upstream; a larger one ends the connection. */
  max_reply_bytes: z.number().int().positive().default(512 * 1024 * 1024),
  /** Commands in flight on one connection before the gateway stops reading from it. */
  max_pipeline: z.number().int().positive().default(1024),
  connect_timeout_ms: z.number().int().positive().default(5_000),
});

/** An address range: `10.20.0.0/16`, `fd00:1234::/32`, or one address. */
const cidr = z.string().regex(/^[0-9A-Fa-f:.]+(\/\d{1,3})?$/, 'expected a CIDR range such as 10.20.0.0/16 or fd00:1234::/32');

export const egressConnection = z.strictObject({
  kind: z.literal('egress'),
  listen: hostPort,
  /**
   * Private, loopback, link-local... ranges agents may reach anyway: the explicit exception, audited with every use.
   * The gateway's own listeners and the cloud metadata addresses stay refused whatever this says.
   */
  allow_private: z.array(cidr).default([]),
  /**
   * TLS interception inside tunnels: each request in an HTTPS tunnel is judged by the grant's `allow`, gets its `headers`
   * and passes its `guards`. Agents must trust `ca` (`gatehouse ca export`).
   */
  intercept: z.boolean().default(false),
  /** The interception CA: certificate and private key files, generated (key mode 0600) on first start if absent. */
  ca: tlsFiles.default({ cert: './gatehouse-ca.pem', key: './gatehouse-ca.key' }),
  /** Extra roots (a PEM file) upstream certificates are verified against, besides the system store. */
  upstream_ca: z.string().min(1).optional(),
  /** Hosts (names or `*.` wildcards) never intercepted: their tunnels are spliced uninspected, and audited as such. */
  pass_through: z.array(z.string().regex(/^(\*\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/, 'expected a host name such as "pinned.example.com" or "*.example.com"')).default([]),
  /** Largest request body read to be judged (body rules, guards, approvals) inside an intercepted tunnel; more is refused (413). */
  max_inspect_bytes: z.number().int().positive().default(4 * 1024 * 1024),
  /** How long an upstream may take to accept a connection. */
  connect_timeout_ms: z.number().int().positive().default(10_000),
  /** How long a client may take to send its request head, or its TLS ClientHello once a tunnel is open (else 408/closed). */
  header_timeout_ms: z.number().int().positive().default(10_000),
  /** A plain request's body must have arrived this long after the request is let through (else 408). */
  body_timeout_ms: z.number().int().positive().default(60_000),
  /** A tunnel or request with no byte either way for this long is closed. */
  idle_timeout_ms: z.number().int().positive().default(300_000),
});

export const connection = z.discriminatedUnion('kind', [postgresConnection, mysqlConnection, httpConnection, llmConnection, mcpConnection, filesystemConnection, redisConnection, egressConnection]);

/**
 * SQL statement kinds that are refused unless a grant names them (see services/policy/sql). `cursor` is still accepted
 * from older configs but grants nothing: a cursor is judged by the query it runs. `settings`: read every server setting.
 */
export const sqlStatementKinds = [
  'ddl', 'do', 'call', 'copy_file', 'truncate', 'lock', 'maintenance', 'notify', 'set_role', 'set_search_path',
  'alter_system', 'grant', 'listen', 'select_into', 'cursor', 'set', 'two_phase', 'settings',
] as const;

export const sqlGrant = z.strictObject({
  read: nameList.default([]),
  write: nameList.default([]),
  insert: nameList.default([]),
  update: nameList.default([]),
  delete: nameList.default([]),
  /** Effects that wait for a human: any of insert, update, delete, ddl, call. */
  approve: z.array(z.enum(['insert', 'update', 'delete', 'write', 'ddl', 'call'])).default([]),
  /** Functions callable although volatile or user-defined (e.g. `nextval`, `public.search_docs`). */
  functions: nameList.default([]),
  statements: z.array(z.enum(sqlStatementKinds)).default([]),
  /** Rows one result (one portal or cursor, however many times it is fetched from) may return; more are withheld with a NOTICE. */
  max_rows: z.number().int().positive().optional(),
  /** The upstream statement_timeout of this role's sessions: an agent may lower it, never raise or clear it. */
  timeout: shortDuration.optional(),
  /** Sessions all of this role's tokens together may hold on the connection. */
  max_sessions: z.number().int().positive().optional(),
  /** Sessions one token of this role may hold (overrides the connection's max_sessions_per_token). */
  max_sessions_per_token: z.number().int().positive().optional(),
  /** `table.column` (or `schema.table.column`) → strategy. */
  mask: z.record(z.string(), maskStrategy).default({}),
  /**
   * Content detectors on result values, whatever the query: secrets/pii `redact` masks detected spans in text cells,
   * `flag` audits them; injection `flag` audits cells that carry instructions (rows an agent may feed to a model).
   */
  guards: z.strictObject({
    injection: z.enum(['flag', 'off']).default('off'),
    secrets: z.enum(['redact', 'flag', 'off']).default('off'),
    pii: z.enum(['redact', 'flag', 'off']).default('off'),
  }).default({ injection: 'off', secrets: 'off', pii: 'off' }),
});

/**
 * A Redis grant, in the spirit of Redis ACLs. `commands` are `+`/`-` rules over categories (`+@read`) and commands
 * (`+get`, `-client|kill`), evaluated in order; `read` / `write` / `channels` are Redis glob patterns over key and channel
 * names (matched as bytes, as Redis matches them); `approve` entries are `"<COMMAND> [key-glob]"`.
 */
export const redisGrant = z.strictObject({
  commands: z.array(z.string().regex(/^[+-](@[a-z]+|[a-z][a-z0-9_-]*(\|[a-z0-9_-]+)?)$/i, 'expected +@category, -@category, +command or +command|subcommand')).default([]),
  read: nameList.default([]),
  write: nameList.default([]),
  channels: nameList.default([]),
  approve: nameList.default([]),
  /** `values: true` records argument values in the audit; otherwise only command and key names. */
  audit: z.strictObject({ values: z.boolean().default(false) }).default({ values: false }),
  /** Content detectors on string replies: `redact` masks secrets / personal data, `flag` audits what was seen. */
  guards: z.strictObject({
    injection: z.enum(['flag', 'off']).default('off'),
    secrets: z.enum(['redact', 'flag', 'off']).default('off'),
    pii: z.enum(['redact', 'flag', 'off']).default('off'),
  }).default({ injection: 'off', secrets: 'off', pii: 'off' }),
});

const literal = z.union([z.string(), z.number(), z.boolean()]);
/**
 * What a query parameter, JSON body field or tool argument may hold: a literal (`"*"` means any value), a list of
 * literals, or `{ in, min, max, max_length, pattern, glob, optional }` (every key given must hold). Body fields and
 * tool arguments must be present unless `optional: true`; query parameters may be absent.
 */
export const valueConstraint = z.union([
  literal,
  z.array(literal).min(1),
  z.strictObject({
    /** One of these literals (the same as the list form). */
    in: z.array(literal).min(1).optional(),
    min: z.number().optional(),
    max: z.number().optional(),
    /** A string of at most this many characters (UTF-16 code units). */
    max_length: z.number().int().nonnegative().optional(),
    /** A regular expression the whole value must match (anchored). */
    pattern: z.string().optional(),
    /** A plain path (no `.`/`..`/empty segments, backslashes or NUL) matching this glob: `*` one segment, `**` any. */
    glob: z.string().min(1).optional(),
    optional: z.boolean().optional(),
  }),
]);

/**
 * One HTTP allow rule: `"METHOD /glob/path"`, or the extended form `{ rule, query, body }`. With `query`, parameters not
 * named are refused; with `body` (JSON paths like `$.amount`), the request must carry a JSON body whose fields match.
 */
export const httpRule = z.union([
  z.string().min(1),
  z.strictObject({
    rule: z.string().min(1),
    query: z.record(z.string(), valueConstraint).optional(),
    body: z.record(z.string().regex(/^\$/, 'body constraints are JSON paths starting with $, e.g. $.amount'), valueConstraint).optional(),
  }),
]);

export const httpGrant = z.strictObject({
  /** `METHOD /glob/path` entries (or `{ rule, query, body }`); `*` matches one segment, `**` any number. */
  allow: z.array(httpRule).default([]),
  approve: nameList.default([]),
  /** e.g. `60/min`, `10/s`, `1000/hour`. */
  rate: z.string().regex(/^\d+\/(s|sec|second|min|minute|h|hour|day)$/, 'expected N/s, N/min, N/hour or N/day').optional(),
  /** JSON path (`$.customer.email`, `$.items[*].card`) → strategy, applied to JSON responses. */
  mask: z.record(z.string(), maskStrategy).default({}),
  /**
   * Content detectors. secrets/pii: `redact` masks them in responses (JSON values and text), `block` refuses requests
   * whose body carries them, `flag` audits. injection: scans responses (indirect prompt injection); `block` refuses them.
   */
  guards: z.strictObject({
    injection: guardMode.default('off'),
    secrets: guardMode.default('off'),
    pii: guardMode.default('off'),
  }).default({ injection: 'off', secrets: 'off', pii: 'off' }),
});

/**
 * The injection guard of an LLM grant: a mode (`injection: block`), or `{ mode, spotlight }` where `spotlight` marks
 * untrusted content (tool results) for the model: `true`/`datamark` interleaves a marker, `encode` base64-encodes it.
 */
const injectionGuard = z.union([
  guardMode,
  z.strictObject({ mode: guardMode.default('block'), spotlight: z.union([z.boolean(), z.enum(['datamark', 'encode'])]).default(false) }),
]).transform((g) => (typeof g === 'string' ? { mode: g, spotlight: 'off' as const } : { mode: g.mode, spotlight: g.spotlight === true ? 'datamark' as const : g.spotlight === false ? 'off' as const : g.spotlight }));

export const llmGrant = z.strictObject({
  models: nameList.default([]),
  max_tokens: z.number().int().positive().optional(),
  max_tokens_mode: z.enum(['reject', 'clamp']).default('clamp'),
  /** Completions per request (`n`, `best_of`); more are refused. */
  max_choices: z.number().int().positive().default(1),
  budget: z.strictObject({ tokens: z.number().int().positive(), per: z.enum(['hour', 'day', 'week', 'month', 'token']) }).optional(),
  /** Tool/function names the model may be offered; absent means none. */
  tools: nameList.default([]),
  /** Capabilities requested outside `tools` (mcp_servers, container, web_search, code_execution, files, computer_use, web_fetch). */
  capabilities: nameList.default([]),
  approve: nameList.default([]),
  guards: z.strictObject({
    injection: injectionGuard.prefault('block'),
    secrets: guardMode.default('redact'),
    pii: guardMode.default('off'),
  }).prefault({}).transform(({ injection, ...rest }) => ({ ...rest, injection: injection.mode, spotlight: injection.spotlight })),
  /** Prompt content rules: literal phrases or `/regex/flags`; a match refuses the request. */
  deny: nameList.default([]),
});

/** One tool rule: a glob over exposed tool names (`search__*`), or `{ tool, args }` with constraints on its arguments. */
export const toolRule = z.union([
  z.string().min(1),
  z.strictObject({
    tool: z.string().min(1),
    args: z.record(z.string().regex(/^\$/, 'argument constraints are JSON paths starting with $, e.g. $.repo'), valueConstraint).default({}),
  }),
]);

export const mcpGrant = z.strictObject({
  /** Tools the token may call (`<server>__<tool>` globs, `*` any characters; `<server>.<tool>` is read the same). */
  call: z.array(toolRule).default([]),
  /** Tools whose calls wait for a human (tool-name globs). */
  approve: nameList.default([]),
  /** Resource URIs the token may list and read (globs: `*` within a segment, `**` any number of segments). */
  resources: nameList.default([]),
  /** Prompts the token may list and get (`<server>__<prompt>` globs). */
  prompts: nameList.default([]),
  /**
   * On results (tool output, resources, prompts): secrets/pii `redact` masks them in text content, `block` refuses the
   * result, `flag` audits; injection `flag` audits instructions aimed at a model, `block` refuses the result.
   */
  guards: z.strictObject({
    injection: guardMode.default('flag'),
    secrets: guardMode.default('redact'),
    pii: guardMode.default('off'),
  }).default({ injection: 'flag', secrets: 'redact', pii: 'off' }),
  /** Upstream servers may ask the agent's model for a completion (sampling) / ask its user for input (elicitation). */
  sampling: z.boolean().default(false),
  elicitation: z.boolean().default(false),
});

const SIZE_UNITS: Record<string, number> = { B: 1, KB: 1024, MB: 1024 * 1024 };
/** A file size: bytes as a number, or `512KB`, `5MB` (units B, KB, MB; powers of 1024). */
const fileSize = z.union([
  z.number().int().positive(),
  z.string().regex(/^\d+(\.\d+)?\s*(B|KB|MB)$/, 'expected a size such as 512KB or 5MB (units B, KB, MB)'),
]).transform((v) => (typeof v === 'number' ? v : Math.floor(Number.parseFloat(v) * SIZE_UNITS[/(B|KB|MB)$/.exec(v)![1]])));

/**
 * A filesystem grant: path globs relative to the connection's root (`*` within one segment, `**` any number of
 * segments; `docs/**` covers `docs` itself). `deny` wins over every other key; a move needs delete on its source and
 * write on its target; `approve` entries are `"read|write|delete <glob>"`.
 */
export const filesystemGrant = z.strictObject({
  read: nameList.default([]),
  write: nameList.default([]),
  delete: nameList.default([]),
  deny: nameList.default([]),
  /** Largest file read or written (units B, KB, MB). */
  max_file_size: fileSize.default(1024 * 1024),
  approve: nameList.default([]),
  /** On what is read: secrets/pii `redact` mask them, `block` withholds the file, `flag` audits; injection `flag` audits (with file and line), `block` withholds. */
  guards: z.strictObject({
    injection: z.enum(['block', 'flag', 'off']).default('flag'),
    secrets: guardMode.default('redact'),
    pii: guardMode.default('off'),
  }).default({ injection: 'flag', secrets: 'redact', pii: 'off' }),
});

/**
 * A host an egress grant names: `example.com`, `*.example.com` (subdomains, not example.com itself), an IP literal
 * (`203.0.113.7`, `[2001:db8::7]`), each optionally with `:port` (without one: ports 80 and 443).
 */
const egressHost = z.string().regex(
  /^(\*\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/,
  'expected a host such as "example.com", "*.example.com", "api.example.com:443", "203.0.113.7" or "[2001:db8::7]:443"',
);
/** `METHOD host/path` (`GET api.github.com/repos/acme/*`), or `{ rule, query, body }` with constraints, as for `kind: http`. */
const egressRule = z.union([
  z.string().min(1),
  z.strictObject({
    rule: z.string().min(1),
    query: z.record(z.string(), valueConstraint).optional(),
    body: z.record(z.string().regex(/^\$/, 'body constraints are JSON paths starting with $, e.g. $.amount'), valueConstraint).optional(),
  }),
]);

export const egressGrant = z.strictObject({
  hosts: z.array(egressHost).default([]),
  /** Hosts refused even when `hosts` names them (deny wins); here a host without a port means every port. */
  deny: z.array(egressHost).default([]),
  /**
   * Tunnels and requests that wait for a human: `"CONNECT *.stripe.com:443"`, `"POST uploads.example.com"`, or a bare
   * host (`*` and `?` globs; without a port, any port). They must be allowed by `hosts` as well.
   */
  approve: nameList.default([]),
  /** Tunnels and plain requests per token: `120/min`. */
  rate: z.string().regex(/^\d+\/(s|sec|second|min|minute|h|hour|day)$/, 'expected N/s, N/min, N/hour or N/day').optional(),
  /** Bytes both ways per token: `50MB/hour` (KB, MB, GB are powers of 1024). */
  max_bytes: z.string().regex(/^\d+(\.\d+)?\s*(B|KB|MB|GB|KiB|MiB|GiB)\/(s|sec|second|min|minute|h|hour|day)$/, 'expected a size per period, e.g. 50MB/hour').optional(),
  /**
   * With `intercept: true` only: the requests allowed inside tunnels (`METHOD host/path` globs as in `kind: http`); when
   * present, a request no rule covers is refused. Absent: every request to a granted host (each still judged and audited).
   */
  allow: z.array(egressRule).optional(),
  /** With `intercept: true` only: host (or `*.` wildcard) → headers set on its requests (credentials the agent never holds). */
  headers: z.record(z.string().regex(/^(\*\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'expected a host name such as "api.github.com"'), z.record(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'expected an HTTP header name'), z.string())).optional(),
  /**
   * With `intercept: true` only, on what leaves (request URLs and bodies): secrets/pii `block` refuses the request,
   * `redact` masks them in the body (a URL carrying one is refused: rewriting it would change the request), `flag` audits.
   */
  guards: z.strictObject({ secrets: guardMode.default('off'), pii: guardMode.default('off') }).optional(),
});

export const webhook = z.strictObject({
  url: z.string().url(),
  /** `json`: the approval request as JSON; `slack`: a Slack incoming-webhook message with a link. */
  format: z.enum(['json', 'slack']).default('json'),
  /** HMAC-SHA-256 key; receivers verify `X-Gatehouse-Signature` over `<timestamp>.<body>`. */
  secret: z.string().min(16, 'webhook secrets must be at least 16 characters'),
});

export const approvalsConfig = z.strictObject({
  /** How long a request waits for a human before it is refused. */
  timeout: duration.default('15m'),
  /** `wait`: the request is held on the wire; `async`: refused at once with an id, and a retry after approval goes through once. */
  mode: z.enum(['wait', 'async']).default('wait'),
  /** Distinct approvers each request needs. */
  required: z.number().int().min(1).max(10).default(1),
  webhooks: z.array(webhook).default([]),
  /** Base URL of the console, for links in notifications (default: http://<admin.listen>). */
  console_url: z.string().url().optional(),
});

/**
 * Signed checkpoints of the audit chain's head, kept outside the store, so a chain rewritten, shortened or rolled back by
 * someone who can write the store no longer matches what was signed (see `gatehouse audit verify --checkpoints`).
 */
export const auditCheckpoints = z.strictObject({
  /** The Ed25519 private key (PEM, from `gatehouse audit keygen`): a file only the gateway's user may read (mode 0600). */
  key: z.string().min(1),
  /** The append-only file checkpoints are written to, one JSON line each. */
  file: z.string().min(1),
  /** A checkpoint after this many records at the latest... */
  every: z.number().int().min(1).max(1_000_000).default(1000),
  /** ...and after this long, if any record came since the last one. */
  interval: duration.default('10s'),
  /** Each checkpoint also goes to standard output as a JSON line, for a log shipper. */
  stdout: z.boolean().default(true),
  /** Each checkpoint is also POSTed here as JSON (best effort: a failure is logged, the file stays authoritative). */
  webhook: z.string().url().optional(),
  /** The name of this gateway's chain in the checkpoints (one chain per node); the host name by default. */
  node: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'a node name is letters, digits, ".", "_" and "-"').optional(),
});

export const config = z.strictObject({
  admin: z.strictObject({
    listen: hostPort.default('127.0.0.1:7070'),
    keys: z.array(adminKey).default([]),
    /** `/metrics` for Prometheus: `admin` asks for an admin key (any of admin.keys), `public` serves anyone who reaches admin.listen. */
    metrics: z.enum(['admin', 'public']).default('admin'),
  }).default({ listen: '127.0.0.1:7070', keys: [], metrics: 'admin' }),
  store: z.string().regex(/^(sqlite:|postgres(ql)?:\/\/)/, 'expected sqlite:PATH or postgres://...').default('sqlite:./gatehouse.db'),
  /**
   * This gateway node, when several share a PostgreSQL store: `id` names its audit chain and the sessions and held
   * requests it alone ends after a restart (stable per node; the host name when absent). `revocation_stale_after`: a node
   * that has not heard revocations from the store for longer refuses requests until it has caught up.
   */
  node: z.strictObject({
    id: z.string().regex(/^[A-Za-z0-9_.:-]{1,100}$/, 'a node id is 1-100 letters, digits, _ . : -').optional(),
    revocation_stale_after: z.string().regex(/^\d+(\.\d+)?(ms|s)$/, 'expected a duration such as 5s or 1500ms').default('5s'),
  }).default({ revocation_stale_after: '5s' }),
  approvals: approvalsConfig.default({ timeout: '15m', mode: 'wait', required: 1, webhooks: [] }),
  /** On SIGTERM, how long requests in flight may take to finish before what is left is cut. */
  drain_timeout: duration.default('25s'),
  audit: z.strictObject({ checkpoints: auditCheckpoints.optional() }).default({}),
  /** Structured (JSON) log level; each request's line is at `debug`. */
  log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** A secret for keyed hashing (masking pseudonyms); generated and kept in the store when absent. */
  secret: z.string().min(16).optional(),
  connections: z.record(z.string().regex(/^[a-z][a-z0-9_-]*$/, 'connection names are lower-case identifiers'), connection).default({}),
  /** role → connection name → grant (its shape depends on the connection's kind). */
  roles: z.record(z.string(), z.record(z.string(), z.unknown())).default({}),
});

export type SqlGrant = z.infer<typeof sqlGrant>;
export type HttpGrant = z.infer<typeof httpGrant>;
export type HttpRule = z.infer<typeof httpRule>;
export type ValueConstraint = z.infer<typeof valueConstraint>;
export type LlmGrant = z.infer<typeof llmGrant>;
export type McpGrant = z.infer<typeof mcpGrant>;
export type FilesystemGrant = z.infer<typeof filesystemGrant>;
export type RedisGrant = z.infer<typeof redisGrant>;
export type ToolRule = z.infer<typeof toolRule>;
export type EgressGrant = z.infer<typeof egressGrant>;
export type PostgresConnection = z.infer<typeof postgresConnection>;
export type MysqlConnection = z.infer<typeof mysqlConnection>;
export type HttpConnection = z.infer<typeof httpConnection>;
export type LlmConnection = z.infer<typeof llmConnection>;
export type McpConnection = z.infer<typeof mcpConnection>;
export type McpServer = z.infer<typeof mcpServer>;
export type FilesystemConnection = z.infer<typeof filesystemConnection>;
export type RedisConnection = z.infer<typeof redisConnection>;
export type EgressConnection = z.infer<typeof egressConnection>;
export type Connection = z.infer<typeof connection>;
export type Grant = SqlGrant | HttpGrant | LlmGrant | McpGrant | FilesystemGrant | RedisGrant | EgressGrant;
export type AdminKey = z.infer<typeof adminKey>;
export type ApprovalsConfig = z.infer<typeof approvalsConfig>;
export type AuditCheckpointsConfig = z.infer<typeof auditCheckpoints>;

/** The validated configuration with each role's grants parsed for its connection's kind. */
export interface Config extends Omit<z.infer<typeof config>, 'roles'> {
  roles: Record<string, Record<string, Grant>>;
}

export const grantSchemaFor = { postgres: sqlGrant, mysql: sqlGrant, http: httpGrant, llm: llmGrant, mcp: mcpGrant, filesystem: filesystemGrant, redis: redisGrant, egress: egressGrant } as const;
