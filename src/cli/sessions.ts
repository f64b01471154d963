// `gatehouse sessions list` and `gatehouse replay <session>`: what each agent did, as it saw it.
import type { Command } from 'commander';
import type { AuditRecord, SessionRecord } from '../services/store/store.ts';
import { adminClient } from './client.ts';
import { printJson, printTable, time } from './output.ts';

const REPLAY_ROWS = 5;

export function sessionCommands(program: Command) {
  const sessions = program.command('sessions').description('list agent sessions');
  sessions.command('list')
    .description('sessions, newest first')
    .option('--token <id>', 'only this token')
    .option('--connection <name>', 'only this connection')
    .option('--run <id>', 'only this LangChain run')
    .option('--live', 'only sessions still open')
    .option('--limit <n>', 'how many', '50')
    .option('--config <file>', 'gateway config')
    .option('--json', 'JSON output')
    .action(async (o: { token?: string; connection?: string; run?: string; live?: boolean; limit: string; config?: string; json?: boolean }) => {
      const q = new URLSearchParams({ limit: o.limit });
      if (o.token) q.set('token', o.token);
      if (o.connection) q.set('connection', o.connection);
      if (o.run) q.set('run', o.run);
      if (o.live) q.set('live', 'true');
      const { sessions: list } = await adminClient(o).get<{ sessions: SessionRecord[] }>(`/v1/sessions?${q}`);
      if (o.json) return printJson(list);
      printTable(list.map((s) => ({ ...s, started: time(s.startedAt), ended: s.endedAt ? time(s.endedAt) : 'live', run: s.runId, reason: s.endReason })),
        ['id', 'label', 'role', 'connection', 'run', 'step', 'started', 'ended', 'reason']);
    });

  program.command('replay <session>')
    .description('print a session as the agent saw it: statements, verdicts, result rows (capped), timings')
    .option('--rows <n>', 'result rows to show per statement', String(REPLAY_ROWS))
    .option('--config <file>', 'gateway config')
    .option('--json', 'JSON output')
    .action(async (id: string, o: { rows: string; config?: string; json?: boolean }) => {
      const data = await adminClient(o).get<{ session: SessionRecord; events: AuditRecord[] }>(`/v1/sessions/${encodeURIComponent(id)}`);
      if (o.json) return printJson(data);
      process.stdout.write(renderReplay(data.session, data.events, Number(o.rows)));
    });
}

interface StatementResult { tag?: string; rows: number; dropped?: number; error?: string; columns?: string[]; sample?: (string | null)[][] }

export function renderReplay(s: SessionRecord, events: AuditRecord[], maxRows = REPLAY_ROWS): string {
  const out: string[] = [`session ${s.id}  ${s.label} (role ${s.role}) on ${s.connection} from ${s.client}${s.runId ? `  run ${s.runId}` : ''}${s.step ? ` step ${s.step}` : ''}`,
    `started ${time(s.startedAt)}, ${s.endedAt ? `ended ${time(s.endedAt)} (${s.endReason})` : 'still open'}`, ''];
  const results = new Map<number, AuditRecord>();
  for (const e of events) if (e.kind === 'result' && typeof e.data.request === 'number') results.set(e.data.request, e);
  for (const e of events) {
    const at = `+${((e.ts - s.startedAt) / 1000).toFixed(3)}s`;
    if (e.kind === 'request') {
      out.push(`${at}  ${(e.verdict ?? '').toUpperCase().padEnd(5)}  ${String(e.data.summary).replace(/\s+/g, ' ')}`);
      if (e.verdict !== 'allow') out.push(`          ${e.data.message ?? e.data.reason ?? ''}`);
      const r = results.get(e.seq);
      if (r) out.push(...renderResult(r.data, maxRows));
    } else if (e.kind !== 'result') {
      out.push(`${at}  ${e.kind}${e.data.reason ? `: ${e.data.reason}` : ''}`);
    }
  }
  return out.join('\n') + '\n';
}

function renderResult(data: Record<string, unknown>, maxRows: number): string[] {
  if (data.protocol === 'http' || data.protocol === 'llm' || data.protocol === 'mcp' || data.protocol === 'egress') return renderExchange(data);
  const statements = (data.statements as StatementResult[] | undefined) ?? [data as unknown as StatementResult];
  const lines: string[] = [];
  for (const st of statements) {
    if (st.error) { lines.push(`          error: ${st.error}`); continue; }
    lines.push(`          ${st.tag ?? ''} — ${st.rows} row(s)${st.dropped ? `, ${st.dropped} withheld by max_rows` : ''}${data.ms !== undefined ? `, ${data.ms} ms` : ''}`);
    if (st.columns?.length && st.sample?.length) {
      lines.push(`          | ${st.columns.join(' | ')} |`);
      for (const row of st.sample.slice(0, maxRows)) lines.push(`          | ${row.map((c) => c ?? 'NULL').join(' | ')} |`);
      if (st.rows > Math.min(maxRows, st.sample.length)) lines.push(`          ... ${st.rows - Math.min(maxRows, st.sample.length)} more`);
    }
  }
  return lines;
}

const COMPLETION_PREVIEW = 300;

/** An HTTP, LLM, MCP or egress outcome: status (or where a tunnel went), size or token usage, timing, masking, and the completion or tool output the agent saw. */
function renderExchange(d: Record<string, unknown>): string[] {
  const parts: string[] = [String(d.status ?? d.tag ?? '-')];
  const usage = d.usage as { input: number; output: number; estimated?: boolean } | undefined;
  if (usage) parts.push(`${usage.input} prompt + ${usage.output} completion tokens${usage.estimated ? ' (estimated)' : ''}`);
  else if (d.bytes !== undefined) parts.push(`${d.bytes} bytes`);
  const tail: string[] = [];
  if (d.ms !== undefined) tail.push(`${d.ms} ms`);
  if (d.masked) tail.push(`${d.masked} value(s) masked`);
  const guards = d.guards as { guard: string; mode: string; types: string[]; count: number }[] | undefined;
  if (guards?.length) tail.push(guards.map((g) => `${g.guard} ${g.mode}: ${g.types.join('/')}`).join('; '));
  const budget = d.budget as { spent: number; limit: number } | undefined;
  if (budget) tail.push(`budget ${budget.spent}/${budget.limit}`);
  const lines = [`          ${parts.join(' — ')}${tail.length ? `, ${tail.join(', ')}` : ''}`];
  if (d.error) lines.push(`          error: ${d.error}`);
  const shown = d.completion ?? d.output;
  if (typeof shown === 'string' && shown) {
    const text = shown.replace(/\s+/g, ' ');
    lines.push(`          > ${text.slice(0, COMPLETION_PREVIEW)}${text.length > COMPLETION_PREVIEW ? '…' : ''}`);
  } else if (typeof d.completionSha256 === 'string') lines.push(`          > completion sha256 ${d.completionSha256}`);
  return lines;
}
