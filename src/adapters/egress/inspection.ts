// What an intercepting egress grant says about the requests inside its tunnels: `allow` rules (a host, then the HTTP
// kit's method/path/query/body rules), `headers` set per host (credentials the agent never holds) and `guards` on what
// leaves. Compiled once at start-up; the decision over one request is pure but for the budgets it charges.
import type { EgressGrant } from '../../config/schema.ts';
import { GUARDS_OFF, type GuardPolicy } from '../../pipeline/content-guards.ts';
import { deny } from '../../services/policy/verdict.ts';
import { compileRule, firstSatisfied, ruleMatches, type CompiledRule, type JudgedBody } from '../kit/http/rules.ts';
import { compileHostRule, matchHost, nameMatches, type CompiledEgressGrant, type HostRule } from './grant.ts';
import { formatEndpoint, type Endpoint } from './host.ts';
import type { EgressFacts } from './facts.ts';
import { budgetsThenApproval, type EgressRules, type EgressVerdict } from './policy.ts';

interface InnerRule { host: HostRule; rule: CompiledRule }

export interface Inspection {
  /** Undefined when the grant has no `allow`: every request to a granted host passes (each still judged and audited). */
  allow?: InnerRule[];
  /** Most specific first: an exact name before a wildcard. */
  headers: { host: HostRule; set: Record<string, string> }[];
  guards: GuardPolicy;
}

/** One request inside an intercepted tunnel (or a plain request on an intercepting connection). */
export interface InnerFacts extends EgressFacts {
  /** Normalised path (see kit/http/target.ts) and query, as forwarded. */
  path: string;
  query: string | null;
  /** The parsed JSON body, when a body rule needed it read. */
  body?: JudgedBody;
}

/** Compiles a grant's `allow`, `headers` and `guards`; throws naming the first entry that cannot mean anything. */
export function compileInspection(raw: EgressGrant, grant: CompiledEgressGrant): Inspection {
  const allow = raw.allow?.map((entry) => {
    const text = typeof entry === 'string' ? entry : entry.rule;
    const m = /^(\S+) ([^/\s]+)(\/\S*)$/.exec(text);
    if (!m) throw new Error(`allow rule "${text}" is not "METHOD host/path", e.g. "GET api.github.com/repos/acme/*"`);
    const host = compileHostRule(m[2], undefined);
    if (!granted(host, grant)) throw new Error(`allow rule "${text}" names ${m[2]}, which hosts does not grant (a request there could never pass)`);
    const own = `${m[1]} ${m[3]}`;
    return { host, rule: compileRule(typeof entry === 'string' ? own : { ...entry, rule: own }, text) };
  });
  const headers = Object.entries(raw.headers ?? {}).map(([host, set]) => ({ host: compileHostRule(host, undefined), set }))
    .sort((a, b) => Number(a.host.kind === 'subdomains') - Number(b.host.kind === 'subdomains'));
  return { allow, headers, guards: { ...GUARDS_OFF, ...raw.guards } };
}

/** Whether some `hosts` entry lets a request named by `rule` through at all. */
function granted(rule: HostRule, grant: CompiledEgressGrant): boolean {
  if (rule.kind !== 'subdomains') {
    const host = rule.kind === 'ip' ? undefined : { kind: 'name' as const, name: rule.name };
    return host !== undefined ? [443, 80, ...(rule.ports ?? [])].some((port) => matchHost(grant, { host, port }).ok) : grant.hosts.some((h) => h.kind === 'ip' && h.name === rule.name);
  }
  return grant.hosts.some((h) => h.kind === 'subdomains' && (h.name === rule.name || rule.name.endsWith('.' + h.name)));
}

const portMatches = (rule: HostRule, port: number) => rule.ports === undefined || rule.ports.includes(port);

/** `host/path?query` as allow rules name it: the port only when it is not the scheme's own. */
export function requestName(target: Endpoint, path: string, query: string | null, port = 443): string {
  const where = target.port === port ? target.host.name.includes(':') ? `[${target.host.name}]` : target.host.name : formatEndpoint(target);
  return `${where}${path}${query === null ? '' : `?${query}`}`;
}

/** The allow rules that could cover this request by method, host and path (before query and body constraints). */
export function candidates(inspection: Inspection, facts: InnerFacts): CompiledRule[] {
  return (inspection.allow ?? []).filter((r) => nameMatches(r.host, facts.target) && portMatches(r.host, facts.target.port) && ruleMatches(r.rule, facts.method, facts.path)).map((r) => r.rule);
}

/** The headers set on requests to `target`: the most specific `headers` entry that names it. */
export function headersFor(inspection: Inspection, target: Endpoint): Record<string, string> {
  return inspection.headers.find((h) => nameMatches(h.host, target))?.set ?? {};
}

/** The decision over one inner request: `allow` (when the grant has it), then budgets and `approve:`, as for a tunnel. */
export function decideInner(facts: InnerFacts, rules: EgressRules, inspection: Inspection, tokenId: string, now = Date.now()): EgressVerdict {
  let grant = 'hosts (no allow rules: every request to a granted host)';
  if (inspection.allow) {
    const needed = `${facts.method} ${requestName(facts.target, facts.path, null)}`;
    const found = candidates(inspection, facts);
    if (!found.length) return deny('egress.allow', `role "${rules.role}" has no rule for ${needed}: roles.${rules.role}.${rules.connection}.allow needs one covering "${needed}"`);
    const satisfied = firstSatisfied(found, facts.query, facts.body);
    if ('problems' in satisfied) return deny('egress.constraint', `${needed} is not allowed as sent: ${satisfied.problems.join('; ')}`);
    grant = satisfied.rule.text;
  }
  return budgetsThenApproval(facts, rules, tokenId, now, grant);
}
