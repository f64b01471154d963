// Turns normalised text into a sparse feature vector with the hashing trick: words, pairs of adjacent words and
// character 4-grams (of any script), each family scaled to unit length so a long text does not outweigh a short one.
// Each channel (user prompt, document) has a model of its own over the same features. Shared by training and scanning,
// and on the hot path of both.

export interface SparseVector {
  indices: Int32Array;
  values: Float32Array;
}

const FNV_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const GOLDEN = 0x9e3779b1;

/** Murmur3's finaliser: spreads every input bit over the whole hash, whose low bits pick the bucket. */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Letters, digits and combining marks: Indic vowel signs and viramas are inside a word, not between words. */
const LETTER_OR_DIGIT = /[\p{L}\p{N}\p{M}]/u;
/** Per UTF-16 code, whether it is a letter or digit once asked (0 unknown, 1 no, 2 yes): text in other scripts pays for
 * the Unicode test once per distinct character, not once per character read. */
const WORD_CODE = new Uint8Array(65536);

/** Word characters of lower-cased text: ASCII is decided by char code; other characters by a table filled on demand. */
export const isWordChar = (text: string, i: number) => {
  const c = text.charCodeAt(i);
  if (c < 128) return (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 39;
  let known = WORD_CODE[c];
  if (known === 0) WORD_CODE[c] = known = LETTER_OR_DIGIT.test(text[i]) ? 2 : 1;
  return known === 2;
};

/** Scratch space reused across calls: hashing allocates only the vector it returns, and scoring not even that. */
let scratch = new Uint32Array(4096);

/** Where hashText left its hashes in `scratch`: words and word pairs from 0, 4-grams from `gramBase`. */
interface Hashes {
  words: number;
  grams: number;
  gramBase: number;
}

/**
 * Hashes the words, word pairs and 4-grams of lower-cased `text` into `scratch` (valid until the next call). One pass
 * feeds both families: word hashes grow character by character, and the last four UTF-16 codes (runs of white space
 * read as one space) fit in two integers, so a 4-gram is hashed without looking back.
 */
function hashText(text: string): Hashes {
  // Words and word pairs fill the scratch space from the front, 4-grams from the middle.
  if (scratch.length < 3 * text.length + 2) scratch = new Uint32Array(6 * text.length + 2);
  const gramBase = 2 * text.length + 2;
  let words = 0;
  let grams = 0;
  let word = FNV_BASIS;
  let inWord = false;
  let previous = -1;
  let high = 0;
  let low = 0;
  let seen = 0;
  let lastWasSpace = true;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 32;
    if ((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 39 || (c >= 128 && isWordChar(text, i))) {
      if (!inWord) word = FNV_BASIS;
      inWord = true;
      word = Math.imul(word ^ c, FNV_PRIME);
    } else if (inWord) {
      scratch[words++] = mix(word);
      if (previous !== -1) scratch[words++] = mix(Math.imul(previous, GOLDEN) ^ word);
      previous = word >>> 0;
      inWord = false;
    }
    if (i === text.length) break;
    const space = c === 32 || (c >= 9 && c <= 13);
    if (space && lastWasSpace) continue;
    lastWasSpace = space;
    high = (high << 16) | (low >>> 16);
    low = (low << 16) | (space ? 32 : c);
    if (++seen >= 4) scratch[gramBase + grams++] = mix(Math.imul(high, GOLDEN) ^ low);
  }
  return { words, grams, gramBase };
}

/**
 * The hashed features of `folded` (a view of the text, leetspeak folded). Low bits of each hash pick the bucket and the
 * top bit the sign, so collisions cancel out on average instead of piling up.
 */
export function hashedFeatures(folded: string, hashBits: number): SparseVector {
  const { words, grams, gramBase } = hashText(folded.toLowerCase());
  const mask = (1 << hashBits) - 1;
  const indices = new Int32Array(words + grams);
  const values = new Float32Array(words + grams);
  const wordScale = words ? 1 / Math.sqrt(words) : 0;
  const gramScale = grams ? 1 / Math.sqrt(grams) : 0;
  for (let k = 0; k < words + grams; k++) {
    const h = k < words ? scratch[k] : scratch[gramBase + k - words];
    const scale = k < words ? wordScale : gramScale;
    indices[k] = h & mask;
    values[k] = h >>> 31 ? -scale : scale;
  }
  return { indices, values };
}

/**
 * `z` plus the dot product of `weights` with `hashedFeatures(folded, …)`, without building the vector: scanning needs
 * only the sum. The same terms in the same order — scales rounded to float32 as the vector stores them — so the result
 * is bit-identical (tested).
 */
export function hashedDot(folded: string, hashBits: number, weights: Float32Array, z: number): number {
  const { words, grams, gramBase } = hashText(folded.toLowerCase());
  const mask = (1 << hashBits) - 1;
  const wordScale = Math.fround(words ? 1 / Math.sqrt(words) : 0);
  const gramScale = Math.fround(grams ? 1 / Math.sqrt(grams) : 0);
  for (let k = 0; k < words + grams; k++) {
    const h = k < words ? scratch[k] : scratch[gramBase + k - words];
    z += weights[h & mask] * (h >>> 31 ? -(k < words ? wordScale : gramScale) : k < words ? wordScale : gramScale);
  }
  return z;
}

/** One hashed feature with what it stands for: `word`, `word pair`, or a 4-gram in quotes. For explanations only. */
export interface FeatureTerm {
  term: string;
  index: number;
  value: number;
}

/**
 * The features of `hashedFeatures(folded, hashBits)`, in the same order, each with its text: what `policy explain` shows
 * an operator. Reads the text the way hashText does (tested to give the same buckets); not on any hot path.
 */
export function featureTerms(folded: string, hashBits: number): FeatureTerm[] {
  const text = folded.toLowerCase();
  const { indices, values } = hashedFeatures(folded, hashBits);
  const words: string[] = [];
  const grams: string[] = [];
  let current = '';
  let previous: string | undefined;
  let window = '';
  let lastWasSpace = true;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 32;
    if ((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 39 || (c >= 128 && isWordChar(text, i))) {
      current += text[i];
    } else if (current) {
      words.push(current);
      if (previous !== undefined) words.push(`${previous} ${current}`);
      previous = current;
      current = '';
    }
    if (i === text.length) break;
    const space = c === 32 || (c >= 9 && c <= 13);
    if (space && lastWasSpace) continue;
    lastWasSpace = space;
    window = (window + (space ? ' ' : text[i])).slice(-4);
    if (window.length === 4) grams.push(`"${window}"`);
  }
  return [...words, ...grams].map((term, k) => ({ term, index: indices[k], value: values[k] }));
}
