// HTTP request rules shared by `kind: http` and intercepted egress: `METHOD /glob/path` with query and JSON body
// constraints, compiled once at start-up, and the checks that say why a request does not satisfy one.
import type { HttpRule } from '../../../config/schema.ts';
import { compileCheck, compileFields, valuesAt, type Check, type FieldRule } from '../../../services/policy/constraints.ts';
import { METHODS } from './server.ts';
import { foldKey, parseStrictJson } from './strict-json.ts';
import { normaliseTarget } from './target.ts';

export interface CompiledRule {
  text: string;
  method: string;
  pattern: RegExp;
  query?: Map<string, Check>;
  body?: FieldRule[];
}

/** A request body as body rules judge it: parsed JSON, or why it cannot be judged. */
export type JudgedBody = { json: unknown } | { invalid: string };

/** Compiles one rule; `text` overrides the rule's own text for messages (egress rules carry a host in front). */
export function compileRule(rule: HttpRule, text = typeof rule === 'string' ? rule : rule.rule): CompiledRule {
  const own = typeof rule === 'string' ? rule : rule.rule;
  const m = /^(\S+) (\/\S*)$/.exec(own);
  if (!m || (m[1] !== '*' && !METHODS.has(m[1]))) throw new Error(`HTTP rule "${text}" is not "METHOD /path" with METHOD one of ${[...METHODS].join(', ')} or *`);
  const compiled: CompiledRule = { text, method: m[1], pattern: globToRegex(m[2], text) };
  if (typeof rule !== 'string' && rule.query) {
    compiled.query = new Map(Object.entries(rule.query).map(([name, c]) => [name, compileCheck(c, 'text')]));
  }
  if (typeof rule !== 'string' && rule.body) compiled.body = compileFields(rule.body, 'json');
  return compiled;
}

/**
 * `*` is one non-empty segment (or part of one: `*.json`), `**` any number of segments. A trailing slash names a different
 * resource (RFC 3986 §6.2.3: servers may route `/a` and `/a/` apart), so `/invoices/*` does not match `/invoices/42/`;
 * a rule ending in a slash matches only that form, and a trailing `**` matches both.
 */
export function globToRegex(glob: string, text: string): RegExp {
  const norm = normaliseTarget(glob);
  if (!norm.ok || norm.query !== null) throw new Error(`HTTP rule "${text}": ${norm.ok ? 'rules match paths; constrain the query with the { rule, query } form' : norm.reason}`);
  const escape = (s: string) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  const segments = norm.path.split('/').filter(Boolean);
  let re = '';
  for (const seg of segments) {
    if (seg === '**') re += '(?:/[^/]+)*';
    else if (seg === '*') re += '/[^/]+';
    else if (seg.includes('**')) throw new Error(`HTTP rule "${text}": ** must be a whole segment`);
    else re += '/' + seg.split('*').map(escape).join('[^/]*');
  }
  const tail = segments.at(-1) === '**' ? '/?' : norm.path.endsWith('/') ? '/' : '';
  return new RegExp(`^${re}${tail || (re ? '' : '/')}$`);
}

export const ruleMatches = (rule: CompiledRule, method: string, path: string) => (rule.method === '*' || rule.method === method) && rule.pattern.test(path);

/** True when no candidate rule can decide without reading the body (a body constraint), so it must be buffered. */
export function bodyDecides(candidates: readonly CompiledRule[], query: string | null): boolean {
  if (candidates.some((r) => !r.body && !queryProblem(r, query))) return false;
  return candidates.some((r) => r.body);
}

/**
 * A request body as body rules judge it: JSON (UTF-8, the only charset JSON has: RFC 8259 §8.1) that every upstream parser
 * reads the same way (see strict-json.ts), or the reason it cannot be judged.
 */
export function judgedBody(contentType: string, body: Buffer): JudgedBody {
  if (!/^application\/(?:[\w.+-]*\+)?json\b/i.test(contentType)) return { invalid: `content-type is "${contentType || 'missing'}"` };
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(contentType)?.[1];
  if (charset && !/^utf-?8$/i.test(charset)) return { invalid: `charset "${charset}" (JSON bodies are UTF-8)` };
  const parsed = parseStrictJson(body.toString('utf8'));
  return parsed.ok ? { json: parsed.value } : { invalid: parsed.reason };
}

/** The first candidate whose query and body constraints the request satisfies, or what each one required. */
export function firstSatisfied(candidates: readonly CompiledRule[], query: string | null, body: JudgedBody | undefined): { rule: CompiledRule } | { problems: string[] } {
  const problems: string[] = [];
  for (const rule of candidates) {
    const problem = queryProblem(rule, query) ?? bodyProblem(rule, body);
    if (!problem) return { rule };
    problems.push(`"${rule.text}" requires ${problem}`);
  }
  return { problems };
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

function bodyProblem(rule: CompiledRule, body: JudgedBody | undefined): string | undefined {
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
