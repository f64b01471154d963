// Which keys a command line touches, and how: the upstream's key specifications applied as Redis applies them, widened
// where Redis's own parser can disagree with them, and hand-read where they say "unknown" (SORT's BY/GET/STORE).

import { isWord, parseInteger } from '../codec/resp.ts';
import type { CommandSpec, KeySpec } from './table.ts';

export interface KeyAccess {
  /** The key as sent: a view of the argument bytes. */
  readonly key: Buffer;
  readonly read: boolean;
  readonly write: boolean;
}

/** Names a command can reach through a pattern: `prefix · (any element value) · suffix`, read. */
export interface ReachedPattern {
  readonly prefix: Buffer;
  readonly suffix: Buffer;
  /** The argument as sent, for messages and the audit. */
  readonly pattern: Buffer;
}

export type KeyFinding =
  | { readonly ok: true; readonly keys: KeyAccess[]; readonly reached: ReachedPattern[] }
  | { readonly ok: false; readonly reason: string };

/** Commands whose specs are incomplete or argument-dependent, read by hand the way Redis's own parser reads them. */
const HAND_READ: Record<string, (args: readonly Buffer[]) => KeyFinding> = {
  sort: (args) => sortKeys(args, false),
  sort_ro: (args) => sortKeys(args, true),
  set: setKeys,
  bitfield: bitfieldKeys,
};

export function findKeys(command: CommandSpec, args: readonly Buffer[]): KeyFinding {
  const hand = HAND_READ[command.name];
  if (hand) return hand(args);
  let keys: KeyAccess[] = [];
  for (const spec of command.keySpecs) {
    if (spec.notKey) continue;
    if (spec.incomplete || spec.begin.type === 'unknown' || spec.find.type === 'unknown') {
      return { ok: false, reason: `the upstream does not say where all of '${command.name}''s keys are` };
    }
    const error = applySpec(spec, args, keys);
    if (error) return { ok: false, reason: error };
  }
  // A command flagged `write` whose specs name no written key still writes one (XREADGROUP moves its group's cursor).
  if (command.flags.has('write') && keys.length && !keys.some((k) => k.write)) keys = keys.map((k) => ({ ...k, write: true }));
  return { ok: true, keys, reached: [] };
}

/**
 * Adds the keys one spec finds. A keyword spec is applied after *every* occurrence of its keyword, not only the first as
 * Redis's key-spec walk does: the commands' own parsers often take the last one (`GEORADIUS ... STORE a STORE b` writes
 * b), so every candidate is judged.
 */
function applySpec(spec: KeySpec, args: readonly Buffer[], keys: KeyAccess[]): string | undefined {
  const argc = args.length;
  const starts: number[] = [];
  if (spec.begin.type === 'index') {
    starts.push(spec.begin.index);
  } else if (spec.begin.type === 'keyword') {
    const { keyword, startfrom } = spec.begin;
    // As Redis: forward from startfrom, or backward from argc+startfrom; the end bound is exclusive.
    const from = startfrom > 0 ? startfrom : argc + startfrom;
    const to = startfrom > 0 ? argc - 1 : 1;
    for (let i = from; i !== to; i = from <= to ? i + 1 : i - 1) {
      if (i >= argc || i < 1) break;
      if (isWord(args[i], keyword)) starts.push(i + 1);
    }
  }
  for (const first of starts) {
    const range = keyRange(spec, args, first);
    if (typeof range === 'string') return range;
    if (!range) continue;
    for (let i = range.first; i <= range.last; i += range.step) keys.push({ key: args[i], read: spec.read || !spec.write, write: spec.write || !spec.read });
  }
  return undefined;
}

function keyRange(spec: KeySpec, args: readonly Buffer[], first: number): { first: number; last: number; step: number } | string | undefined {
  const argc = args.length;
  let last: number;
  let step: number;
  if (spec.find.type === 'range') {
    const { lastkey, keystep, limit } = spec.find;
    step = keystep;
    last = lastkey >= 0 ? first + lastkey : limit === 0 ? argc + lastkey : first + (Math.floor((argc - first) / limit) + lastkey);
  } else if (spec.find.type === 'keynum') {
    const { keynumidx, firstkey, keystep } = spec.find;
    step = keystep;
    const at = first + keynumidx;
    if (at >= argc) return 'the number of keys is missing';
    const count = parseInteger(args[at]);
    if (count === undefined || count < 0) return 'the number of keys is not a valid count';
    if (count === 0) return undefined; // EVAL script 0, FCALL f 0: no keys
    first += firstkey;
    last = first + (count - 1) * keystep;
  } else {
    return 'key positions unknown';
  }
  if (step < 1) return 'invalid key step';
  if (last >= argc || last < first || first >= argc || first < 1) return 'the arguments do not match the command\'s key positions';
  return { first, last, step };
}

/**
 * SORT / SORT_RO, read as sortCommandGeneric reads them. BY and GET patterns reach keys named after the sorted elements
 * (`prefix*suffix`, or `prefix*suffix->field` for a hash field); a pattern without `*` (before any NUL) reaches none.
 */
function sortKeys(args: readonly Buffer[], readonly: boolean): KeyFinding {
  const keys: KeyAccess[] = [{ key: args[1], read: true, write: false }];
  const reached: ReachedPattern[] = [];
  for (let j = 2; j < args.length; j++) {
    const left = args.length - j - 1;
    const arg = args[j];
    if (isWord(arg, 'asc') || isWord(arg, 'desc') || isWord(arg, 'alpha')) continue;
    if (isWord(arg, 'limit') && left >= 2) {
      j += 2;
    } else if (!readonly && isWord(arg, 'store') && left >= 1) {
      keys.push({ key: args[++j], read: false, write: true });
    } else if ((isWord(arg, 'by') || isWord(arg, 'get')) && left >= 1) {
      const pattern = args[++j];
      const found = sortPattern(pattern, isWord(arg, 'get'));
      if (found) reached.push(found);
    } else {
      return { ok: false, reason: `SORT syntax error at argument ${j}` };
    }
  }
  return { ok: true, keys, reached };
}

function sortPattern(pattern: Buffer, isGet: boolean): ReachedPattern | undefined {
  const nul = pattern.indexOf(0);
  const cString = nul < 0 ? pattern : pattern.subarray(0, nul);
  if (isGet && cString.length === 1 && cString[0] === 0x23) return undefined; // GET #: the element itself
  const star = cString.indexOf(0x2a);
  if (star < 0) return undefined; // constant: nothing is looked up
  // lookupKeyByPattern: a `->` after the star (searched as a C string) with a non-empty field splits off a hash field.
  const arrow = cString.indexOf('->', star + 1);
  const suffixEnd = arrow >= 0 && arrow + 2 < cString.length ? arrow : pattern.length;
  return { prefix: pattern.subarray(0, star), suffix: pattern.subarray(star + 1, suffixEnd), pattern };
}

/** SET writes its key; with GET (anywhere after the value, as setGetKeys looks) it also returns the old value. */
function setKeys(args: readonly Buffer[]): KeyFinding {
  const get = args.slice(3).some((a) => isWord(a, 'get'));
  return { ok: true, keys: [{ key: args[1], read: get, write: true }], reached: [] };
}

/** BITFIELD is a read when every operation is GET (or OVERFLOW), as bitfieldGetKeys decides; otherwise read and write. */
function bitfieldKeys(args: readonly Buffer[]): KeyFinding {
  let readonly = true;
  for (let i = 2; i < args.length; i++) {
    const left = args.length - i - 1;
    if (isWord(args[i], 'get') && left >= 2) i += 2;
    else if (isWord(args[i], 'overflow') && left >= 1) i += 1;
    else {
      readonly = false;
      break;
    }
  }
  return { ok: true, keys: [{ key: args[1], read: true, write: !readonly }], reached: [] };
}
