// Filesystem policy: which paths a grant lets a token read, write or delete; deny wins; what waits for a human.
import type { FilesystemGrant } from '../../config/schema.ts';
import { compileApprovals, pathGlob, type ApproveMatcher } from '../../pipeline/approve.ts';
import type { Facts } from '../../services/policy/facts.ts';
import { allow, deny, hold, type Verdict } from '../../services/policy/verdict.ts';
import { checkPath, folded } from './paths.ts';
import { isTool, NEEDS, toolArgs, type Access } from './tools.ts';

/** One path a call touches: as the agent named it, and where it really leads (symbolic links resolved). */
export interface PathUse {
  access: Access;
  path: string;
  real: string;
}

export interface FsCallFacts extends Facts {
  tool: string;
  /** False when no tool of this name exists. */
  known: boolean;
  uses: PathUse[];
  /** Bytes a write would put in a file. */
  writing?: number;
  /** What is wrong with a path: as text (`text`, judged first) or on disk (`disk`, judged after the grant on the names given). */
  problem?: { stage: 'text' | 'disk'; rule: string; message: string };
}

interface Rule { text: string; test: (path: string) => boolean }

export interface CompiledFsGrant {
  read: Rule[];
  write: Rule[];
  delete: Rule[];
  deny: Rule[];
  approve: ApproveMatcher;
  maxFileSize: number;
}

/** Compiles a grant once at start-up; a glob that is absolute, climbs with `..` or misuses `**` stops the start. */
export function compileFsGrant(grant: FilesystemGrant): CompiledFsGrant {
  const rules = (key: string, list: string[], fold = false) => list.map((text, i): Rule => {
    const checked = checkPath(text);
    if (!checked.ok) throw new Error(`${key}.${i} "${text}": ${checked.why}`);
    const plain = pathGlob(text);
    if (!fold) return { text, test: plain };
    // Deny is matched on the name as given and on its folded spelling (case, full-width forms): any variant is refused.
    const loose = pathGlob(folded(text));
    return { text, test: (p) => plain(p) || loose(folded(p)) };
  });
  return {
    read: rules('read', grant.read),
    write: rules('write', grant.write),
    delete: rules('delete', grant.delete),
    deny: rules('deny', grant.deny, true),
    approve: compileApprovals(grant.approve, { verbs: ['read', 'write', 'delete'], bare: 'target', glob: pathGlob }),
    maxFileSize: grant.max_file_size,
  };
}

const covering = (rules: Rule[], path: string) => rules.find((r) => r.test(path))?.text;

/** The grant rule letting `access` reach `path`, if any. Listing a directory (or its details) needs read or write on it. */
export function granted(g: CompiledFsGrant, access: Access, path: string): string | undefined {
  if (access === 'list') return covering(g.read, path) ?? covering(g.write, path);
  return covering(g[access], path);
}

export const denied = (g: CompiledFsGrant, path: string) => covering(g.deny, path);

/** Whether a name found inside a granted directory is shown to the agent: not denied, and readable or writable. */
export const visible = (g: CompiledFsGrant, path: string) => !denied(g, path) && granted(g, 'list', path) !== undefined;

/** Tools a grant makes sense for: the others are neither listed nor callable. */
export function toolAllowed(g: CompiledFsGrant, needs: readonly Access[]): boolean {
  return needs.every((a) => (a === 'list' ? g.read.length + g.write.length > 0 : g[a].length > 0));
}

const shown = (p: string) => (p === '' ? '. (the root)' : p);

function judgePath(g: CompiledFsGrant, access: Access, path: string, asked?: string): Verdict | undefined {
  const via = asked !== undefined && asked !== path ? `"${shown(asked)}" leads to "${shown(path)}", which ` : `"${shown(path)}": `;
  const rule = denied(g, path);
  if (rule) return deny('fs.deny', `${via}deny rule "${rule}" covers it`);
  if (!granted(g, access, path)) {
    const needs = access === 'list' ? 'read or write' : access;
    return deny(`fs.${access === 'list' ? 'read' : access}`, `${via}no ${needs} grant covers it`);
  }
  return undefined;
}

/**
 * A call: text problems first, then the names as given (so nothing about ungranted places is revealed), then what was
 * found on disk, then where the names really lead; deny wins at every step; sizes; finally approvals.
 */
export function decideFsCall(facts: FsCallFacts, g: CompiledFsGrant, needs: readonly Access[] | undefined): Verdict {
  if (!facts.known || !needs) return deny('fs.tool.unknown', `no tool "${facts.tool}" on connection "${facts.connection}"`);
  if (!toolAllowed(g, needs)) return deny('fs.tool.ungranted', `the grant allows no ${needs.join(' and ')} for ${facts.tool}`);
  if (facts.problem?.stage === 'text') return deny(facts.problem.rule, facts.problem.message);
  for (const use of facts.uses) {
    const refused = judgePath(g, use.access, use.path);
    if (refused) return refused;
  }
  if (facts.problem) return deny(facts.problem.rule, facts.problem.message);
  for (const use of facts.uses) {
    const refused = use.real !== use.path ? judgePath(g, use.access, use.real, use.path) : undefined;
    if (refused) return refused;
  }
  if (facts.writing !== undefined && facts.writing > g.maxFileSize) {
    return deny('fs.max_file_size', `the content is ${facts.writing} bytes, over the grant's max_file_size of ${g.maxFileSize}`);
  }
  const grants = [...new Set(facts.uses.map((u) => granted(g, u.access, u.real)!))];
  for (const use of facts.uses) {
    const approval = g.approve(use.access === 'list' ? 'read' : use.access, use.real);
    if (approval) return hold(grants.join(', '), `approve rule "${approval}"`);
  }
  return allow(grants.join(', ') || facts.tool);
}

/**
 * `policy explain --tool read_file --args '{"path":"docs/a.md"}'`: the verdict a role's grant gives one call, judged on
 * the names as given (offline: symbolic links and what is on disk are judged when the call is made).
 */
export function explainFs(grant: FilesystemGrant | undefined, role: string, connection: string, tool: string, args = '{}'): Verdict {
  if (!grant) return deny('grant.none', `role "${role}" has no grant on connection "${connection}"`);
  let parsed: unknown;
  try { parsed = JSON.parse(args); } catch { return deny('request.syntax', '--args is not valid JSON'); }
  const facts: FsCallFacts = { protocol: 'mcp', connection, effect: 'read', summary: tool, targets: [], tool, known: isTool(tool), uses: [] };
  if (isTool(tool)) {
    const checked = toolArgs[tool].safeParse(parsed);
    if (!checked.success) return deny('fs.args', `invalid arguments for ${tool}: ${checked.error.issues.map((i) => i.message).join('; ')}`);
    const a = checked.data as Record<string, unknown>;
    const access = (name: string, how: Access) => {
      const path = checkPath(a[name]);
      if (!path.ok) facts.problem ??= { stage: 'text', rule: 'fs.path', message: `"${String(a[name])}" is refused: ${path.why}` };
      else facts.uses.push({ access: how, path: path.path, real: path.path });
    };
    if (tool === 'move_file') { access('source', 'delete'); access('destination', 'write'); }
    else if (tool !== 'list_allowed_directories') for (const how of NEEDS[tool]) access('path', how);
    if (tool === 'write_file') facts.writing = Buffer.byteLength(String(a.content));
  }
  return decideFsCall(facts, compileFsGrant(grant), isTool(tool) ? NEEDS[tool] : undefined);
}
