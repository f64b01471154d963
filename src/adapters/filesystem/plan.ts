// What a tool call would touch, found before it is judged: its arguments checked, every path resolved under the root.
import { FsError, type Jail, type Resolved } from './jail.ts';
import { checkPath } from './paths.ts';
import type { FsCallFacts, PathUse } from './policy.ts';
import { toolArgs, type ArgsOf, type ToolName } from './tools.ts';
import { subtree } from './tree.ts';

/** One path argument: its segments as given, and where they led when the call was judged. */
export interface Target {
  segments: string[];
  follow: boolean;
  resolved: Resolved;
}

/** A judged call, kept until it runs: the use re-walks every path and refuses if one now leads elsewhere. */
export interface Plan {
  tool: ToolName;
  args: ArgsOf<ToolName>;
  targets: Record<string, Target>;
  /** What lay below a moved directory when the move was judged (the use refuses if it differs). */
  below?: string[];
}

export type Planned = Pick<FsCallFacts, 'uses' | 'writing' | 'problem'> & { plan?: Plan };

/** The most entries a directory move may carry: each is judged on its own (delete there, write here). */
export const MAX_MOVE_ENTRIES = 1000;

const text = (rule: string, message: string): Planned => ({ uses: [], problem: { stage: 'text', rule, message } });

export async function planCall(jail: Jail, tool: ToolName, raw: Record<string, unknown>): Promise<Planned> {
  const parsed = toolArgs[tool].safeParse(raw);
  if (!parsed.success) return text('fs.args', `invalid arguments for ${tool}: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'arguments'}: ${i.message}`).join('; ')}`);
  const args = parsed.data as Record<string, unknown>;
  const names = tool === 'move_file' ? ['source', 'destination'] : tool === 'list_allowed_directories' ? [] : ['path'];
  const targets: Record<string, Target> = {};
  const segmentsOf: Record<string, string[]> = {};
  for (const name of names) {
    const checked = checkPath(args[name]);
    if (!checked.ok) return text('fs.path', `"${String(args[name])}" is refused: ${checked.why}`);
    segmentsOf[name] = checked.segments;
  }
  // The last segment of what is deleted or moved is the link itself, not where it points.
  const follow = tool !== 'delete_file' && tool !== 'move_file';
  const uses: PathUse[] = [];
  const plan: Plan = { tool, args: args as ArgsOf<ToolName>, targets };
  const named = (name: string) => segmentsOf[name].join('/');
  let problem: FsCallFacts['problem'];
  try {
    for (const name of names) targets[name] = { segments: segmentsOf[name], follow, resolved: await jail.resolve(segmentsOf[name], follow) };
  } catch (err) {
    if (!(err instanceof FsError)) throw err;
    problem = { stage: 'disk', rule: err.rule, message: err.message };
  }
  const real = (name: string) => targets[name]?.resolved.real.join('/') ?? named(name);
  const use = (access: PathUse['access'], name: string) => uses.push({ access, path: named(name), real: real(name) });
  const disk = (rule: string, message: string) => { problem ??= { stage: 'disk', rule, message }; };
  const kind = (name: string) => targets[name]?.resolved;

  switch (tool) {
    case 'read_file':
    case 'edit_file':
    case 'write_file': {
      if (tool !== 'write_file') use('read', 'path');
      if (tool !== 'read_file') use('write', 'path');
      const r = kind('path');
      if (r) fileProblem(r, real('path'), disk);
      if (r && tool === 'write_file' && r.kind === 'missing' && r.existing < r.real.length - 1) disk('fs.not_found', `the directory of "${real('path')}" does not exist (create_directory first)`);
      break;
    }
    case 'list_directory':
    case 'search_files':
    case 'get_file_info':
      use('list', 'path');
      if (tool !== 'get_file_info' && kind('path') && kind('path')!.kind !== 'directory' && kind('path')!.kind !== 'missing') disk('fs.not_directory', `"${real('path')}" is not a directory`);
      break;
    case 'create_directory': {
      use('write', 'path');
      const r = kind('path');
      // Every directory that would be created is written, each judged on its own.
      if (r) for (let i = r.existing + 1; i < r.real.length; i++) uses.push({ access: 'write', path: r.real.slice(0, i).join('/'), real: r.real.slice(0, i).join('/') });
      if (r && r.kind !== 'missing' && r.kind !== 'directory') disk('fs.exists', `"${real('path')}" exists and is not a directory`);
      break;
    }
    case 'delete_file': {
      use('delete', 'path');
      const r = kind('path');
      if (r?.kind === 'directory') disk('fs.is_directory', `"${real('path')}" is a directory; delete_file removes files only`);
      else if (r && r.kind !== 'symlink') fileProblem(r, real('path'), disk);
      break;
    }
    case 'move_file': {
      use('delete', 'source');
      use('write', 'destination');
      const src = kind('source');
      const dst = kind('destination');
      if (dst && dst.kind !== 'missing') disk('fs.exists', `the destination "${real('destination')}" exists; move_file does not replace`);
      else if (dst && dst.existing < dst.real.length - 1) disk('fs.not_found', `the directory of "${real('destination')}" does not exist`);
      if (src?.kind === 'directory' && !problem) {
        // What is below a moved directory moves too: each entry needs delete where it is and write where it goes.
        const below = await subtree(jail, targets.source.segments, MAX_MOVE_ENTRIES + 1);
        if (below.length > MAX_MOVE_ENTRIES) disk('fs.move_too_large', `"${real('source')}" holds more than ${MAX_MOVE_ENTRIES} entries; move smaller directories`);
        plan.below = below;
        for (const rel of below.slice(0, MAX_MOVE_ENTRIES)) {
          uses.push({ access: 'delete', path: `${named('source')}/${rel}`, real: `${real('source')}/${rel}` });
          uses.push({ access: 'write', path: `${named('destination')}/${rel}`, real: `${real('destination')}/${rel}` });
        }
      } else if (src && src.kind !== 'symlink' && src.kind !== 'missing') fileProblem(src, real('source'), disk);
      break;
    }
    case 'list_allowed_directories':
      break;
  }
  const writing = tool === 'write_file' ? Buffer.byteLength((args as ArgsOf<'write_file'>).content) : undefined;
  return { uses, problem, writing, plan };
}

/** Special files and files with several hard links are never read, replaced or removed. */
function fileProblem(r: Resolved, shown: string, disk: (rule: string, message: string) => void) {
  if (r.kind === 'special') disk('fs.special', `"${shown}" is not a regular file (a device, FIFO or socket); it is never opened`);
  else if (r.kind === 'directory') disk('fs.is_directory', `"${shown}" is a directory`);
  else if (r.kind === 'file' && r.stat && r.stat.nlink > 1) disk('fs.links', `"${shown}" has ${r.stat.nlink} hard links (the same bytes under other names); such files are refused`);
}
