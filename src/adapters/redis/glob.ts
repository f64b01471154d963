// Redis glob patterns over bytes, read exactly as Redis's stringmatchlen reads them (grants, PSUBSCRIBE, SORT's BY/GET),
// and the question the gateway asks of two patterns: does every name the inner one can match, the outer one match too?

/** -1 is `*`; a number >= 0 is one literal byte; a table flags the bytes one `?` or `[...]` position accepts. */
type Token = number | Uint8Array;
const STAR = -1;

export interface Glob {
  readonly source: Buffer;
  readonly tokens: readonly Token[];
  /**
   * Whether the empty name is in the language. stringmatchlen never enters its loop for an empty string, so only the
   * empty pattern matches it there; but Redis treats exactly `*` as "everything" (SCAN skips filtering, ACL `~*` is all
   * keys), and so does the gateway. `**` is an ordinary pattern and does not match it.
   */
  readonly matchesEmpty: boolean;
}

const ANY = new Uint8Array(256).fill(1);
// Redis compares class range bounds as C `char`, which is signed on the platforms it runs on: `[a-\xff]` is [-1, 97].
const signed = (b: number) => (b >= 0x80 ? b - 0x100 : b);

/** Compiles a Redis glob pattern, mirroring each branch of stringmatchlen (escapes, unterminated classes, swapped ranges). */
export function compileGlob(pattern: Buffer): Glob {
  const tokens: Token[] = [];
  const n = pattern.length;
  for (let i = 0; i < n; i++) {
    const c = pattern[i];
    if (c === 0x2a) { // *
      if (tokens.at(-1) !== STAR) tokens.push(STAR);
    } else if (c === 0x3f) { // ?
      tokens.push(ANY);
    } else if (c === 0x5b) { // [
      i++;
      const negate = i < n && pattern[i] === 0x5e; // ^
      if (negate) i++;
      const set = new Uint8Array(256);
      for (;; i++) {
        if (i < n && pattern[i] === 0x5c && n - i >= 2) { // \x inside a class: x literally
          set[pattern[++i]] = 1;
        } else if (i < n && pattern[i] === 0x5d) { // ]
          break;
        } else if (i >= n) { // unterminated: the class is what was listed
          i--;
          break;
        } else if (n - i >= 3 && pattern[i + 1] === 0x2d) { // a-z
          let lo = signed(pattern[i]);
          let hi = signed(pattern[i + 2]);
          if (lo > hi) [lo, hi] = [hi, lo];
          for (let b = 0; b < 256; b++) if (signed(b) >= lo && signed(b) <= hi) set[b] = 1;
          i += 2;
        } else {
          set[pattern[i]] = 1;
        }
      }
      if (negate) for (let b = 0; b < 256; b++) set[b] ^= 1;
      tokens.push(set);
    } else if (c === 0x5c && n - i >= 2) { // \x: x literally; a trailing \ is itself
      tokens.push(pattern[++i]);
    } else {
      tokens.push(c);
    }
  }
  return { source: pattern, tokens, matchesEmpty: n === 0 || (n === 1 && pattern[0] === 0x2a) };
}

/** The names `prefix · anything · suffix` (what a SORT BY/GET pattern can reach, the element value in place of `*`). */
export function reachable(prefix: Buffer, suffix: Buffer): Glob {
  return { source: Buffer.concat([prefix, Buffer.from('*'), suffix]), tokens: [...prefix, STAR, ...suffix], matchesEmpty: prefix.length + suffix.length === 0 };
}

const accepts = (t: Token, b: number) => (typeof t === 'number' ? t === b : t[b] === 1);

/** Whether `name` matches the pattern, as stringmatchlen would say (case-sensitive, byte by byte). */
export function matchGlob(glob: Glob, name: Buffer): boolean {
  if (name.length === 0) return glob.matchesEmpty;
  const tokens = glob.tokens;
  // The classic single-backtrack wildcard walk: on a mismatch, the last `*` swallows one more byte. O(n·m) at worst.
  let t = 0;
  let i = 0;
  let star = -1;
  let resume = 0;
  while (i < name.length) {
    const token = tokens[t];
    if (t < tokens.length && token !== STAR && accepts(token, name[i])) {
      t++;
      i++;
    } else if (t < tokens.length && token === STAR) {
      star = t++;
      resume = i;
    } else if (star >= 0) {
      t = star + 1;
      i = ++resume;
    } else {
      return false;
    }
  }
  while (t < tokens.length && tokens[t] === STAR) t++;
  return t === tokens.length;
}

// ---- pattern inclusion --------------------------------------------------------------------------------------------

/** Past this many explored state pairs the answer is "not proven", which callers treat as "no". */
const MAX_STATES = 20_000;

/**
 * Whether every name `inner` matches is matched by `outer`: true only when proven. Both are automata over bytes; this
 * walks their subset constructions side by side, looking for a name the inner accepts and the outer does not.
 */
export function globCovers(outer: Glob, inner: Glob): boolean {
  if (inner.matchesEmpty && !outer.matchesEmpty) return false;
  const classes = byteClasses([...inner.tokens, ...outer.tokens]);
  const a = inner.tokens;
  const b = outer.tokens;
  const start: [number[], number[]] = [closure(a, [0]), closure(b, [0])];
  const seen = new Set<string>([key(start)]);
  const queue = [start];
  while (queue.length) {
    const [sa, sb] = queue.pop()!;
    for (const byte of classes) {
      const na = step(a, sa, byte);
      if (na.length === 0) continue;
      const nb = step(b, sb, byte);
      if (na.includes(a.length) && !nb.includes(b.length)) return false;
      const pair: [number[], number[]] = [na, nb];
      const k = key(pair);
      if (seen.has(k)) continue;
      if (seen.size >= MAX_STATES) return false;
      seen.add(k);
      queue.push(pair);
    }
  }
  return true;
}

/** The positions reachable without reading a byte: a `*` may match nothing. */
function closure(tokens: readonly Token[], positions: number[]): number[] {
  const out = new Set<number>();
  for (let p of positions) {
    out.add(p);
    while (p < tokens.length && tokens[p] === STAR) out.add(++p);
  }
  return [...out].sort((x, y) => x - y);
}

function step(tokens: readonly Token[], positions: number[], byte: number): number[] {
  const next: number[] = [];
  for (const p of positions) {
    if (p >= tokens.length) continue;
    const t = tokens[p];
    if (t === STAR) next.push(p);
    else if (accepts(t, byte)) next.push(p + 1);
  }
  return closure(tokens, next);
}

const key = ([a, b]: [number[], number[]]) => `${a.join(',')}|${b.join(',')}`;

/** One representative byte per set of bytes no token tells apart: the automata behave the same on all of them. */
function byteClasses(tokens: readonly Token[]): number[] {
  const distinct = tokens.filter((t) => t !== STAR);
  const seen = new Set<string>();
  const reps: number[] = [];
  for (let b = 0; b < 256; b++) {
    let signature = '';
    for (const t of distinct) signature += accepts(t, b) ? '1' : '0';
    if (!seen.has(signature)) {
      seen.add(signature);
      reps.push(b);
    }
  }
  return reps;
}

/** A list of patterns, with the common shapes (exact names, `prefix*`) answered without the general walk. */
export class GlobSet {
  private readonly exact = new Set<string>();
  private readonly prefixes: Buffer[] = [];
  private readonly general: Glob[] = [];
  readonly globs: readonly Glob[];

  constructor(patterns: readonly Buffer[]) {
    this.globs = patterns.map(compileGlob);
    for (const glob of this.globs) {
      const { tokens } = glob;
      const literal = tokens.every((t) => typeof t === 'number' && t >= 0);
      const prefix = tokens.length > 1 && tokens.at(-1) === STAR && tokens.slice(0, -1).every((t) => typeof t === 'number' && t >= 0);
      if (literal) this.exact.add(Buffer.from(tokens as number[]).toString('latin1'));
      else if (prefix) this.prefixes.push(Buffer.from(tokens.slice(0, -1) as number[]));
      else this.general.push(glob);
    }
  }

  get size(): number {
    return this.globs.length;
  }

  matches(name: Buffer): boolean {
    for (const p of this.prefixes) if (name.length >= p.length && p.compare(name, 0, p.length) === 0) return true;
    if (this.exact.size && this.exact.has(name.toString('latin1'))) return true;
    for (const g of this.general) if (matchGlob(g, name)) return true;
    return false;
  }

  /** Whether one pattern of the set covers every name `inner` can match (sound; a union is not tried). */
  covers(inner: Glob): boolean {
    return this.globs.some((outer) => globCovers(outer, inner));
  }
}
