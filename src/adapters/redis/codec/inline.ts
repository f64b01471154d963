// Inline commands (`SET a "b c"\r\n`, what telnet sends) split into arguments exactly as Redis's sdssplitargs does.
// The gateway judges these arguments and forwards them re-encoded as a RESP array, so the server never re-parses the line.

const isSpace = (b: number) => b === 0x20 || (b >= 0x09 && b <= 0x0d);
const hexValue = (b: number) => (b >= 0x30 && b <= 0x39 ? b - 0x30 : b >= 0x61 && b <= 0x66 ? b - 0x57 : b >= 0x41 && b <= 0x46 ? b - 0x37 : -1);
const ESCAPES: Record<number, number> = { 0x6e: 0x0a, 0x72: 0x0d, 0x74: 0x09, 0x62: 0x08, 0x61: 0x07 }; // \n \r \t \b \a

/**
 * The arguments of one inline line (without its line ending), or undefined for unbalanced quotes or a closing quote
 * followed by something other than a space. The line must not contain NUL bytes (the caller refuses those: Redis
 * reads the line as a C string and would stop there).
 */
export function splitInline(line: Buffer): Buffer[] | undefined {
  const args: Buffer[] = [];
  const at = (i: number) => (i < line.length ? line[i] : 0);
  let p = 0;
  for (;;) {
    while (p < line.length && isSpace(line[p])) p++;
    if (p >= line.length) return args;
    const current: number[] = [];
    let inDouble = false;
    let inSingle = false;
    let done = false;
    while (!done) {
      const c = at(p);
      if (inDouble) {
        if (c === 0x5c && at(p + 1) === 0x78 && hexValue(at(p + 2)) >= 0 && hexValue(at(p + 3)) >= 0) {
          current.push(hexValue(at(p + 2)) * 16 + hexValue(at(p + 3)));
          p += 3;
        } else if (c === 0x5c && at(p + 1) !== 0) {
          p++;
          current.push(ESCAPES[at(p)] ?? at(p));
        } else if (c === 0x22) {
          if (at(p + 1) !== 0 && !isSpace(at(p + 1))) return undefined;
          done = true;
        } else if (c === 0) {
          return undefined;
        } else current.push(c);
      } else if (inSingle) {
        if (c === 0x5c && at(p + 1) === 0x27) {
          p++;
          current.push(0x27);
        } else if (c === 0x27) {
          if (at(p + 1) !== 0 && !isSpace(at(p + 1))) return undefined;
          done = true;
        } else if (c === 0) {
          return undefined;
        } else current.push(c);
      } else if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === 0) {
        done = true;
      } else if (c === 0x22) {
        inDouble = true;
      } else if (c === 0x27) {
        inSingle = true;
      } else current.push(c);
      if (p < line.length) p++;
    }
    args.push(Buffer.from(current));
  }
}
