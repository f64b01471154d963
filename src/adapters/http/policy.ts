// HTTP policy: which allow rule covers a request (method, normalised path, query, JSON body), and whether it waits for a human.
import type { HttpGrant } from '../../config/schema.ts';
import type { Effect, Facts } from '../../services/policy/facts.ts';
import { allow, deny, hold, type Verdict } from '../../services/policy/verdict.ts';
import { METHODS } from '../kit/http/server.ts';
import { foldKey, parseStrictJson } from '../kit/http/strict-json.ts';
import { normaliseTarget } from '../kit/http/target.ts';
import { compileGrant, ruleMatches, valuesAt, type CompiledGrant, type CompiledRule } from './rules.ts';

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
  body?: { json: unknown } | { invalid: string };
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
  const candidates = grant.allow.filter((r) => ruleMatches(r, facts.method, facts.path));
  if (candidates.some((r) => !r.body && !queryProblem(r, facts.query))) return false;
  return candidates.some((r) => r.body);
}

/**
 * A request body as body rules judge it: JSON (UTF-8, the only charset JSON has: RFC 8259 §8.1) that every upstream parser
 * reads the same way (see strict-json.ts), or the reason it cannot be judged.
 */
export function judgedBody(contentType: string, body: Buffer): NonNullable<HttpFacts['body']> {
  if (!/^application\/(?:[\w.+-]*\+)?json\b/i.test(contentType)) return { invalid: `content-type is "${contentType || 'missing'}"` };
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(contentType)?.[1];
  if (charset && !/^utf-?8$/i.test(charset)) return { invalid: `charset "${charset}" (JSON bodies are UTF-8)` };
  const parsed = parseStrictJson(body.toString('utf8'));
  return parsed.ok ? { json: parsed.value } : { invalid: parsed.reason };
}

export function decideHttp(facts: HttpFacts, grant: CompiledGrant, raw: HttpGrant): Verdict {
  const needed = `${facts.method} ${facts.path}`;
  const candidates = grant.allow.filter((r) => ruleMatches(r, facts.method, facts.path));
  if (candidates.length === 0) {
    return deny('http.allow', `role "${facts.role}" has no grant for ${needed} on connection "${facts.connection}" (an allow rule covering "${needed}" is needed)`);
  }
  const problems: string[] = [];
  let matched: CompiledRule | undefined;
  for (const rule of candidates) {
    const problem = queryProblem(rule, facts.query) ?? bodyProblem(rule, facts.body);
    if (!problem) { matched = rule; break; }
    problems.push(`"${rule.text}" requires ${problem}`);
  }
  if (!matched) return deny('http.constraint', `${needed} is not allowed as sent: ${problems.join('; ')}`);
  const approval = grant.approve(facts.method, facts.path);
  if (approval) return hold(approval, `approve rule "${approval}"`, { mask: raw.mask });
  return allow(matched.text, Object.keys(raw.mask).length ? { mask: raw.mask } : {});
}

function queryProblem(rule: CompiledRule, query: string | null): string | undefined {
  if (!rule.query) return undefined;
  const params = new URLSearchParams(query ?? '');
  // Servers disagree on repeated parameters (first, last, a list) and some match names case-insensitively.
  const seen = new Map<string, string>();
  for (const [name, value] of params) {
    const prior = seen.get(foldKey(name));
    if (prior === name) return `query parameter "${name}" at most once (repeated parameters are ambiguous)`;
    if (prior !== undefined) return `query parameters "${prior}" and "${name}" not both (names that differ only in case are ambiguous)`;
    seen.set(foldKey(name), name);
    const check = rule.query.get(name);
    if (!check) return `no query parameter "${name}" (allowed: ${[...rule.query.keys()].join(', ') || 'none'})`;
    const why = check(value);
    if (why) return `query parameter "${name}" ${why}`;
  }
  return undefined;
}

function bodyProblem(rule: CompiledRule, body: HttpFacts['body']): string | undefined {
  if (!rule.body) return undefined;
  if (!body) return 'a JSON body';
  if ('invalid' in body) return `a JSON body (${body.invalid})`;
  for (const field of rule.body) {
    const values = valuesAt(body.json, field.segments);
    if (values.length === 0) {
      if (field.optional) continue;
      return `body field ${field.path}`;
    }
    for (const v of values) {
      const why = field.check(v);
      if (why) return `body field ${field.path} that ${why}`;
    }
  }
  return undefined;
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
