// `gatehouse policy check` (lint a config) and `gatehouse policy explain` (what-if for one statement, request or LLM call).
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { lintConfig } from '../config/lint.ts';
import { ConfigError, formatProblem, lineOfPath, loadConfigFile } from '../config/load.ts';
import type { EgressGrant, FilesystemGrant, HttpGrant, LlmGrant, McpGrant, RedisGrant, SqlGrant } from '../config/schema.ts';
import { explainEgress } from '../adapters/egress/policy.ts';
import { explainFs } from '../adapters/filesystem/policy.ts';
import { parseCidrs, selfMatcher } from '../adapters/egress/ranges.ts';
import { explainHttp } from '../adapters/http/policy.ts';
import { explainLlm } from '../adapters/llm/policy.ts';
import { explainMcp } from '../adapters/mcp/policy.ts';
import { explainRedis } from '../adapters/redis/explain.ts';
import type { Verdict } from '../services/policy/verdict.ts';
import { analyzeSql } from '../adapters/postgres/sql/analyze.ts';
import { loadCatalog, offlineCatalog } from '../adapters/postgres/sql/catalog.ts';
import type { SqlCatalog } from '../services/policy/sql/catalog.ts';
import { parseUpstreamUrl } from '../adapters/postgres/upstream.ts';
import { decideSql } from '../services/policy/sql/decide.ts';
import { analyzeMysql, loadParser } from '../adapters/mysql/sql/analyze.ts';
import { mysqlCatalog } from '../adapters/mysql/sql/catalog.ts';
import { parseMysqlUrl } from '../adapters/mysql/upstream.ts';
import { explainInjection } from '../services/guards/index.ts';
import { CliError } from './client.ts';
import { printJson } from './output.ts';

export function policyCommands(program: Command) {
  const policy = program.command('policy').description('check a config, or ask what a token would be allowed');
  policy.command('check')
    .description('validate and lint a config: unknown keys, unknown connections, grants that can never match')
    .requiredOption('--config <file>', 'gatehouse.yaml')
    .option('--json', 'JSON output')
    .action((o: { config: string; json?: boolean }) => {
      let findings;
      try {
        const config = loadConfigFile(o.config);
        const text = readFileSync(o.config, 'utf8');
        findings = lintConfig(config).map((f) => ({ ...f, line: lineOfPath(text, f.path) }));
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        findings = err.problems.map((p) => ({ ...p, severity: 'error' as const }));
      }
      const errors = findings.filter((f) => f.severity === 'error').length;
      if (o.json) printJson({ ok: errors === 0, findings });
      else {
        for (const f of findings) process.stdout.write(`${o.config}: ${f.severity}: ${formatProblem(f)}\n`);
        process.stdout.write(errors ? `${errors} error(s), ${findings.length - errors} warning(s)\n` : `config ok${findings.length ? ` (${findings.length} warning(s))` : ''}\n`);
      }
      if (errors) process.exitCode = 1;
    });

  policy.command('explain')
    .description('would this role be allowed this SQL / HTTP request / LLM call / egress host on this connection, and by which grant? With --text: how the injection guard scores a text, and why')
    .option('--config <file>', 'gatehouse.yaml')
    .option('--role <role>', 'role name')
    .option('--connection <name>', 'connection name')
    .option('--text <text>', 'injection: the text to score (no config needed); "-" reads it from stdin')
    .option('--channel <channel>', 'injection: user (what a person typed, the default) or document (a tool result, a file, a row)')
    .option('--sql <statement>', 'postgres: SQL text (several statements allowed)')
    .option('--offline', 'postgres: do not read function volatility from the upstream (unknown functions are refused)')
    .option('--request <request>', 'http: "METHOD /path?query", e.g. "GET /invoices/42"')
    .option('--body <json>', 'http: the JSON body, for rules with body constraints')
    .option('--model <name>', 'llm: the model asked for')
    .option('--tool <names...>', 'llm: tool names offered to the model; mcp: the tool called (<server>__<tool>); filesystem: the tool called (read_file...)')
    .option('--args <json>', 'mcp, filesystem: the tool call\'s arguments as a JSON object')
    .option('--max-tokens <n>', 'llm: the max_tokens asked for')
    .option('--command <line>', 'redis: a command line, quoted as redis-cli quotes it, e.g. "DEL doc:1"')
    .option('--host <host>', 'egress: "host[:port]" (443 without a port), e.g. "api.github.com:443"')
    .option('--json', 'JSON output')
    .action(async (o: ExplainOptions) => {
      if (o.text !== undefined) return printInjection(o.text === '-' ? readFileSync(0, 'utf8') : o.text, o.channel, o.json);
      if (!o.config || !o.role || !o.connection) throw new CliError('--config, --role and --connection are required (or --text to score a text)', 2);
      const { role, connection: connectionName } = { role: o.role, connection: o.connection };
      const config = loadConfigFile(o.config);
      const connection = config.connections[o.connection];
      if (!connection) throw new CliError(`unknown connection "${o.connection}"`, 2);
      if (!config.roles[o.role]) throw new CliError(`unknown role "${o.role}"`, 2);
      const grant = config.roles[o.role][o.connection];
      if (connection.kind === 'http') {
        if (!o.request) throw new CliError('--request "METHOD /path" is required for http connections', 2);
        return printVerdicts([{ statement: o.request, verdict: explainHttp(o.request, grant as HttpGrant | undefined, o.role, o.connection, o.body) }], o.json);
      }
      if (connection.kind === 'llm') {
        if (!o.model) throw new CliError('--model is required for llm connections', 2);
        const maxTokens = o.maxTokens === undefined ? undefined : Number(o.maxTokens);
        const what = `${o.model}${o.tool?.length ? ` with tools ${o.tool.join(', ')}` : ''}${maxTokens !== undefined ? `, max_tokens ${maxTokens}` : ''}`;
        return printVerdicts([{ statement: what, verdict: explainLlm(grant as LlmGrant | undefined, o.role, o.connection, { model: o.model, tools: o.tool, maxTokens }) }], o.json);
      }
      if (connection.kind === 'redis') {
        if (!o.command) throw new CliError('--command "COMMAND arg..." is required for redis connections', 2);
        return printVerdicts([{ statement: o.command, verdict: await explainRedis(o.command, grant as RedisGrant | undefined, o.role, o.connection, connection) }], o.json);
      }
      if (connection.kind === 'mcp') {
        if (o.tool?.length !== 1) throw new CliError('--tool <server>__<tool> (one) is required for mcp connections', 2);
        return printVerdicts([{ statement: `${o.tool[0]} ${o.args ?? '{}'}`, verdict: explainMcp(grant as McpGrant | undefined, o.role, o.connection, Object.keys(connection.servers), o.tool[0], o.args) }], o.json);
      }
      if (connection.kind === 'filesystem') {
        if (o.tool?.length !== 1) throw new CliError('--tool <name> (one, e.g. read_file) is required for filesystem connections', 2);
        return printVerdicts([{ statement: `${o.tool[0]} ${o.args ?? '{}'}`, verdict: explainFs(grant as FilesystemGrant | undefined, o.role, o.connection, o.tool[0], o.args) }], o.json);
      }
      if (connection.kind === 'egress') {
        if (!o.host) throw new CliError('--host is required for egress connections', 2);
        const listening = [config.admin.listen, ...Object.values(config.connections).map((c) => c.listen)];
        const addresses = { allowPrivate: parseCidrs(connection.allow_private), isSelf: selfMatcher(() => listening) };
        return printVerdicts([{ statement: `CONNECT ${o.host}`, verdict: explainEgress(o.host, grant as EgressGrant | undefined, o.role, o.connection, addresses) }], o.json);
      }
      if (!o.sql) throw new CliError(`--sql is required for ${connection.kind} connections`, 2);
      if (connection.kind === 'mysql') {
        // Offline, as a MariaDB 10.11 session on the URL's database with the default sql_mode would read it.
        await loadParser();
        const { database } = parseMysqlUrl(connection.upstream, 'disable');
        const analysis = analyzeMysql(o.sql, {
          database, mode: { ansiQuotes: false, noBackslashEscapes: false }, server: { mariadb: true, version: 101100 }, caseSensitive: true, multiStatements: true,
        });
        const ctx = { role: o.role, connection: o.connection, grant: grant as SqlGrant | undefined, catalog: mysqlCatalog(database), prepared: new Map() };
        return printVerdicts(analysis.statements.map((statement) => ({
          statement: statement.text, kind: statement.kind, verdict: decideSql(statement, ctx),
        })), o.json);
      }
      const catalog = o.offline ? undefined : await upstreamCatalog(connection.upstream, connection.upstream_tls).catch((err: Error) => {
        process.stderr.write(`note: upstream catalog unavailable (${err.message}); judging offline\n`);
        return undefined;
      });
      const analysis = analyzeSql(o.sql);
      const prepared = new Map();
      printVerdicts(analysis.statements.map((statement) => ({
        statement: statement.text,
        kind: statement.kind,
        verdict: decideSql(statement, { role, connection: connectionName, grant: grant as SqlGrant | undefined, catalog: catalog ?? offlineCatalog(), prepared }),
      })), o.json);
    });
}

interface ExplainOptions {
  config?: string; role?: string; connection?: string; sql?: string; offline?: boolean; json?: boolean; text?: string; channel?: string;
  request?: string; body?: string; model?: string; tool?: string[]; maxTokens?: string; args?: string; command?: string; host?: string;
}

/** The injection guard's score of a text, its threshold, the view and window that scored, the features that drove it. */
function printInjection(text: string, channel: string | undefined, json?: boolean) {
  if (channel !== undefined && channel !== 'user' && channel !== 'document') throw new CliError('--channel is user or document', 2);
  const e = explainInjection(text, { source: channel ?? 'user' });
  if (json) printJson(e);
  else {
    process.stdout.write(`${e.flagged ? 'FLAGGED' : e.grey ? 'GREY   ' : 'CLEAN  '}  score ${e.score.toFixed(3)} (threshold ${e.threshold} on the ${e.channel} channel)${e.by ? `, by the ${e.by}` : ''}\n`);
    process.stdout.write(`         view: ${e.view}; window: ${JSON.stringify(e.window.length > 160 ? `${e.window.slice(0, 160)}…` : e.window)}\n`);
    if (e.rules.length) process.stdout.write(`         rules and signals: ${e.rules.join(', ')}\n`);
    process.stdout.write('         features (log-odds):\n');
    for (const f of e.features) process.stdout.write(`           ${f.weight >= 0 ? '+' : ''}${f.weight.toFixed(3)}  ${f.feature}\n`);
  }
  if (e.flagged) process.exitCode = 1;
}

/** One verdict per statement / request; exit code 1 unless all are allowed. */
function printVerdicts(results: { statement: string; kind?: string; verdict: Verdict }[], json?: boolean) {
  const allowed = results.every((r) => r.verdict.kind === 'allow');
  if (json) printJson({ allowed, statements: results });
  else {
    for (const r of results) {
      const v = r.verdict;
      process.stdout.write(`${v.kind.toUpperCase()}  ${r.statement.replace(/\s+/g, ' ')}\n`);
      if (v.kind === 'allow') process.stdout.write(`       by ${v.grant}${Object.keys(v.obligations).length ? `; obligations: ${JSON.stringify(v.obligations)}` : ''}\n`);
      else if (v.kind === 'deny') process.stdout.write(`       ${v.message} [${v.rule}]\n`);
      else process.stdout.write(`       held for approval: ${v.reason} (grant ${v.grant})\n`);
    }
  }
  if (!allowed) process.exitCode = 1;
}

async function upstreamCatalog(url: string, tls: 'disable' | 'prefer' | 'require'): Promise<SqlCatalog> {
  const t = parseUpstreamUrl(url, tls);
  const client = new pg.Client({ host: t.host, port: t.port, user: t.user, password: t.password, database: t.database, connectionTimeoutMillis: 5000, ssl: tls === 'require' ? { rejectUnauthorized: false } : false });
  await client.connect();
  try {
    return await loadCatalog(async (sql) => (await client.query(sql)).rows as Record<string, unknown>[]);
  } finally {
    await client.end();
  }
}
