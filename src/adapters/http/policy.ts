// HTTP policy: which allow rule covers a request (method, normalised path, query, JSON body), and whether it waits for a human.
import type { HttpGrant } from '../../config/schema.ts';
import { allow, deny, hold, type Verdict } from '../../services/policy/verdict.ts';
import { METHODS } from '../kit/http/server.ts';
import { foldKey, parseStrictJson } from '../kit/http/strict-json.ts';
import { normaliseTarget } from '../kit/http/target.ts';
import { compileGrant, ruleMatches, valuesAt, type CompiledGrant, type CompiledRule } from './rules.ts';

export interface HttpAsk {
  role: string;
  connection: string;
  method: string;
  /** Normalised path (see kit/http/target.ts). */
  path: string;
  query: string | null;
  /** The parsed JSON body, when the request's rules needed it read. `undefined`: not read; `{ invalid }`: not JSON. */
  body?: { json: unknown } | { invalid: string };
}

/** True when no matching rule can decide without reading the body (a body constraint), so it must be buffered. */
export function needsBody(ask: HttpAsk, grant: CompiledGrant): boolean {
  const candidates = grant.allow.filter((r) => ruleMatches(r, ask.method, ask.path));
  if (candidates.some((r) => !r.body && !queryProblem(r, ask.query))) return false;
  return candidates.some((r) => r.body);
}

/**
 * A request body as body rules judge it: JSON (UTF-8, the only charset JSON has: RFC 8259 §8.1) that every upstream parser
 * reads the same way (see strict-json.ts), or the reason it cannot be judged.
 */
export function judgedBody(contentType: string, body: Buffer): NonNullable<HttpAsk['body']> {
  if (!/^application\/(?:[\w.+-]*\+)?json\b/i.test(contentType)) return { invalid: `content-type is "${contentType || 'missing'}"` };
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(contentType)?.[1];
  if (charset && !/^utf-?8$/i.test(charset)) return { invalid: `charset "${charset}" (JSON bodies are UTF-8)` };
  const parsed = parseStrictJson(body.toString('utf8'));
  return parsed.ok ? { json: parsed.value } : { invalid: parsed.reason };
}

export function decideHttp(ask: HttpAsk, grant: CompiledGrant, raw: HttpGrant): Verdict {
  const needed = `${ask.method} ${ask.path}`;
  const candidates = grant.allow.filter((r) => ruleMatches(r, ask.method, ask.path));
  if (candidates.length === 0) {
    return deny('http.allow', `role "${ask.role}" has no grant for ${needed} on connection "${ask.connection}" (an allow rule covering "${needed}" is needed)`);
  }
  const problems: string[] = [];
  let matched: CompiledRule | undefined;
  for (const rule of candidates) {
    const problem = queryProblem(rule, ask.query) ?? bodyProblem(rule, ask.body);
    if (!problem) { matched = rule; break; }
    problems.push(`"${rule.text}" requires ${problem}`);
  }
  if (!matched) return deny('http.constraint', `${needed} is not allowed as sent: ${problems.join('; ')}`);
  const approval = grant.approve.find((r) => ruleMatches(r, ask.method, ask.path));
  if (approval) return hold(approval.text, `approve rule "${approval.text}"`, { mask: raw.mask });
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

function bodyProblem(rule: CompiledRule, body: HttpAsk['body']): string | undefined {
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
  return decideHttp({ role, connection, method: m[1], path: target.path, query: target.query, body: parsed }, compileGrant(grant), grant);
}
