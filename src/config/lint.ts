// `policy check`: what a valid config can still get wrong — grants that can never match, unused pieces.
import type { ConfigProblem } from './load.ts';
import type { Config, EgressConnection, EgressGrant, FilesystemGrant, HttpGrant, LlmGrant, McpConnection, McpGrant, RedisGrant, SqlGrant } from './schema.ts';

export interface LintFinding extends ConfigProblem {
  severity: 'error' | 'warning';
}

const HTTP_RULE = /^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS|\*) \/\S*$/;

export function lintConfig(config: Config): LintFinding[] {
  const out: LintFinding[] = [];
  const error = (path: string, message: string) => out.push({ severity: 'error', path, message });
  const warn = (path: string, message: string) => out.push({ severity: 'warning', path, message });

  if (!config.admin.keys.some((k) => k.roles.includes('admin'))) warn('admin.keys', 'no key has the admin role: nobody can issue tokens');
  const used = new Set<string>();
  for (const [role, grants] of Object.entries(config.roles)) {
    if (Object.keys(grants).length === 0) warn(`roles.${role}`, 'role grants nothing');
    for (const [name, grant] of Object.entries(grants)) {
      used.add(name);
      const at = `roles.${role}.${name}`;
      const kind = config.connections[name].kind;
      if (kind === 'postgres' || kind === 'mysql') {
        lintSql(grant as SqlGrant, at, error, warn);
        if (kind === 'mysql') lintPostgresOnly(grant as SqlGrant, at, warn);
      } else if (kind === 'http') lintHttp(grant as HttpGrant, at, error, warn);
      else if (kind === 'mcp') lintMcp(grant as McpGrant, Object.keys((config.connections[name] as McpConnection).servers), at, warn);
      else if (kind === 'redis') lintRedis(grant as RedisGrant, at, error, warn);
      else if (kind === 'llm') lintLlm(grant as LlmGrant, at, warn);
      else if (kind === 'filesystem') lintFilesystem(grant as FilesystemGrant, at, error, warn);
      else lintEgress(grant as EgressGrant, config.connections[name] as EgressConnection, at, warn);
    }
  }
  for (const name of Object.keys(config.connections)) if (!used.has(name)) warn(`connections.${name}`, 'no role grants anything on this connection');
  lintCheckpoints(config, warn);
  return out;
}

/** Checkpoints that stay only on the store's own host protect little: whoever rewrites the store can rewrite them too. */
function lintCheckpoints(config: Config, warn: Report) {
  const cp = config.audit.checkpoints;
  if (!cp) return;
  if (!cp.stdout && !cp.webhook) {
    warn('audit.checkpoints', 'checkpoints go only to a local file: enable stdout (for a log shipper) or set webhook, so a copy lives where the store\'s writers cannot reach');
  }
  if (cp.every > 100_000) warn('audit.checkpoints.every', `a checkpoint only every ${cp.every} records: a truncation of fewer records since the last one goes unnoticed until the next interval`);
}

type Report = (path: string, message: string) => void;

function lintSql(g: SqlGrant, at: string, error: Report, warn: Report) {
  const tables = (list: string[]) => new Set(list.map((t) => t.toLowerCase()));
  const read = tables(g.read);
  const writeAny = g.write.length + g.insert.length + g.update.length + g.delete.length > 0;
  for (const [key, list] of Object.entries({ read: g.read, write: g.write, insert: g.insert, update: g.update, delete: g.delete })) {
    list.forEach((t, i) => { if (!/^("?[^".]+"?\.)?"?[^".]+"?$/.test(t)) error(`${at}.${key}.${i}`, `"${t}" is not a table name (table or schema.table)`); });
  }
  for (const effect of g.approve) {
    const granted = effect === 'ddl' ? g.statements.includes('ddl') : effect === 'call' ? g.statements.includes('call') || g.functions.length > 0
      : effect === 'write' ? writeAny : g.write.length > 0 || g[effect].length > 0;
    if (!granted) error(`${at}.approve`, `approve: ${effect} can never match: the grant does not allow ${effect} at all`);
  }
  for (const column of Object.keys(g.mask)) {
    const parts = column.toLowerCase().split('.');
    if (parts.length < 2 || parts.length > 3) { error(`${at}.mask.${column}`, 'expected table.column or schema.table.column'); continue; }
    const table = parts.slice(0, -1).join('.');
    if (!read.has(table) && !read.has(parts.at(-2)!)) warn(`${at}.mask.${column}`, `mask on ${table}, which this grant cannot read: it never applies`);
  }
  if (!g.read.length && !writeAny && !g.statements.length && !g.functions.length) warn(at, 'grant allows nothing but catalog reads');
  if (g.statements.includes('cursor')) warn(`${at}.statements`, '"cursor" is no longer needed: a cursor is judged by the query it runs');
}

/** SQL grant keys only the PostgreSQL gateway enforces so far: on a MySQL grant they would read as protection and give none. */
function lintPostgresOnly(g: SqlGrant, at: string, warn: Report) {
  for (const key of ['timeout', 'max_sessions', 'max_sessions_per_token'] as const) {
    if (g[key] !== undefined) warn(`${at}.${key}`, `${key} is enforced on PostgreSQL connections only; this MySQL connection ignores it`);
  }
}

function lintHttp(g: HttpGrant, at: string, error: Report, warn: Report) {
  const rules = g.allow.map((r) => (typeof r === 'string' ? r : r.rule));
  rules.forEach((r, i) => { if (!HTTP_RULE.test(r)) error(`${at}.allow.${i}`, `"${r}" is not "METHOD /path" (e.g. "GET /invoices/*")`); });
  g.approve.forEach((r, i) => {
    if (!HTTP_RULE.test(r)) error(`${at}.approve.${i}`, `"${r}" is not "METHOD /path"`);
    else if (!rules.includes(r)) warn(`${at}.approve.${i}`, `"${r}" is not in allow: it can only match if an allow rule covers it`);
  });
  if (!g.allow.length) warn(at, 'allow is empty: every request will be refused');
}

/** What can be said without the upstream (command and category names are checked against it when the gateway starts). */
function lintRedis(g: RedisGrant, at: string, error: Report, warn: Report) {
  if (!g.commands.some((c) => c.startsWith('+'))) warn(`${at}.commands`, 'no command is granted: only PING, MULTI/EXEC and the like will pass');
  if (!g.read.length && !g.write.length && !g.channels.length) warn(at, 'no key or channel pattern: every command that names a key will be refused');
  g.approve.forEach((a, i) => { if (a.trim().split(/\s+/).length > 2) error(`${at}.approve.${i}`, `"${a}" is not "COMMAND [key-glob]" (a subcommand is written client|kill)`); });
}

function lintLlm(g: LlmGrant, at: string, warn: Report) {
  if (!g.models.length) warn(`${at}.models`, 'no models listed: every completion will be refused');
  g.deny.forEach((rule, i) => {
    const m = /^\/(.*)\/([a-z]*)$/.exec(rule);
    if (m) try { new RegExp(m[1], m[2]); } catch (e) { warn(`${at}.deny.${i}`, `invalid regex: ${(e as Error).message}`); }
  });
}

function lintMcp(g: McpGrant, servers: string[], at: string, warn: Report) {
  const names = g.call.map((r) => (typeof r === 'string' ? r : r.tool));
  // A tool is `<server>__<tool>` (or `<server>.<tool>`): a name whose prefix is no configured server can never match.
  const serverOf = (name: string) => /^([^_.*]+)(?:__|\.)/.exec(name)?.[1];
  const check = (list: string[], key: string) => list.forEach((name, i) => {
    const server = serverOf(name);
    if (server !== undefined && !servers.includes(server)) warn(`${at}.${key}.${i}`, `"${name}" names no configured server (servers: ${servers.join(', ')}): it never matches`);
  });
  check(names, 'call');
  check(g.approve, 'approve');
  check(g.prompts, 'prompts');
  if (!g.call.length) warn(`${at}.call`, 'no tools granted: every tool call will be refused');
}

function lintEgress(g: EgressGrant, c: EgressConnection, at: string, warn: Report) {
  if (!g.hosts.length) warn(`${at}.hosts`, 'no hosts listed: every tunnel and request will be refused');
  g.hosts.forEach((h, i) => { if (g.deny.includes(h)) warn(`${at}.hosts.${i}`, `"${h}" is also in deny, which wins: it never applies`); });
  if (!c.intercept) return;
  if (g.hosts.length && !g.allow) warn(`${at}.allow`, 'no allow rules on an intercepting connection: every request to a granted host passes (each audited); list rules to narrow what the agent may do');
  const bare = (h: string) => h.replace(/:\d+$/, '').toLowerCase();
  const uninspected = new Set(c.pass_through.map(bare));
  for (const host of Object.keys(g.headers ?? {})) {
    if (uninspected.has(bare(host))) warn(`${at}.headers.${host}`, `${host} is in pass_through: its tunnels are not inspected, so these headers are never sent`);
  }
  if (g.allow) g.hosts.forEach((h, i) => { if (uninspected.has(bare(h))) warn(`${at}.hosts.${i}`, `"${h}" is in pass_through: requests there are not judged by allow rules`); });
}

/** Path globs are relative to the root; the gateway refuses to start on one that is not (this says so before). */
function lintFilesystem(g: FilesystemGrant, at: string, error: Report, warn: Report) {
  for (const key of ['read', 'write', 'delete', 'deny'] as const) {
    g[key].forEach((glob, i) => {
      if (glob.startsWith('/') || glob.startsWith('~') || glob.includes('\\') || glob.split('/').includes('..')) {
        error(`${at}.${key}.${i}`, `"${glob}" is not a path glob relative to the connection's root (no leading /, ~, .. or backslashes)`);
      }
    });
  }
  if (!g.read.length && !g.write.length && !g.delete.length) warn(at, 'grant allows nothing: every path will be refused');
  if (!g.deny.length && (g.read.length || g.write.length)) warn(`${at}.deny`, 'nothing is denied: consider ["**/.env", "**/*.pem", "**/.git/**"] so secrets stay out of reach whatever the other globs cover');
  g.approve.forEach((entry, i) => {
    const verb = entry.trim().split(/\s+/)[0].toLowerCase();
    if ((verb === 'read' || verb === 'write' || verb === 'delete') && !g[verb].length) warn(`${at}.approve.${i}`, `"${entry}": the grant allows no ${verb} at all, so this never holds anything`);
  });
}
