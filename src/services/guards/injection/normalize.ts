// Undoes the cheap disguises of an injection before rules and classifier look at it, and gives the views of a text that
// are scored on their own: invisible characters, look-alike letters, accents, compatibility forms, leetspeak, letter
// spacing, encoded payloads, text hidden in HTML. What had to be undone is itself reported as a signal.
import unhomoglyph from 'unhomoglyph';

export type Signal = 'invisible-characters' | 'homoglyphs' | 'encoded-payload' | 'letter-spacing' | 'hidden-html';

/**
 * The views of a text that are scored on their own (the highest score counts): the text itself, what Unicode tag
 * characters spell, what encoded runs decode to, the text with letter spacing collapsed, and what HTML hides from a
 * reader (comments, `alt`/`title` attributes, hidden elements).
 */
export type ViewName = 'text' | 'tags' | 'decoded' | 'spacing' | 'html-hidden';

export interface Normalized {
  /** NFKC, invisible characters removed, accents stripped, look-alikes folded to ASCII. */
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

/**
 * A word mixing ASCII letters with other letters: real Russian or Greek words hold no Latin letters, so only these are
 * folded to their confusables skeleton (Unicode TS #39, via `unhomoglyph`'s copy of confusables.txt).
 */
/** Where an ASCII letter touches another character: every mixed word has such a place, and most text none. */
const MIXED_BOUNDARY = /[A-Za-z](?=[^\x00-\x7F])|[^\x00-\x7F](?=[A-Za-z])/g;
const LETTER_OR_MARK = /[\p{L}\p{M}]/u;
/** Letters of other scripts (and symbols): Latin's own accented and extended letters (Turkish ı, Polish ł) are not disguises. */
const FOREIGN_CHAR = /[^\x00-\x7F\u00C0-\u024F\u1E00-\u1EFF]/g;
/** Accented Latin letters; their accents are stripped (Cyrillic й and the vowel signs of Indic scripts are letters). */
const ACCENTED_LATIN = /[\u00C0-\u024F\u1E00-\u1EFF]/g;
const DIACRITICS = /[\u0300-\u036F]/g;
const stripAccent = (ch: string) => ch.normalize('NFD').replace(DIACRITICS, '');

/**
 * Folds every word that mixes ASCII letters with letters of other scripts to its skeleton. Words are found from the
 * places where an ASCII letter touches a non-ASCII character, then grown to their ends: linear, whatever the script.
 */
function foldMixedWords(text: string, signals: Set<Signal>): string {
  let out = '';
  let from = 0;
  MIXED_BOUNDARY.lastIndex = 0;
  for (let m = MIXED_BOUNDARY.exec(text); m; m = MIXED_BOUNDARY.exec(text)) {
    let start = m.index;
    while (start > from && LETTER_OR_MARK.test(text[start - 1])) start--;
    let end = m.index + 1;
    while (end < text.length && LETTER_OR_MARK.test(text[end])) end++;
    MIXED_BOUNDARY.lastIndex = end;
    const word = text.slice(start, end);
    const skeleton = word.replace(FOREIGN_CHAR, skeletonChar);
    if (skeleton === word) continue;
    if (!NON_ASCII.test(skeleton)) signals.add('homoglyphs');
    out += text.slice(from, start) + skeleton;
    from = end;
  }
  return from === 0 ? text : out + text.slice(from);
}

/** One character's skeleton when it is an ASCII look-alike; the skeleton writes a capital I as `l`, so case decides. */
function skeletonChar(ch: string): string {
  const mapped = unhomoglyph(ch);
  if (mapped === ch || !/^[A-Za-z]{1,2}$/.test(mapped)) return ch;
  return mapped === 'l' && ch !== ch.toLowerCase() ? 'I' : mapped;
}

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

/** rot13 of ASCII letters: a cipher models decode on request, so attackers use it. */
const rot13 = (text: string) => text.replace(/[A-Za-z]/g, (c) => {
  const base = c <= 'Z' ? 65 : 97;
  return String.fromCharCode(((c.charCodeAt(0) - base + 13) % 26) + base);
});

/** Words so common in English (and in injections) that a text of real words holds several of them. */
const COMMON_WORDS = new Set([
  'the', 'and', 'you', 'your', 'all', 'to', 'of', 'is', 'are', 'a', 'in', 'for', 'that', 'this', 'it', 'with', 'be', 'not',
  'ignore', 'instructions', 'previous', 'system', 'prompt', 'print', 'reveal', 'say', 'now', 'tell', 'me', 'what',
]);
const commonWordCount = (text: string) => (text.toLowerCase().match(/[a-z]+/g) ?? []).filter((w) => COMMON_WORDS.has(w)).length;
/** A run of letters and spaces long enough to hold a sentence. */
const LETTER_RUN = /[A-Za-z][A-Za-z ,.'!?]{23,}/g;

/** Common English words as rot13 writes them (the, and, you, your, is, of, to, all, ignore): rot13 is worth trying. */
const ROT13_HINT = /\b(?:[Gg]ur|[Nn]aq|[Ll]bhe?|[Nn]yy|[Vv]taber|GUR|NAQ|LBH)\b/;

/** Stretches of rot13: runs of letters that hold few common words as they are and several once rotated. */
function rot13Runs(text: string): string[] {
  const found: string[] = [];
  if (!ROT13_HINT.test(text)) return found;
  for (const m of text.matchAll(LETTER_RUN)) {
    const rotated = rot13(m[0]);
    const gain = commonWordCount(rotated);
    if (gain >= 3 && gain > 2 * commonWordCount(m[0]) + 1) found.push(rotated);
  }
  return found;
}

/** A decoded string that is itself one run of encoding characters: worth decoding once more. */
const ENCODED_AGAIN = /^[A-Za-z0-9+/=_%\\x: -]{16,}$/;

/**
 * Base64, hex, percent-encoded and rot13 payloads that decode to readable text, up to two levels deep (base64 of hex
 * is still a message); what decodes to neither text nor another encoding is dropped.
 */
function decodePayloads(text: string, depth = 1): string[] {
  const found: string[] = [];
  const keep = (decoded: string) => {
    if (readable(decoded)) found.push(decoded);
    else if (depth < 2 && ENCODED_AGAIN.test(decoded)) found.push(...decodePayloads(decoded, depth + 1));
  };
  const { base64, hex } = encodedRuns(text);
  for (const run of base64) keep(Buffer.from(run.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8'));
  for (const run of hex) keep(Buffer.from(run.replace(/\\x|[ :]/g, ''), 'hex').toString('utf8'));
  if (text.includes('%')) {
    for (const m of text.matchAll(PERCENT_RUN)) {
      try {
        keep(decodeURIComponent(m[0]));
      } catch {
        // not UTF-8 once decoded: not a message
      }
    }
  }
  found.push(...rot13Runs(text));
  return found;
}

/**
 * Single letters joined by one separator (`I g n o r e`, `i.g.n.o.r.e`, `I-g-n-o-r-e`), five or more. A wider gap
 * between letters (two spaces, ` / `) is a word break.
 */
const SPACED = /(?<![\p{L}\p{N}])\p{L}(?:(?:[ \t]{1,3}|[ \t]?[.\-_*·•|/][ \t]?)\p{L}(?![\p{L}\p{N}])){4,}/gu;
const isSpacingMark = (c: number) => c === 32 || c === 46 || c === 45 || c === 95 || c === 42 || c === 124 || c === 47 || c === 183 || c === 8226;
const isLetterCode = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 0xc0 && c !== 183 && c !== 8226);

/** Four single letters in a row, each followed by one to three spacing marks: the cheap test before the regex. */
function spacedHint(text: string): boolean {
  let pairs = 0;
  for (let i = 0; i < text.length - 1;) {
    const single = isLetterCode(text.charCodeAt(i)) && (i === 0 || !isLetterCode(text.charCodeAt(i - 1))) && isSpacingMark(text.charCodeAt(i + 1));
    if (!single) {
      pairs = 0;
      i++;
      continue;
    }
    if (++pairs >= 4) return true;
    i += 2;
    for (let marks = 1; marks < 3 && i < text.length && isSpacingMark(text.charCodeAt(i)); marks++) i++;
  }
  return false;
}

/** Words a spaced-out instruction is made of: enough to cut `ignoreallpreviousinstructions` back into words. */
const SEGMENT_WORDS = new Set([
  ...COMMON_WORDS, 'an', 'as', 'at', 'by', 'do', 'if', 'or', 'so', 'up', 'no', 'my', 'we', 'i', 'am', 'on', 'any', 'every',
  'prior', 'above', 'earlier', 'instruction', 'rules', 'guidelines', 'forget', 'disregard', 'override', 'bypass', 'skip',
  'prompts', 'password', 'secret', 'key', 'admin', 'mode', 'developer', 'jailbreak', 'unrestricted', 'filter', 'filters',
  'show', 'output', 'repeat', 'write', 'send', 'give', 'from', 'on', 'are', 'were', 'new', 'task', 'act', 'pretend', 'role',
  'play', 'game', 'no', 'longer', 'assistant', 'ai', 'model', 'data', 'email', 'user', 'users', 'everything', 'hidden',
  'do', 'anything', 'restrictions', 'safety', 'policy', 'policies', 'confidential', 'leak', 'dump', 'execute', 'run', 'code',
]);
const MAX_WORD = 14;

/** Cuts letters run together into known words where it can (fewest pieces; an unknown letter costs as much as 3 words). */
function segmentWords(letters: string): string {
  const lower = letters.toLowerCase();
  const cost = new Float64Array(lower.length + 1).fill(Infinity);
  const from = new Int32Array(lower.length + 1);
  cost[0] = 0;
  for (let end = 1; end <= lower.length; end++) {
    for (let start = Math.max(0, end - MAX_WORD); start < end; start++) {
      const piece = end - start === 1 && !SEGMENT_WORDS.has(lower[start]) ? 3 : SEGMENT_WORDS.has(lower.slice(start, end)) ? 1 : Infinity;
      if (cost[start] + piece < cost[end]) {
        cost[end] = cost[start] + piece;
        from[end] = start;
      }
    }
  }
  const words: string[] = [];
  for (let end = lower.length; end > 0; end = from[end]) words.unshift(letters.slice(from[end], end));
  // Unknown letters stay together.
  return words.reduce((out, w, i) => (i > 0 && w.length === 1 && words[i - 1].length === 1 && !SEGMENT_WORDS.has(w.toLowerCase()) ? out + w : out + (i ? ' ' : '') + w), '');
}

/** The text with every letter-spaced run collapsed into words, or undefined when it has none. */
function collapseSpacing(text: string): string | undefined {
  if (!spacedHint(text)) return undefined;
  let changed = false;
  const out = text.replace(SPACED, (run) => {
    const gaps = run.match(/[^\p{L}]+/gu) ?? [];
    const narrowest = Math.min(...gaps.map((g) => g.length));
    // A gap wider than the narrowest is a word break; when all are equal, the words are run together.
    const joined = run.split(/([^\p{L}]+)/u).map((part, i) => (i % 2 === 0 ? part : part.length > narrowest ? ' ' : '')).join('');
    changed = true;
    return joined.split(' ').map((w) => (w.length > 3 && /^[A-Za-z]+$/.test(w) ? segmentWords(w) : w)).join(' ');
  });
  return changed ? out : undefined;
}

/** Where HTML hides text from the person who views the page but not from a model that reads its source. */
const HTML_COMMENT = /<!--([\s\S]{0,4000}?)-->/g;
const HTML_TEXT_ATTRIBUTE = /\b(?:alt|title|aria-label|data-[\w-]+)\s*=\s*(?:"([^"]{1,2000})"|'([^']{1,2000})')/gi;
const HTML_HIDDEN_ELEMENT = /<(\w+)\b[^>]{0,300}?(?:\bhidden\b|display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0|opacity\s*:\s*0(?![.\d]))[^>]{0,300}>([\s\S]{0,4000}?)<\/\1\s*>/gi;
const HTML_HINT = /<!--|\b(?:alt|title|aria-label|data-[\w-]+)\s*=|hidden|display\s*:\s*none|font-size\s*:\s*0|opacity\s*:\s*0/i;

/** The hidden text of an HTML page (comments, text attributes, hidden elements), one item a line; undefined if none. */
function hiddenHtml(text: string): string | undefined {
  if (!text.includes('<') || !HTML_HINT.test(text)) return undefined;
  const found: string[] = [];
  for (const m of text.matchAll(HTML_COMMENT)) found.push(m[1].trim());
  for (const m of text.matchAll(HTML_TEXT_ATTRIBUTE)) found.push((m[1] ?? m[2]).trim());
  for (const m of text.matchAll(HTML_HIDDEN_ELEMENT)) found.push(m[2].replace(/<[^>]{0,300}>/g, ' ').trim());
  const lines = found.filter((f) => /\p{L}{2}/u.test(f));
  return lines.length ? lines.join('\n') : undefined;
}

function clean(text: string, signals: Set<Signal>): { text: string; tags: string[] } {
  if (!NON_ASCII.test(text)) return { text, tags: [] }; // every disguise below needs characters outside ASCII
  const smuggled = text.match(TAG_CHARACTERS);
  if (smuggled) signals.add('invisible-characters');
  let out = text.replace(TAG_CHARACTERS, '').replace(/^\uFEFF/, ''); // a byte-order mark opening a file hides nothing
  if (INVISIBLE_IN_WORD.test(out)) signals.add('invisible-characters');
  out = out.replace(INVISIBLE, '').normalize('NFKC');
  out = out.replace(ACCENTED_LATIN, stripAccent);
  out = foldMixedWords(out, signals);
  // Smuggled ASCII is its own view: what it says.
  const tags = (smuggled ?? []).map((run) => String.fromCharCode(...[...run].map((ch) => (ch.codePointAt(0) ?? 0) - 0xe0000)));
  return { text: out, tags };
}

const view = (text: string, signals: Signal[]): Normalized => {
  const { folded, words } = foldLeet(text);
  return { text, folded, foldedWords: words, signals };
};

/** The text itself, normalised: NFKC, invisible characters removed, accents stripped, look-alikes folded, leet folded. */
export function normalize(input: string): Normalized {
  const signals = new Set<Signal>();
  return view(clean(input, signals).text, [...signals]);
}

/**
 * Every view of `input` worth scoring: the normalised text, and only those other views that differ from it, so clean
 * text costs one pass. Each view carries the signals of all (what had to be undone says something about the whole).
 */
export function views(input: string): { name: ViewName; n: Normalized }[] {
  const signals = new Set<Signal>();
  const { text, tags } = clean(input, signals);
  const extra: [ViewName, string][] = [];
  if (tags.length) extra.push(['tags', tags.map((t) => clean(t, signals).text).join('\n')]);
  const payloads = decodePayloads(text).map((p) => clean(p, signals).text);
  if (payloads.length) {
    signals.add('encoded-payload');
    extra.push(['decoded', payloads.join('\n')]);
  }
  const spaced = collapseSpacing(text);
  if (spaced !== undefined) {
    signals.add('letter-spacing');
    extra.push(['spacing', spaced]);
  }
  const hidden = hiddenHtml(text);
  if (hidden !== undefined) {
    signals.add('hidden-html');
    extra.push(['html-hidden', hidden]);
  }
  const all = [...signals];
  return [{ name: 'text', n: view(text, all) }, ...extra.map(([name, t]) => ({ name, n: view(t, all) }))];
}
