// Redacts text that arrives in chunks (streamed LLM completions): everything that can no longer be part of a match is
// emitted at once; only a tail that a match could still need is held back until the next chunk or flush().
//
// Linear in the length of the stream, however it is chunked: the held-back tail is at most MAX_HOLD characters (a
// longer one leaves, redacted as far as it can be judged); a short tail (under LONG_HOLD) is judged again with every
// chunk, a long one only once it has doubled — so each character costs at most LONG_HOLD steps, amortised. That is why
// a stream has no scan budget: no chunk costs more than a bounded amount, however long the stream runs.
import { CONTEXT_CHARS, detect } from './detectors.ts';
import { assertKey, maskAs, type MaskOptions } from './mask.ts';
import type { Finding, MaskStrategy } from './types.ts';

export interface StreamRedactor {
  /** Feeds a chunk; returns the masked text that is now safe to send (possibly empty). */
  push(chunk: string): string;
  /** Ends the stream; returns whatever was held back, masked. */
  flush(): string;
  /** Everything found so far, with offsets into the whole original stream. */
  readonly findings: Finding[];
}

/** Emitted text kept as look-behind, for detectors that read what precedes a match (`Phone: `, `password = `). */
const LOOK_BEHIND = Math.max(CONTEXT_CHARS, 64);
/** The longest tail held back: more than any secret is long (a PEM private key of 8,192 bits is about 6.5 KB). */
const MAX_HOLD = 16 * 1024;
/** A tail held back at least this long (a private key, a giant word) is judged again only when it has doubled. */
const LONG_HOLD = 1024;
/** No spaced number (card, phone, IBAN) has more groups than this: the held-back groups stop there. */
const MAX_HELD_GROUPS = 9;

/** One group of a spaced phone, card or IBAN: `4111`, `(0)69`, `+41`, `WEST`. */
const NUMBER_GROUP = /^[+(]*[0-9A-Za-z()]{1,8}[.-]?$/;
const hasDigit = (s: string) => /\d/.test(s);
/** Could `group` be one group of a spaced number (`4111`, `(0)69`, four letters of an IBAN) — or the start of one? */
const numberish = (group: string, complete: boolean) =>
  NUMBER_GROUP.test(group) && (hasDigit(group) || (complete ? /^[A-Za-z]{4}$/ : /^[A-Za-z]{1,4}$/).test(group));
/** Could `group` be followed by `after` (or, when `after` is empty, by a group still to come) in one spaced number? */
const continues = (group: string, after: string) =>
  NUMBER_GROUP.test(group) && (hasDigit(group) || /^[A-Z]{4}$/.test(group) || (/^[A-Za-z]{4}$/.test(group) && hasDigit(after)));

/** A secret's value opened with a quote on the last line and not yet closed: `password = "correct horse …`. */
const OPEN_QUOTED_SECRET = /(?:pass|pwd|secret|token|key|auth|credential)[\w.-]*["'`]?(?:[ \t]*(?:[:=]{1,3}|=>|\(|,)[ \t]*@?|[ \t]+)(["'`])[^"'`\n]*$/i;
/** The start of a PEM header, cut anywhere: `-`, `-----BEG`, `-----BEGIN RSA PRI`. */
const PARTIAL_PEM_HEADER = /-{1,5}(?:B(?:E(?:G(?:I(?:N(?: [A-Z0-9 ]*)?)?)?)?)?)?$/;

const PEM_FOOTER = /-----END [A-Z0-9 ]+-----/;

const isQuote = (c: number) => c === 34 || c === 39 || c === 96; // " ' `
const isSpace = (c: number) => c === 32 || (c >= 9 && c <= 13) || c === 0xa0 || c === 0x2028 || c === 0x2029;

const startOfRun = (text: string, end: number) => {
  let i = end;
  while (i > 0 && !isSpace(text.charCodeAt(i - 1))) i--;
  return i;
};

/**
 * Where the held-back tail of `text` starts, judging by its shape alone: the last word (any token may still grow),
 * spaced digit groups that may continue, an open quoted secret, a private key without its END line.
 */
function holdFrom(text: string): number {
  let cut = text.length;
  // The last word may be the start of any token, and spaced digit groups may continue: `4111 1111 ` + `1111 1111`.
  let i = startOfRun(text, text.length);
  let after = text.slice(i);
  let complete = false; // the last word may be cut short: `WE` of `WEST`
  for (let groups = 0; groups < MAX_HELD_GROUPS && text[i - 1] === ' ' && text[i - 2] !== ' ' && (after === '' || numberish(after, complete)); groups++) {
    const start = startOfRun(text, i - 1);
    const group = text.slice(start, i - 1);
    if (!continues(group, after)) break;
    [after, i, complete] = [group, start, true];
  }
  cut = Math.min(cut, i);

  // One step back over the last line finds where it starts and its last quote (lastIndexOf is a slow runtime call).
  let lastLine = text.length;
  let quote = -1;
  for (; lastLine > 0 && text.charCodeAt(lastLine - 1) !== 10; lastLine--) {
    if (quote < 0 && isQuote(text.charCodeAt(lastLine - 1))) quote = lastLine - 1;
  }
  // The opening quote of an unfinished value is the last quote of the line; its keyword stands just before it.
  const openQuote = quote >= 0 && OPEN_QUOTED_SECRET.exec(text.slice(Math.max(lastLine, quote - 80)));
  if (openQuote) cut = Math.min(cut, text.length - openQuote[0].length);
  const pemHeader = text.indexOf('-', Math.max(lastLine, text.length - 48)) >= 0 && PARTIAL_PEM_HEADER.exec(text.slice(Math.max(lastLine, text.length - 48)));
  if (pemHeader) cut = Math.min(cut, text.length - pemHeader[0].length);
  // A private key is held whole until its END line: a key must not leave in pieces. (includes() first: it is fast.)
  const begin = text.includes('-----BEGIN ') ? text.lastIndexOf('-----BEGIN ') : -1;
  if (begin >= 0 && !PEM_FOOTER.test(text.slice(begin))) cut = Math.min(cut, begin);
  return cut;
}

export function createStreamRedactor(opts: MaskOptions & { strategy: MaskStrategy }): StreamRedactor {
  assertKey(opts.key);
  const findings: Finding[] = [];
  let behind = ''; // the tail of already emitted original text
  let pending = ''; // original text not emitted yet
  let offset = 0; // position of pending[0] in the whole stream
  let judged = 0; // how much was held back when the tail was last judged

  function drain(final: boolean): string {
    const text = behind + pending;
    const base = behind.length;
    let cut = final ? text.length : Math.max(base, holdFrom(text), text.length - MAX_HOLD);
    judged = text.length - cut; // what stays held: if it is long, it is judged again only once it has doubled
    if (cut === base) return ''; // nothing can leave yet: no need to look for findings
    const found = detect(text, { types: opts.types }).filter((f) => f.end > base);
    for (const f of found) {
      // A finding that reaches the end may still grow (`john@example.co` + `m`); none may be split.
      if (!final && f.end === text.length) cut = Math.min(cut, Math.max(base, f.start));
      if (f.start < cut && f.end > cut) cut = Math.max(base, f.start);
    }
    if (cut === base) return '';

    let out = '';
    let from = base;
    for (const f of found) {
      if (f.start >= cut) break;
      // A finding that began in already emitted text (only possible for look-behind-sized context) is masked from here on.
      const start = Math.max(f.start, base);
      out += text.slice(from, start) + maskAs(f.value, f.type, opts.strategy, opts.key);
      findings.push({ ...f, start: offset + f.start - base, end: offset + f.end - base });
      from = f.end;
    }
    out += text.slice(from, cut);
    behind = text.slice(Math.max(0, cut - LOOK_BEHIND), cut);
    pending = text.slice(cut);
    offset += cut - base;
    judged = pending.length;
    return out;
  }

  return {
    push: (chunk) => {
      pending += chunk;
      // A long tail that could not leave is judged again only once it has doubled (linear whatever the chunking).
      if (judged >= LONG_HOLD && pending.length < 2 * judged) return '';
      return drain(false);
    },
    flush: () => drain(true),
    findings,
  };
}
