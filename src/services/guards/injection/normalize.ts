// Undoes the cheap disguises of an injection before rules and classifier look at it: invisible characters, look-alike
// letters, compatibility forms, leetspeak and encoded payloads. What had to be undone is itself reported as a signal.

export type Signal = 'invisible-characters' | 'homoglyphs' | 'encoded-payload';

export interface Normalized {
  /** NFKC, invisible characters removed, look-alikes folded to ASCII, decoded payloads appended on their own lines. */
  text: string;
  /** `text` with leetspeak folded (`1gn0r3` → `ignore`), for rules and features that read words. */
  folded: string;
  /** The words folding produced, lower-cased: rules re-check the folded text only when one of them matters. */
  foldedWords: string[];
  signals: Signal[];
}

/** Zero-width and formatting characters, bidi controls, variation selectors, fillers: they render as nothing. */
const INVISIBLE = /[\u00AD\u034F\u061C\u115F\u1160\u17B4\u17B5\u180B-\u180F\u200B-\u200F\u202A-\u202E\u2060-\u206F\u3164\uFE00-\uFE0F\uFEFF\uFFA0]|\uDB40[\uDC00-\uDC7F\uDD00-\uDDEF]/g;
/** Unicode tag characters (U+E0020–E007E) mirror ASCII invisibly: "ASCII smuggling". They are decoded, not dropped. */
const TAG_CHARACTERS = /(?:\uDB40[\uDC20-\uDC7E])+/g;
/** An invisible character inside a Latin word is an evasion; a joiner inside an emoji sequence is not. */
const INVISIBLE_IN_WORD = /[A-Za-z][\u00AD\u034F\u200B-\u200F\u2060-\u2064\uFEFF]+|[\u00AD\u034F\u200B-\u200F\u2060-\u2064\uFEFF]+[A-Za-z]/;

/** The Cyrillic and Greek letters that pass for Latin ones (the common entries of Unicode's confusables list). */
const CONFUSABLES: Record<string, string> = {
  а: 'a', в: 'b', е: 'e', ё: 'e', к: 'k', м: 'm', н: 'h', о: 'o', р: 'p', с: 'c', т: 't', у: 'y', х: 'x', і: 'i', ї: 'i',
  ј: 'j', ѕ: 's', ԁ: 'd', ԛ: 'q', ԝ: 'w', һ: 'h', ӏ: 'l', ɡ: 'g', ı: 'i',
  А: 'A', В: 'B', Е: 'E', К: 'K', М: 'M', Н: 'H', О: 'O', Р: 'P', С: 'C', Т: 'T', Х: 'X', У: 'Y', І: 'I', Ј: 'J', Ѕ: 'S',
  Ԛ: 'Q', Ԝ: 'W',
  α: 'a', ο: 'o', ε: 'e', ι: 'i', κ: 'k', ν: 'v', ρ: 'p', τ: 't', υ: 'u', χ: 'x', ϲ: 'c',
  Α: 'A', Β: 'B', Ε: 'E', Ζ: 'Z', Η: 'H', Ι: 'I', Κ: 'K', Μ: 'M', Ν: 'N', Ο: 'O', Ρ: 'P', Τ: 'T', Υ: 'Y', Χ: 'X',
};
const CONFUSABLE_CLASS = `[${Object.keys(CONFUSABLES).join('')}]`;
/** A word mixing Latin letters with look-alikes: real Russian or Greek words don't contain Latin letters. */
const MIXED_WORD = new RegExp(`[\\p{L}]*(?:[A-Za-z]${CONFUSABLE_CLASS}|${CONFUSABLE_CLASS}[A-Za-z])[\\p{L}]*`, 'gu');
const CONFUSABLE = new RegExp(CONFUSABLE_CLASS, 'g');

const LEET: Record<string, string> = { '0': 'o', '1': 'i', '3': 'e', '4': 'a', '5': 's', '7': 't', '@': 'a', $: 's' };
const isLetter = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
const isLeet = (c: number) => c === 48 || c === 49 || c === 51 || c === 52 || c === 53 || c === 55 || c === 64 || c === 36; // 0 1 3 4 5 7 @ $
const isDigit = (c: number) => c >= 48 && c <= 57;
const isWordPart = (c: number) => isLetter(c) || isLeet(c) || isDigit(c);
/**
 * A leet character touching a letter. Every leetspeak word has one (it mixes both kinds and nothing else), so only the
 * words around these are examined; most text has none. Starts at the leet character, which is rare, not at the letter.
 */
const LEET_NEXT_TO_LETTER = /[013457@$](?:(?<=[A-Za-z].)|(?=[A-Za-z]))/g;

/**
 * Folds leetspeak words: letters and leet characters only, both present, three or more. Identifiers with other
 * digits (`utf8`, `sha256`, `9fceb02d`) and plain numbers are left alone. Returns the text and the words it made.
 */
export function foldLeet(text: string): { folded: string; words: string[] } {
  const words: string[] = [];
  let out = '';
  let from = 0;
  LEET_NEXT_TO_LETTER.lastIndex = 0;
  for (let m = LEET_NEXT_TO_LETTER.exec(text); m; m = LEET_NEXT_TO_LETTER.exec(text)) {
    let start = m.index;
    while (start > 0 && isWordPart(text.charCodeAt(start - 1))) start--;
    let end = m.index + 1;
    while (end < text.length && isWordPart(text.charCodeAt(end))) end++;
    LEET_NEXT_TO_LETTER.lastIndex = end; // one look at each word
    let letters = 0;
    let leet = 0;
    let other = 0;
    for (let i = start; i < end; i++) {
      const c = text.charCodeAt(i);
      if (isLetter(c)) letters++;
      else if (isLeet(c)) leet++;
      else other++;
    }
    if (letters === 0 || leet === 0 || other > 0 || end - start < 3) continue;
    const word = text.slice(start, end).replace(/[013457@$]/g, (ch) => LEET[ch]);
    words.push(word.toLowerCase());
    out += text.slice(from, start) + word;
    from = end;
  }
  return { folded: words.length ? out + text.slice(from) : text, words };
}
const NON_ASCII = /[^\x00-\x7F]/;

/** base64 and base64url: letters, digits, + / - _. */
const isBase64Char = (c: number) =>
  (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 47 || c === 45 || c === 95;
const MIN_BASE64_RUN = 16;
const HEX_RUN = /(?:\\x)?[0-9a-fA-F]{2}(?:[ :]?(?:\\x)?[0-9a-fA-F]{2}){11,}/g;
/** Every character a HEX_RUN match can hold, and the shortest match (12 pairs): such matches lie within these runs. */
const isHexRunChar = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102) || c === 32 || c === 58 || c === 92 || c === 120;
const MIN_HEX_RUN = 24;
const PERCENT_RUN = /(?:%[0-9a-fA-F]{2}){4,}/g;

/**
 * Start and end of each maximal run of at least `min` characters that are `member`s, in order. Only every `min`-th
 * character is probed while outside a run: no run that long fits between two probes that are not members, so the
 * words of prose are mostly skipped unread.
 */
function runsOf(text: string, member: (c: number) => boolean, min: number): number[] {
  const runs: number[] = [];
  for (let probe = min - 1; probe < text.length;) {
    if (!member(text.charCodeAt(probe))) {
      probe += min;
      continue;
    }
    let start = probe;
    while (start > 0 && member(text.charCodeAt(start - 1))) start--;
    let end = probe + 1;
    while (end < text.length && member(text.charCodeAt(end))) end++;
    if (end - start >= min) runs.push(start, end);
    probe = end + min;
  }
  return runs;
}

/** Decoded bytes count as a hidden message only if they read as text: printable, with words and spaces. */
function readable(decoded: string): boolean {
  if (decoded.length < 8 || decoded.includes('\uFFFD')) return false;
  const printable = decoded.replace(/[^\x20-\x7E\n\t\u00A0-\uFFFF]/g, '').length;
  return printable / decoded.length > 0.95 && /[A-Za-z]{2,}[^A-Za-z]+[A-Za-z]{2,}/.test(decoded) && /\s/.test(decoded);
}

/**
 * The base64 runs (16+ characters) and hex runs (12+ bytes, optionally spaced or `\x`-prefixed) of `text`, in order:
 * what might be an encoded message. Found by a char loop rather than by regexes that would retry inside every word;
 * the hex regex runs only on stretches of its own characters long enough to hold a match.
 */
export function encodedRuns(text: string): { base64: string[]; hex: string[] } {
  const base64: string[] = [];
  const hex: string[] = [];
  const base64Runs = runsOf(text, isBase64Char, MIN_BASE64_RUN);
  for (let k = 0; k < base64Runs.length; k += 2) base64.push(text.slice(base64Runs[k], base64Runs[k + 1]));
  const hexRuns = runsOf(text, isHexRunChar, MIN_HEX_RUN);
  for (let k = 0; k < hexRuns.length; k += 2) {
    for (const m of text.slice(hexRuns[k], hexRuns[k + 1]).matchAll(HEX_RUN)) hex.push(m[0]);
  }
  return { base64, hex };
}

/** Base64, hex and percent-encoded payloads that decode to readable text. */
function decodePayloads(text: string): string[] {
  const found: string[] = [];
  const { base64, hex } = encodedRuns(text);
  for (const run of base64) {
    const decoded = Buffer.from(run.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8');
    if (readable(decoded)) found.push(decoded);
  }
  for (const run of hex) {
    const decoded = Buffer.from(run.replace(/\\x|[ :]/g, ''), 'hex').toString('utf8');
    if (readable(decoded)) found.push(decoded);
  }
  for (const m of text.matchAll(PERCENT_RUN)) {
    try {
      const decoded = decodeURIComponent(m[0]);
      if (readable(decoded)) found.push(decoded);
    } catch {
      // not UTF-8 once decoded: not a message
    }
  }
  return found;
}

function clean(text: string, signals: Set<Signal>): string {
  if (!NON_ASCII.test(text)) return text; // every disguise below needs characters outside ASCII
  const smuggled = text.match(TAG_CHARACTERS);
  if (smuggled) signals.add('invisible-characters');
  let out = text.replace(TAG_CHARACTERS, '');
  if (INVISIBLE_IN_WORD.test(out)) signals.add('invisible-characters');
  out = out.replace(INVISIBLE, '').normalize('NFKC');
  out = out.replace(MIXED_WORD, (word) => {
    signals.add('homoglyphs');
    return word.replace(CONFUSABLE, (ch) => CONFUSABLES[ch] ?? ch);
  });
  // Smuggled ASCII is shown, on its own line, as what it says.
  const decodedTags = (smuggled ?? []).map((run) => String.fromCharCode(...[...run].map((ch) => (ch.codePointAt(0) ?? 0) - 0xe0000)));
  return [out, ...decodedTags].join('\n');
}

export function normalize(input: string): Normalized {
  const signals = new Set<Signal>();
  let text = clean(input, signals);
  const payloads = decodePayloads(text).map((p) => clean(p, signals));
  if (payloads.length > 0) {
    signals.add('encoded-payload');
    text = [text, ...payloads].join('\n');
  }
  const { folded, words } = foldLeet(text);
  return { text, folded, foldedWords: words, signals: [...signals] };
}
