// Masks parsed JSON: values picked by JSON path get their rule's strategy; with `detect`, every other string leaf is
// redacted by content. The input is never mutated; unchanged subtrees are shared with the result.
//
// Linear in the document: each node is visited once with at most one state per (rule, segment) — states are
// deduplicated, or `$..a..a` would double them at every level — and nesting deeper than MAX_DEPTH is replaced whole
// rather than walked (a recursion that deep would overflow the stack).
import { maskValue, redact } from './mask.ts';
import { UNSCANNED, type DetectorType, type MaskStrategy, type ScanBudget } from './types.ts';

/** Deeper than any real document; a subtree below it is replaced by UNSCANNED. */
const MAX_DEPTH = 256;

/** One step of a path: `.name` / `['name']`, `[3]`, `.*` / `[*]`, and `..name` / `..*` (any depth). */
export type PathSegment =
  | { kind: 'child'; name: string }
  | { kind: 'index'; index: number }
  | { kind: 'wildcard' }
  | { kind: 'descendant'; name: string | null };

const SEGMENT = /\.\.(\*|[^.[\]]+)|\.\.(?=\[)|\.(\*|[^.[\]]+)|\[(\*|\d+|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")\]/y;

/** Parses the subset of JSONPath that masking rules use. Throws on anything else, so a bad rule fails at start-up. */
export function parseJsonPath(path: string): PathSegment[] {
  if (!path.startsWith('$')) throw new SyntaxError(`JSON path must start with '$': ${path}`);
  const segments: PathSegment[] = [];
  let descendant = false;
  for (let i = 1; i < path.length;) {
    SEGMENT.lastIndex = i;
    const m = SEGMENT.exec(path);
    if (!m) throw new SyntaxError(`unsupported JSON path syntax at offset ${i}: ${path}`);
    i += m[0].length;
    if (m[0] === '..') {
      descendant = true; // `$..['a b']`: the bracket that follows names the descendant
      continue;
    }
    const raw = m[1] ?? m[2] ?? m[3];
    const quoted = /^['"]/.test(raw);
    const name = quoted ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw;
    if (m[1] !== undefined || descendant) {
      segments.push({ kind: 'descendant', name: raw === '*' ? null : name });
    } else if (raw === '*') {
      segments.push({ kind: 'wildcard' });
    } else if (m[3] !== undefined && !quoted) {
      segments.push({ kind: 'index', index: Number(name) });
    } else {
      segments.push({ kind: 'child', name });
    }
    descendant = false;
  }
  if (descendant) throw new SyntaxError(`JSON path ends with '..': ${path}`);
  return segments;
}

interface CompiledRule {
  segments: PathSegment[];
  strategy: MaskStrategy;
}

/** Rules come from configuration and are reused for every response: compile each rules object once. */
const compiled = new WeakMap<Record<string, MaskStrategy>, CompiledRule[]>();

function compile(rules: Record<string, MaskStrategy>): CompiledRule[] {
  let out = compiled.get(rules);
  if (!out) {
    out = Object.entries(rules).map(([path, strategy]) => ({ segments: parseJsonPath(path), strategy }));
    compiled.set(rules, out);
  }
  return out;
}

/** When two rules reach one value, the stricter strategy wins: nothing is revealed by a rule's ordering. */
const STRICTNESS: Record<MaskStrategy, number> = { partial: 0, hash: 1, redact: 2, null: 3 };

/** A position in one rule's path: `rule` index and how many segments are already matched. */
type State = readonly [rule: number, step: number];

/** Adds a state unless it is there already (a handful of states: a scan is cheaper than a set). */
function addState(states: State[], rule: number, step: number) {
  for (const [r, s] of states) if (r === rule && s === step) return;
  states.push([rule, step]);
}

function advance(states: readonly State[], rules: CompiledRule[], key: string | number): State[] {
  const next: State[] = [];
  for (const [rule, step] of states) {
    const segment = rules[rule].segments[step];
    if (!segment) continue;
    switch (segment.kind) {
      case 'child':
        if (key === segment.name) addState(next, rule, step + 1);
        break;
      case 'index':
        if (key === segment.index) addState(next, rule, step + 1);
        break;
      case 'wildcard':
        addState(next, rule, step + 1);
        break;
      case 'descendant':
        addState(next, rule, step); // keep looking deeper
        if (segment.name === null || key === segment.name) addState(next, rule, step + 1);
        break;
    }
  }
  return next;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Defines rather than assigns: a `__proto__` key from an upstream document must stay data, not become a prototype. */
const setOwn = (target: Record<string, unknown>, key: string, value: unknown) =>
  Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });

/**
 * Masks `value` (a parsed JSON document). `rules` maps JSON paths (`$.customer.email`, `$.items[*].card`, `$..ssn`) to
 * strategies; a path that reaches an object or array masks every leaf under it (`null` replaces it whole). With
 * `detect`, string leaves no rule reached are redacted by content with `strategy` (default `redact`).
 * `masked` counts masked leaves plus redacted spans.
 */
export function maskJson(
  value: unknown,
  rules: Record<string, MaskStrategy>,
  opts: { key: Buffer; detect?: boolean; strategy?: MaskStrategy; types?: ReadonlySet<DetectorType>; budget?: ScanBudget },
): { value: unknown; masked: number } {
  const compiledRules = compile(rules);
  let masked = 0;

  const maskLeaf = (leaf: unknown, strategy: MaskStrategy): unknown => {
    if (leaf === null) return null;
    masked++;
    if (typeof leaf === 'object') return null; // only reached for the `null` strategy on containers
    return maskValue(String(leaf), strategy, { key: opts.key });
  };

  const tooDeep = () => {
    masked++;
    return UNSCANNED;
  };

  const maskAll = (node: unknown, strategy: MaskStrategy, depth: number): unknown => {
    if (strategy === 'null' || !(Array.isArray(node) || isObject(node))) return maskLeaf(node, strategy);
    if (depth > MAX_DEPTH) return tooDeep();
    if (Array.isArray(node)) return node.map((child) => maskAll(child, strategy, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, child] of Object.entries(node)) setOwn(out, k, maskAll(child, strategy, depth + 1));
    return out;
  };

  const walk = (node: unknown, states: readonly State[], depth: number): unknown => {
    if (depth > MAX_DEPTH && (Array.isArray(node) || isObject(node))) return tooDeep();
    let strategy: MaskStrategy | undefined;
    for (const [rule, step] of states) {
      const r = compiledRules[rule];
      if (step === r.segments.length && (strategy === undefined || STRICTNESS[r.strategy] > STRICTNESS[strategy])) strategy = r.strategy;
    }
    if (strategy) return maskAll(node, strategy, depth);

    if (Array.isArray(node)) {
      let copy: unknown[] | undefined;
      node.forEach((child, i) => {
        const result = walk(child, advance(states, compiledRules, i), depth + 1);
        if (result !== child) (copy ??= [...node])[i] = result;
      });
      return copy ?? node;
    }
    if (isObject(node)) {
      let copy: Record<string, unknown> | undefined;
      for (const [k, child] of Object.entries(node)) {
        const result = walk(child, advance(states, compiledRules, k), depth + 1);
        if (result !== child) setOwn((copy ??= { ...node }), k, result);
      }
      return copy ?? node;
    }
    if (typeof node === 'string' && opts.detect) {
      const { text, findings, unscanned } = redact(node, { strategy: opts.strategy ?? 'redact', key: opts.key, types: opts.types, budget: opts.budget });
      masked += unscanned ? 1 : findings.length;
      return text;
    }
    return node;
  };

  const start: State[] = compiledRules.map((_, i) => [i, 0]);
  return { value: walk(value, start, 0), masked };
}
