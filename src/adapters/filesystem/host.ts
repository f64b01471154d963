// What one agent session reaches in a served directory: the tools its grant makes sense for, each call planned, judged, then run.
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { FilesystemGrant } from '../../config/schema.ts';
import type { ContentGuards, GuardPolicy } from '../../pipeline/content-guards.ts';
import { canonicalJson } from '../kit/mcp/canonical.ts';
import type { HostSession } from '../kit/mcp/session.ts';
import { FsError, type Jail } from './jail.ts';
import { runCall } from './operations.ts';
import { planCall, type Plan, type Planned } from './plan.ts';
import { decideFsCall, toolAllowed, type CompiledFsGrant, type FsCallFacts } from './policy.ts';
import { isTool, NEEDS, TOOL_LIST, type ToolName } from './tools.ts';

export interface FsHostContext {
  connection: string;
  jail: Jail;
  grant: FilesystemGrant;
  compiled: CompiledFsGrant;
  guards: ContentGuards;
}

const INJECTION_ONLY: GuardPolicy = { injection: 'flag', secrets: 'off', pii: 'off' };
/** Lines named per file when a read carries instructions aimed at a model. */
const MAX_FLAGGED_LINES = 20;
const READ_ONLY = new Set<ToolName>(['read_file', 'list_directory', 'search_files', 'get_file_info', 'list_allowed_directories']);

export function openFsHost(ctx: FsHostContext): HostSession {
  const { jail, compiled, connection } = ctx;
  /** Each judged call's plan, until it runs: the kit hands the same arguments object to askCall and callTool. */
  const planned = new WeakMap<object, Plan>();
  let found: Record<string, unknown[]> = {};

  return {
    capabilities: { tools: {} },
    guards: ctx.grant.guards,
    notes() {
      const out = found;
      found = {};
      return out;
    },

    async listTools() {
      return (Object.keys(TOOL_LIST) as ToolName[]).filter((t) => toolAllowed(compiled, NEEDS[t])).map((t) => TOOL_LIST[t]);
    },

    async askCall(name, args, shown) {
      const known = isTool(name);
      let p: Planned = { uses: [] };
      if (known) {
        try {
          p = await planCall(jail, name, args);
        } catch (err) {
          const e = asFsError(err);
          p = { uses: [], problem: { stage: 'disk', rule: e.rule, message: e.message } };
        }
      }
      if (p.plan) planned.set(args, p.plan);
      const paths = [...new Set(p.uses.map((u) => (u.real === u.path ? u.path : `${u.path} → ${u.real}`) || '.'))];
      const facts: FsCallFacts = {
        protocol: 'mcp', connection, effect: known && READ_ONLY.has(name) ? 'read' : 'write', tool: name, known,
        uses: p.uses, writing: p.writing, problem: p.problem,
        summary: `${name} ${paths.length ? paths.slice(0, 4).join(', ') + (paths.length > 4 ? ` and ${paths.length - 4} more` : '') : shown.slice(0, 200)}`,
        // The audit names the paths actually touched: where each name really led.
        targets: [...new Map(p.uses.map((u) => [`${u.access} ${u.real}`, { kind: 'path' as const, name: u.real || '.', access: u.access }])).values()],
      };
      // Same tool, same arguments, same token: that is what an approval lets through.
      return { facts, policy: (f) => decideFsCall(f as FsCallFacts, compiled, known ? NEEDS[name] : undefined), exact: `tools/call ${name} ${canonicalJson(args)}` };
    },

    async callTool(name, args): Promise<CallToolResult> {
      const plan = planned.get(args);
      if (!plan) throw new FsError('fs.error', `${name} was not judged before it ran`);
      planned.delete(args);
      let result: CallToolResult;
      try {
        result = await runCall({ jail, grant: compiled }, plan);
      } catch (err) {
        throw asFsError(err);
      }
      if (plan.tool === 'read_file' && ctx.grant.guards.injection !== 'off') {
        const flagged = injectionLines(ctx.guards, (result.content[0] as { text: string }).text);
        if (flagged.length) (found.injection ??= []).push({ path: plan.targets.path.resolved.real.join('/'), lines: flagged });
      }
      return result;
    },

    async close() {},
  };
}

/** The lines of a read file that carry instructions aimed at a model (scanned line by line only when the whole does). */
function injectionLines(guards: ContentGuards, text: string): { line: number; rules: string[] }[] {
  if (!guards.scan(text, INJECTION_ONLY, 'document').notes.length) return [];
  const out: { line: number; rules: string[] }[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length && out.length < MAX_FLAGGED_LINES; i++) {
    const notes = guards.scan(lines[i], INJECTION_ONLY, 'document').notes;
    if (notes.length) out.push({ line: i + 1, rules: [...new Set(notes.flatMap((n) => n.types))] });
  }
  return out;
}

const ERRNO: Record<string, [string, string]> = {
  ENOENT: ['fs.not_found', 'no such file or directory'],
  EACCES: ['fs.permission', 'the gateway itself may not access this path'],
  EPERM: ['fs.permission', 'the operation is not permitted on this path'],
  ENOTEMPTY: ['fs.not_empty', 'the directory is not empty'],
  EEXIST: ['fs.exists', 'the destination exists'],
  ENOTDIR: ['fs.not_directory', 'a segment of the path is not a directory'],
  EISDIR: ['fs.is_directory', 'the path is a directory'],
  EXDEV: ['fs.cross_device', 'the move would cross a mount point'],
  ENOSPC: ['fs.no_space', 'the disk is full'],
  ENAMETOOLONG: ['fs.path', 'the name is too long'],
  ELOOP: ['fs.changed', 'a path changed into a symbolic link while it was used; nothing was done'],
};

/** Errors as the agent is told them: a rule and a message, never the gateway's own descriptor paths. */
function asFsError(err: unknown): FsError {
  if (err instanceof FsError) return err;
  const known = ERRNO[(err as NodeJS.ErrnoException).code ?? ''];
  return known ? new FsError(known[0], known[1]) : new FsError('fs.error', `the operation failed (${(err as NodeJS.ErrnoException).code ?? 'unexpected error'})`);
}
