// HTTP policy: which allow rule covers a request (method, normalised path, query, JSON body), and whether it waits for a human.
import type { HttpGrant } from '../../config/schema.ts';
import type { Effect, Facts } from '../../services/policy/facts.ts';
import { allow, deny, hold, type Verdict } from '../../services/policy/verdict.ts';
import { METHODS } from '../kit/http/server.ts';
import { bodyDecides, firstSatisfied, judgedBody, ruleMatches, type JudgedBody } from '../kit/http/rules.ts';
import { normaliseTarget } from '../kit/http/target.ts';
import { compileGrant, type CompiledGrant } from './rules.ts';

export { judgedBody } from '../kit/http/rules.ts';

/** What an HTTP request asks, as its policy judges it and its audit record shows it. */
export interface HttpFacts extends Facts {
  protocol: 'http';
  role: string;
  /** The method and path the upstream will run (an honoured override, not the request line: see kit/http/overrides.ts). */
  method: string;
  /** Normalised path (see kit/http/target.ts). */
  path: string;
  query: string | null;
  /** The parsed JSON body, when the request's rules needed it read. `undefined`: not read; `{ invalid }`: not JSON. */
  body?: JudgedBody;
}

const EFFECT: Record<string, Effect> = { GET: 'read', HEAD: 'read', OPTIONS: 'read', POST: 'write', PUT: 'write', PATCH: 'write', DELETE: 'write' };

export function httpFacts(f: Pick<HttpFacts, 'connection' | 'role' | 'method' | 'path' | 'query' | 'body' | 'unknown'>): HttpFacts {
  return {
    ...f, protocol: 'http', effect: EFFECT[f.method] ?? 'unknown',
    summary: `${f.method} ${f.path}${f.query !== null ? `?${f.query}` : ''}`,
    targets: [{ kind: 'path', name: f.path, access: f.method }],
  };
}

/** True when no matching rule can decide without reading the body (a body constraint), so it must be buffered. */
export function needsBody(facts: HttpFacts, grant: CompiledGrant): boolean {
  return bodyDecides(grant.allow.filter((r) => ruleMatches(r, facts.method, facts.path)), facts.query);
}

export function decideHttp(facts: HttpFacts, grant: CompiledGrant, raw: HttpGrant): Verdict {
  const needed = `${facts.method} ${facts.path}`;
  const candidates = grant.allow.filter((r) => ruleMatches(r, facts.method, facts.path));
  if (candidates.length === 0) {
    return deny('http.allow', `role "${facts.role}" has no grant for ${needed} on connection "${facts.connection}" (an allow rule covering "${needed}" is needed)`);
  }
  const found = firstSatisfied(candidates, facts.query, facts.body);
  if ('problems' in found) return deny('http.constraint', `${needed} is not allowed as sent: ${found.problems.join('; ')}`);
  const approval = grant.approve(facts.method, facts.path);
  if (approval) return hold(approval, `approve rule "${approval}"`, { mask: raw.mask });
  return allow(found.rule.text, Object.keys(raw.mask).length ? { mask: raw.mask } : {});
}

/** `policy explain --request "GET /invoices/42"`: the verdict a role's grant gives one request, judged as the listener would. */
export function explainHttp(request: string, grant: HttpGrant | undefined, role: string, connection: string, body?: string): Verdict {
  if (!grant) return deny('grant.none', `role "${role}" has no grant on connection "${connection}"`);
  const m = /^(\S+) (\S+)$/.exec(request.trim());
  if (!m) return deny('request.syntax', `expected "METHOD /path", e.g. "GET /invoices/42"`);
  if (!METHODS.has(m[1])) return deny('request.method', `method ${m[1]} is not accepted (methods are case-sensitive: ${[...METHODS].join(', ')})`);
  const target = normaliseTarget(m[2]);
  if (!target.ok) return deny('unknown', `Gatehouse could not understand this request: ${target.reason}`);
  const parsed = body === undefined ? undefined : judgedBody('application/json', Buffer.from(body));
  return decideHttp(httpFacts({ role, connection, method: m[1], path: target.path, query: target.query, body: parsed }), compileGrant(grant), grant);
}
