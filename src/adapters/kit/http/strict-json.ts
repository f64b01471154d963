// JSON every upstream reads the same way. `{"amount":10000,"amount":5}` is 5 to JSON.parse and 10000 to parsers that keep
// the first value; `{"amount":5,"AMOUNT":10000}` is 10000 to Go's encoding/json, which matches keys case-insensitively.
// A body a rule judges is forwarded byte for byte (re-serialising would change numbers beyond 2^53, escapes and key
// order, and so what signatures and idempotency keys cover), so a body that parsers could read differently is refused.

export type StrictJson = { ok: true; value: unknown } | { ok: false; reason: string };

/** Keys as case-insensitive decoders compare them: NFKC then lower case also folds the Kelvin sign and long s, as Go's Unicode folding does. */
export const foldKey = (key: string) => key.normalize('NFKC').toLowerCase();

export function parseStrictJson(text: string): StrictJson {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'the body is not valid JSON' };
  }
  const clash = keyClash(text);
  return clash ? { ok: false, reason: `${clash}, which upstream parsers read differently` } : { ok: true, value };
}

const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/** The first object in valid JSON text whose keys repeat or fold together, described; undefined when there is none. */
function keyClash(text: string): string | undefined {
  // One entry per open container: an object's keys seen (folded → as written), or null for an array.
  const open: (Map<string, string> | null)[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x7b) open.push(new Map());
    else if (c === 0x5b) open.push(null);
    else if (c === 0x7d || c === 0x5d) open.pop();
    else if (c === 0x22) {
      // The closing quote is the first one not escaped (preceded by an even number of backslashes).
      let end = text.indexOf('"', i + 1);
      for (;;) {
        let slashes = 0;
        while (text.charCodeAt(end - 1 - slashes) === 0x5c) slashes++;
        if (slashes % 2 === 0) break;
        end = text.indexOf('"', end + 1);
      }
      const keys = open.at(-1);
      if (keys) {
        let next = end + 1;
        while (isSpace(text.charCodeAt(next))) next++;
        if (text.charCodeAt(next) === 0x3a) {
          const raw = text.slice(i + 1, end);
          const key = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
          const folded = foldKey(key);
          const seen = keys.get(folded);
          if (seen !== undefined) return seen === key ? `the key ${JSON.stringify(key)} appears twice in one object` : `the keys ${JSON.stringify(seen)} and ${JSON.stringify(key)} differ only in case`;
          keys.set(folded, key);
        }
      }
      i = end;
    }
  }
  return undefined;
}
