// Value constraints for every protocol's argument rules (HTTP query and body, MCP tool arguments): compiled once, checked on parsed values.
import type { ValueConstraint } from '../../config/schema.ts';
import { parseJsonPath } from '../guards/index.ts';

export type PathSegment = ReturnType<typeof parseJsonPath>[number];

/** Says why a value does not satisfy a constraint, or undefined when it does. */
export type Check = (value: unknown) => string | undefined;

/**
 * `text`: values arrive as strings (query parameters), so `100` and `"100"` are the same value. `json`: values keep
 * their parsed JSON type, so a number never passes for a string, nor an array or object for either.
 */
export type ValueMode = 'text' | 'json';

/** One constrained field of a JSON document: where it is, what it must hold, whether it may be absent. */
export interface FieldRule {
  path: string;
  segments: PathSegment[];
  check: Check;
  optional: boolean;
}

type Literal = string | number | boolean;
const show = (v: unknown) => JSON.stringify(v);

export function compileCheck(c: ValueConstraint, mode: ValueMode): Check {
  const same = (a: unknown, lit: Literal) => (mode === 'text' ? String(a) === String(lit) : a === lit);
  const oneOf = (list: Literal[]): Check => (v) => (list.some((lit) => same(v, lit)) ? undefined : `must be one of ${list.map(show).join(', ')}`);
  if (c === '*') return (v) => (v === undefined || (typeof v === 'object' && v !== null) ? 'must be a value' : undefined);
  if (Array.isArray(c)) return oneOf(c);
  if (typeof c !== 'object') return (v) => (same(v, c) ? undefined : `must be ${show(c)}`);
  const checks: Check[] = [];
  if (c.in) checks.push(oneOf(c.in));
  if (c.min !== undefined || c.max !== undefined) {
    checks.push((v) => {
      const n = typeof v === 'number' ? v : mode === 'text' && typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : NaN;
      if (!Number.isFinite(n)) return 'must be a number';
      if (c.min !== undefined && n < c.min) return `must be at least ${c.min}`;
      if (c.max !== undefined && n > c.max) return `must be at most ${c.max}`;
      return undefined;
    });
  }
  if (c.max_length !== undefined) {
    const max = c.max_length;
    // UTF-16 code units, as JavaScript counts: never fewer than the characters a person sees.
    checks.push((v) => (typeof v !== 'string' ? 'must be a string' : v.length > max ? `must be at most ${max} characters long` : undefined));
  }
  if (c.pattern !== undefined) {
    const pattern = new RegExp(`^(?:${c.pattern})$`);
    checks.push((v) => ((typeof v === 'string' || typeof v === 'number') && pattern.test(String(v)) ? undefined : `must match /${c.pattern}/`));
  }
  if (c.glob !== undefined) {
    const glob = c.glob;
    const re = pathGlob(glob);
    checks.push((v) => {
      if (typeof v !== 'string') return 'must be a string';
      const why = unnormalisedPath(v);
      if (why) return `must be a plain path (${why})`;
      return re.test(v) ? undefined : `must be a path matching ${glob}`;
    });
  }
  return (v) => {
    for (const check of checks) {
      const why = check(v);
      if (why) return why;
    }
    return undefined;
  };
}

/** Compiles `{ "$.a.b": constraint }` (body fields, tool arguments); a bad path or regex throws at start-up. */
export function compileFields(fields: Record<string, ValueConstraint>, mode: ValueMode = 'json'): FieldRule[] {
  return Object.entries(fields).map(([path, c]) => ({
    path, segments: parseJsonPath(path), check: compileCheck(c, mode), optional: typeof c === 'object' && !Array.isArray(c) && c.optional === true,
  }));
}

/** The first field of `doc` that breaks its rule, said as "<what is required>", or undefined when every field holds. */
export function fieldsProblem(doc: unknown, fields: FieldRule[], noun = 'field'): string | undefined {
  for (const field of fields) {
    const values = valuesAt(doc, field.segments);
    if (values.length === 0) {
      if (field.optional) continue;
      return `${noun} ${field.path}`;
    }
    for (const v of values) {
      const why = field.check(v);
      if (why) return `${noun} ${field.path} that ${why}`;
    }
  }
  return undefined;
}

/**
 * A path glob: `*` is one segment (or part of one: `*.csv`), `**` any number of segments (zero included, so `docs/**`
 * covers `docs` itself). Relative globs match relative paths and absolute ones absolute paths.
 */
export function pathGlob(glob: string): RegExp {
  const why = unnormalisedPath(glob.replace(/\*/g, 'x'));
  if (why) throw new Error(`path glob "${glob}" is not a plain path (${why})`);
  const escape = (s: string) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  const absolute = glob.startsWith('/');
  const segments = (absolute ? glob.slice(1) : glob).split('/');
  let re = absolute ? '/' : '';
  segments.forEach((seg, i) => {
    const sep = i > 0 && segments[i - 1] !== '**' ? '/' : '';
    if (seg === '**') {
      if (segments[i - 1] === '**') throw new Error(`path glob "${glob}": ** twice in a row`);
      // Inside a glob, `**/` eats whole segments; at its end, `/**` adds any number of them (none included).
      if (i < segments.length - 1) re += `${i > 0 ? '/' : ''}(?:[^/]+/)*`;
      else re += i === 0 ? '(?:[^/]+(?:/[^/]+)*)?' : '(?:/[^/]+)*';
    } else if (seg.includes('**')) throw new Error(`path glob "${glob}": ** must be a whole segment`);
    else re += sep + seg.split('*').map(escape).join('[^/]*');
  });
  return new RegExp(`^${re}$`);
}

/**
 * Why a path is ambiguous, or undefined when it says plainly where it points. A glob over paths means nothing for
 * `docs/../.env`, `docs//x`, `docs\x` or a NUL byte, so such values never match: they are refused, not interpreted.
 */
export function unnormalisedPath(p: string): string | undefined {
  if (p === '') return 'empty';
  if (p.includes('\0')) return 'NUL byte';
  if (p.includes('\\')) return 'backslash';
  if (/[\u0000-\u001f\u007f]/.test(p)) return 'control character';
  const segments = p.split('/');
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i];
    if (s === '.' || s === '..') return `"${s}" segment`;
    if (s === '' && !(i === 0 && segments.length > 1)) return i === segments.length - 1 ? 'trailing slash' : 'empty segment';
  }
  return undefined;
}

/** Every value a path picks out of a JSON document (none when it is absent). Own properties only: no prototype reads. */
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
