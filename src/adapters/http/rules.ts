// An HTTP grant compiled once at start-up: glob paths to regexes, query/body constraints to checks. Bad rules fail the start.
import type { HttpGrant, HttpRule } from '../../config/schema.ts';
import { compileApprovals, type ApproveMatcher } from '../../pipeline/approve.ts';
import { normaliseTarget } from '../kit/http/target.ts';
import { METHODS } from '../kit/http/server.ts';
import { compileCheck, compileFields, type Check, type FieldRule } from '../../services/policy/constraints.ts';

export { valuesAt } from '../../services/policy/constraints.ts';

export interface CompiledRule {
  text: string;
  method: string;
  pattern: RegExp;
  query?: Map<string, Check>;
  body?: FieldRule[];
}

export interface CompiledGrant {
  allow: CompiledRule[];
  /** `approve:` entries ("POST /refunds/*") in the shared grammar, over the same path globs as allow rules. */
  approve: ApproveMatcher;
}

export function compileGrant(grant: HttpGrant): CompiledGrant {
  const glob = (path: string) => {
    const pattern = globToRegex(path, path);
    return (target: string) => pattern.test(target);
  };
  return { allow: grant.allow.map(compileRule), approve: compileApprovals(grant.approve, { verbs: [...METHODS], bare: 'target', glob }) };
}

export function compileRule(rule: HttpRule): CompiledRule {
  const text = typeof rule === 'string' ? rule : rule.rule;
  const m = /^(\S+) (\/\S*)$/.exec(text);
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
function globToRegex(glob: string, text: string): RegExp {
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
