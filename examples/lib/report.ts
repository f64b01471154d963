// After a run: what Gatehouse recorded for it — its sessions (one per step and connection) and each replayed, as the CLI shows them.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { renderReplay } from '../../src/cli/sessions.ts';
import type { AuditRecord, SessionRecord } from '../../src/services/store/store.ts';
import { adminFromEnv, call, type Admin } from './env.ts';

/** The sessions Gatehouse grouped under a LangChain run id, oldest first. */
export async function sessionsOfRun(admin: Admin, runId: string): Promise<SessionRecord[]> {
  const { sessions } = await call<{ sessions: SessionRecord[] }>(admin, 'GET', `/v1/sessions?run=${encodeURIComponent(runId)}`);
  return sessions.sort((a, b) => a.startedAt - b.startedAt);
}

/** Prints the run's sessions and their replays; without an admin key, the commands that would. */
export async function printRun(runId: string, out: (line: string) => void = console.log) {
  const admin = adminFromEnv();
  if (!admin) {
    out(`\nWhat Gatehouse recorded for this run:\n  npx gatehouse sessions list --run ${runId}\n  npx gatehouse replay <session id>`);
    return;
  }
  const sessions = await sessionsOfRun(admin, runId);
  out(`\n$ npx gatehouse sessions list --run ${runId}`);
  for (const s of sessions) out(`  ${s.id}  ${s.label.padEnd(8)} ${s.role.padEnd(15)} ${s.connection.padEnd(8)} step ${s.step ?? '-'}`);
  for (const s of sessions) {
    const { session, events } = await call<{ session: SessionRecord; events: AuditRecord[] }>(admin, 'GET', `/v1/sessions/${s.id}`);
    out(`\n$ npx gatehouse replay ${s.id}\n${renderReplay(session, events, 3).trimEnd()}`);
  }
}

/** An agent's conversation, one line per message: tool calls, tool results (errors marked), the answer. */
export function printMessages(messages: { type?: string; getType?: () => string; content: unknown; tool_calls?: { name: string; args: unknown }[]; status?: string; name?: string }[], out: (line: string) => void = console.log) {
  for (const m of messages) {
    const type = m.getType?.() ?? m.type;
    const text = typeof m.content === 'string' ? m.content : JSON.stringify(m.content);
    if (type === 'human') out(`  user:  ${text}`);
    else if (type === 'ai' && m.tool_calls?.length) for (const c of m.tool_calls) out(`  model: calls ${c.name} ${JSON.stringify(c.args)}`);
    else if (type === 'ai') out(`  model: ${text}`);
    else if (type === 'tool') out(`  tool ${m.name}${m.status === 'error' ? ' FAILED' : ''}: ${text.replace(/\s+/g, ' ').slice(0, 240)}`);
  }
}

/** True when this module is the script being run (`npx tsx examples/x.ts`), not imported by a test. */
export const isMain = (url: string) => process.argv[1] !== undefined && url === pathToFileURL(resolve(process.argv[1])).href;

/** Runs an example's `main` when the file is the script being run; a failure prints its message and exits non-zero. */
export function main(url: string, fn: () => Promise<void>) {
  if (!isMain(url)) return;
  fn().catch((err: Error) => {
    console.error(`error: ${err.message}`);
    process.exitCode = 1;
  });
}
