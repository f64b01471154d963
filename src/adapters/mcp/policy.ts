// MCP policy: which tools, resources and prompts a grant covers, whether a call's arguments hold, and whether it waits for a human.
import type { McpGrant } from '../../config/schema.ts';
import { compileApprovals, nameGlob, type ApproveMatcher } from '../../pipeline/approve.ts';
import type { Facts } from '../../services/policy/facts.ts';
import { allow, deny, hold, type Verdict } from '../../services/policy/verdict.ts';
import { compileFields, fieldsProblem, type FieldRule } from '../../services/policy/constraints.ts';

/** The separator between a server's name and its tool's (LLM function names reject dots). */
export const SEPARATOR = '__';

export interface ToolCallFacts extends Facts {
  /** The exposed name, `<server>__<tool>`. */
  tool: string;
  /** The parsed arguments, exactly as they will be forwarded. */
  args: Record<string, unknown>;
  /** False when no visible tool has this name (it does not exist, or its change awaits a person). */
  known: boolean;
}

interface NameRule { text: string; test: (name: string) => boolean }
interface CallRule extends NameRule { args?: FieldRule[] }

export interface CompiledMcpGrant {
  call: CallRule[];
  /** The shared `approve:` grammar: `"<tool glob>"` or `"call <tool glob>"`. */
  approve: ApproveMatcher;
  resources: NameRule[];
  prompts: NameRule[];
}

/** Compiles a grant once at start-up; a bad glob, path or regex stops the start, not the first call. */
export function compileMcpGrant(grant: McpGrant, servers: string[]): CompiledMcpGrant {
  const named = (text: string): NameRule => ({ text, test: nameGlob(exposedName(text, servers)) });
  const uri = (text: string): NameRule => {
    const re = uriGlob(text);
    return { text, test: (u) => re.test(u) };
  };
  return {
    call: grant.call.map((rule) => typeof rule === 'string'
      ? named(rule)
      : { ...named(rule.tool), ...(Object.keys(rule.args).length ? { args: compileFields(rule.args, 'json') } : {}) }),
    approve: compileApprovals(grant.approve, { verbs: ['call'], bare: 'target', glob: (glob) => nameGlob(exposedName(glob, servers)) }),
    resources: grant.resources.map(uri),
    prompts: grant.prompts.map(named),
  };
}

/** Grants may spell `<server>.<tool>` (the configuration contract's first form): it means `<server>__<tool>`. */
function exposedName(text: string, servers: string[]): string {
  const dot = text.indexOf('.');
  return dot > 0 && servers.includes(text.slice(0, dot)) ? `${text.slice(0, dot)}${SEPARATOR}${text.slice(dot + 1)}` : text;
}

export const mayCall = (g: CompiledMcpGrant, tool: string) => g.call.some((r) => r.test(tool));
/** The prompt rule that covers `prompt`, if any. */
export const promptRule = (g: CompiledMcpGrant, prompt: string) => g.prompts.find((r) => r.test(prompt))?.text;
/** The resource rule that covers `uri`, if any; an ambiguous URI is covered by none. */
export const resourceRule = (g: CompiledMcpGrant, uri: string) => (ambiguousUri(uri) === undefined ? g.resources.find((r) => r.test(uri))?.text : undefined);

/**
 * Whether to list a resource template: when its fixed prefix and some resource rule's could describe the same URIs.
 * Listing is a courtesy; every read is judged on its own URI.
 */
export function mayListTemplate(g: CompiledMcpGrant, uriTemplate: string): boolean {
  const prefix = uriTemplate.split('{')[0];
  return g.resources.some((r) => {
    const fixed = r.text.split('*')[0];
    return fixed.startsWith(prefix) || prefix.startsWith(fixed);
  });
}

/** What asking for a resource or prompt means: unknown and ungranted are refused alike. */
export function decideNamed(kind: 'resource' | 'prompt', name: string, known: boolean, rule: string | undefined): Verdict {
  if (!known) return deny(`mcp.${kind}.unknown`, `no visible ${kind} "${name}"`);
  if (!rule) return deny(`mcp.${kind}.ungranted`, `no ${kind}s rule covers "${name}"`);
  return allow(rule);
}

/**
 * A tool call: unknown and ungranted tools are refused alike (the agent is told the same, so existence is not
 * revealed); a granted tool must satisfy the argument constraints of at least one rule naming it.
 */
export function decideToolCall(facts: ToolCallFacts, g: CompiledMcpGrant): Verdict {
  const { tool } = facts;
  if (!facts.known) return deny('mcp.tool.unknown', `no visible tool "${tool}" on connection "${facts.connection}"`);
  const candidates = g.call.filter((r) => r.test(tool));
  if (candidates.length === 0) return deny('mcp.tool.ungranted', `no call rule covers tool "${tool}"`);
  const problems: string[] = [];
  let matched: CallRule | undefined;
  for (const rule of candidates) {
    const problem = rule.args && fieldsProblem(facts.args, rule.args, 'argument');
    if (!problem) { matched = rule; break; }
    problems.push(`"${rule.text}" requires ${problem}`);
  }
  if (!matched) return deny('mcp.args', `${tool} is not allowed with these arguments: ${problems.join('; ')}`);
  const approval = g.approve('call', tool);
  if (approval) return hold(approval, `approve rule "${approval}"`);
  return allow(matched.text);
}

const escape = (s: string) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');

/** Resource URIs: `**` any characters, `*` any within one `/` segment. */
function uriGlob(glob: string): RegExp {
  const why = ambiguousUri(glob.replace(/\*/g, 'x'));
  if (why) throw new Error(`resource glob "${glob}": ${why}`);
  return new RegExp(`^${glob.split('**').map((part) => part.split('*').map(escape).join('[^/]*')).join('.*')}$`);
}

/**
 * Why a URI cannot be matched against a glob safely, or undefined. `docs/../secrets` or an encoded slash would match
 * `docs/**` as text while the server reads elsewhere, so such URIs are refused rather than interpreted.
 */
export function ambiguousUri(uri: string): string | undefined {
  if (/[\u0000-\u001f\u007f\\]/.test(uri)) return 'control characters and backslashes are not accepted';
  if (/%(2e|2f|5c|00)/i.test(uri)) return 'encoded dots, slashes, backslashes or NUL are not accepted';
  const path = uri.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '').split(/[?#]/)[0];
  if (path.split('/').some((s) => s === '.' || s === '..')) return '"." and ".." segments are not accepted';
  return undefined;
}

/** `policy explain --tool <server>__<tool> --args '{...}'`: the verdict a role's grant gives one call, assuming the tool exists. */
export function explainMcp(grant: McpGrant | undefined, role: string, connection: string, servers: string[], tool: string, args = '{}'): Verdict {
  if (!grant) return deny('grant.none', `role "${role}" has no grant on connection "${connection}"`);
  let parsed: unknown;
  try { parsed = JSON.parse(args); } catch { return deny('request.syntax', '--args is not valid JSON'); }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return deny('request.syntax', '--args must be a JSON object');
  const facts: ToolCallFacts = { protocol: 'mcp', connection, effect: 'call', summary: tool, targets: [], tool, args: parsed as Record<string, unknown>, known: true };
  return decideToolCall(facts, compileMcpGrant(grant, servers));
}
