// Turns normalised text into a sparse feature vector with the hashing trick: words, pairs of adjacent words and
// character 4-grams, each family scaled to unit length so a long text does not outweigh a short one. Every feature is
// emitted twice — into shared buckets and into buckets of one source — so the model can learn what is suspicious
// everywhere and what only in, say, a document. Shared by training and scanning, and on the hot path of both.

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

const LETTER_OR_DIGIT = /[\p{L}\p{N}]/u;
/** Word characters of lower-cased text: ASCII is decided by char code; only other characters pay for a Unicode test. */
export const isWordChar = (text: string, i: number) => {
  const c = text.charCodeAt(i);
  return (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 39 || (c >= 128 && LETTER_OR_DIGIT.test(text[i]));
};

/** Scratch space reused across calls: hashing allocates only the vector it returns. */
let scratch = new Uint32Array(4096);

/** `folded` is the leetspeak-folded normalised text, `ownSeed` picks the source's private buckets. */
export function hashedFeatures(folded: string, hashBits: number, ownSeed: number): SparseVector {
  const text = folded.toLowerCase();
  const mask = (1 << hashBits) - 1;
  if (scratch.length < 3 * text.length) scratch = new Uint32Array(6 * text.length);

  // Words and pairs of adjacent words, from the front of the scratch space.
  let words = 0;
  let previous = -1;
  for (let i = 0; i < text.length;) {
    if (!isWordChar(text, i)) {
      i++;
      continue;
    }
    let h = FNV_BASIS;
    for (; i < text.length && isWordChar(text, i); i++) h = Math.imul(h ^ text.charCodeAt(i), FNV_PRIME);
    scratch[words++] = mix(h);
    if (previous !== -1) scratch[words++] = mix(Math.imul(previous, GOLDEN) ^ h);
    previous = h >>> 0;
  }

  // Character 4-grams, runs of white space read as one space. The last four UTF-16 codes fit in two integers, so a
  // 4-gram is hashed without looking back at the text.
  let grams = 0;
  let high = 0;
  let low = 0;
  let seen = 0;
  let lastWasSpace = true;
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    const space = c === 32 || (c >= 9 && c <= 13);
    if (space && lastWasSpace) continue;
    if (space) c = 32;
    lastWasSpace = space;
    high = (high << 16) | (low >>> 16);
    low = (low << 16) | c;
    if (++seen >= 4) scratch[words + grams++] = mix(Math.imul(high, GOLDEN) ^ low);
  }

  const indices = new Int32Array(2 * (words + grams));
  const values = new Float32Array(2 * (words + grams));
  let n = 0;
  for (const [from, count] of [[0, words], [words, grams]]) {
    const scale = count ? 1 / Math.sqrt(count) : 0;
    for (let k = from; k < from + count; k++) {
      // Low bits pick the shared bucket and the top bit the sign, so collisions cancel out on average instead of
      // piling up; the source's own bucket comes from the same hash, multiplied again.
      const h = scratch[k];
      indices[n] = h & mask;
      values[n++] = h >>> 31 ? -scale : scale;
      const own = (Math.imul(h, GOLDEN) ^ ownSeed) >>> 0;
      indices[n] = (own >>> 8) & mask;
      values[n++] = own & 1 ? -scale : scale;
    }
  }
  return { indices, values };
}
