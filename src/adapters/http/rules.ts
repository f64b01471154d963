// An HTTP grant compiled once at start-up: glob paths to regexes, query/body constraints to checks. Bad rules fail the start.
import type { HttpGrant, HttpRule, ValueConstraint } from '../../config/schema.ts';
import { compileApprovals, type ApproveMatcher } from '../../pipeline/approve.ts';
import { normaliseTarget } from '../kit/http/target.ts';
import { METHODS } from '../kit/http/server.ts';
import { parseJsonPath } from '../../services/guards/index.ts';

type PathSegment = ReturnType<typeof parseJsonPath>[number];

/** Says why a value does not satisfy a constraint, or undefined when it does. */
type Check = (value: unknown) => string | undefined;

interface BodyField { path: string; segments: PathSegment[]; check: Check; optional: boolean }

export interface CompiledRule {
  text: string;
  method: string;
  pattern: RegExp;
  query?: Map<string, Check>;
  body?: BodyField[];
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
    compiled.query = new Map(Object.entries(rule.query).map(([name, c]) => [name, compileCheck(c, 'query')]));
  }
  if (typeof rule !== 'string' && rule.body) {
    compiled.body = Object.entries(rule.body).map(([path, c]) => ({
      path, segments: parseJsonPath(path), check: compileCheck(c, 'body'), optional: typeof c === 'object' && !Array.isArray(c) && c.optional === true,
    }));
  }
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

function compileCheck(c: ValueConstraint, where: 'query' | 'body'): Check {
  // Query values are strings; body values keep their JSON type, so `100` and `"100"` differ there.
  const same = (a: unknown, lit: string | number | boolean) => (where === 'query' ? String(a) === String(lit) : a === lit);
  const show = (v: unknown) => JSON.stringify(v);
  if (c === '*') return (v) => (v === undefined || (typeof v === 'object' && v !== null) ? 'must be a value' : undefined);
  if (Array.isArray(c)) return (v) => (c.some((lit) => same(v, lit)) ? undefined : `must be one of ${c.map(show).join(', ')}`);
  if (typeof c !== 'object') return (v) => (same(v, c) ? undefined : `must be ${show(c)}`);
  const pattern = c.pattern === undefined ? undefined : new RegExp(`^(?:${c.pattern})$`);
  return (v) => {
    if (c.min !== undefined || c.max !== undefined) {
      const n = typeof v === 'number' ? v : where === 'query' && typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : NaN;
      if (!Number.isFinite(n)) return 'must be a number';
      if (c.min !== undefined && n < c.min) return `must be at least ${c.min}`;
      if (c.max !== undefined && n > c.max) return `must be at most ${c.max}`;
    }
    if (pattern && !((typeof v === 'string' || typeof v === 'number') && pattern.test(String(v)))) return `must match /${c.pattern}/`;
    return undefined;
  };
}

/** Every value a path picks out of a JSON document (none when it is absent). */
export function valuesAt(doc: unknown, segments: PathSegment[]): unknown[] {
  let current: unknown[] = [doc];
  for (const seg of segments) {
    const next: unknown[] = [];
    for (const node of current) {
      if (node === null || typeof node !== 'object') continue;
      const own = (k: string | number) => Object.prototype.hasOwnProperty.call(node, k) ? [(node as Record<string, unknown>)[k]] : [];
      if (seg.kind === 'child') next.push(...own(seg.name));
      else if (seg.kind === 'index') next.push(...(Array.isArray(node) ? own(seg.index) : []));
      else if (seg.kind === 'wildcard') next.push(...Object.values(node));
      else next.push(...descendants(node, seg.name));
    }
    current = next;
  }
  return current;
}

function descendants(node: unknown, name: string | null): unknown[] {
  if (node === null || typeof node !== 'object') return [];
  const out: unknown[] = [];
  for (const [k, v] of Object.entries(node)) {
    if (name === null || k === name) out.push(v);
    out.push(...descendants(v, name));
  }
  return out;
}
