// RESP2 values, the frames the gateway writes itself, and the strict integer syntax Redis accepts on the wire.

export const CR = 0x0d;
export const LF = 0x0a;

/** The first byte of every RESP2 reply. */
export const Type = {
  Simple: 0x2b, // +
  Error: 0x2d, // -
  Integer: 0x3a, // :
  Bulk: 0x24, // $
  Array: 0x2a, // *
} as const;

/**
 * The peer broke RESP. The gateway answers `-ERR Protocol error: ...` (as Redis does) and closes the connection:
 * after a framing error the byte stream cannot be trusted to resynchronise.
 */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
}

/** A simple string, an error or an integer, kept as its Latin-1 text so a re-encoded reply is byte-identical. */
export interface Line {
  readonly type: typeof Type.Simple | typeof Type.Error | typeof Type.Integer;
  readonly text: string;
}
/** `*-1`: a nil array, distinct from a nil bulk string (`$-1`, which is `null`). */
export const NIL_ARRAY = Symbol('nil array');
export type RespValue = Line | Buffer | null | typeof NIL_ARRAY | RespValue[];

const LONG_MAX = 9223372036854775807n;

/**
 * Redis's `string2ll`: an optional `-`, no `+`, no spaces, no leading zeros, no `-0`, fits in 64 bits. Anything else
 * is not a number to Redis, so it must not be one to us (a looser parse would disagree with the server about a count).
 * Values beyond 2^53 come back rounded: callers only compare them against small limits.
 */
export function parseInteger(bytes: Buffer, start = 0, end = bytes.length): number | undefined {
  const length = end - start;
  if (length === 0 || length >= 21) return undefined;
  if (length === 1 && bytes[start] === 0x30) return 0;
  let i = start;
  const negative = bytes[i] === 0x2d;
  if (negative && ++i === end) return undefined;
  if (bytes[i] < 0x31 || bytes[i] > 0x39) return undefined;
  let value = 0;
  for (; i < end; i++) {
    const digit = bytes[i] - 0x30;
    if (digit < 0 || digit > 9) return undefined;
    value = value * 10 + digit;
  }
  // Only a 19- or 20-digit number can leave int64; check those exactly.
  if (value > Number.MAX_SAFE_INTEGER) {
    const exact = BigInt(bytes.toString('latin1', negative ? start + 1 : start, end));
    if (exact > (negative ? LONG_MAX + 1n : LONG_MAX)) return undefined;
    value = Number(exact);
  }
  return negative ? -value : value;
}

/** C's `strcasecmp(arg, word)` for a lower-case ASCII word: Redis stops at a NUL byte, so `"STORE\0x"` is `store`. */
export function isWord(arg: Buffer, word: string): boolean {
  let end = arg.indexOf(0);
  if (end < 0) end = arg.length;
  if (end !== word.length) return false;
  for (let i = 0; i < end; i++) {
    const b = arg[i];
    const w = word.charCodeAt(i);
    if (b !== w && !(b >= 0x41 && b <= 0x5a && (b | 0x20) === w)) return false;
  }
  return true;
}

/** ASCII lower case of a command name; non-ASCII bytes stay as they are (and then name no command). */
export function asciiLower(bytes: Buffer): string {
  let upper = false;
  for (let i = 0; i < bytes.length; i++) if (bytes[i] >= 0x41 && bytes[i] <= 0x5a) { upper = true; break; }
  const text = bytes.toString('latin1');
  return upper ? text.replace(/[A-Z]+/g, (s) => s.toLowerCase()) : text;
}

/** Text for humans and the audit: UTF-8 when it is, otherwise `\xNN` escapes; never a raw control byte. */
export function printable(bytes: Buffer): string {
  // Most names are plain printable ASCII: one pass over the bytes, no decoding twice.
  let plain = true;
  for (let i = 0; i < bytes.length; i++) if (bytes[i] < 0x20 || bytes[i] > 0x7e || bytes[i] === 0x5c) { plain = false; break; }
  if (plain) return bytes.toString('latin1');
  const text = bytes.toString('utf8');
  // U+FFFD appears when the bytes were not valid UTF-8; escape byte by byte then.
  if (!text.includes('\uFFFD') && !/[\x00-\x1f\x7f]/.test(text)) return text;
  let out = '';
  for (const b of bytes) out += b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  return out;
}

// ---- encoders ---------------------------------------------------------------------------------------------------

const CRLF = Buffer.from('\r\n');

/** A command as a RESP array of bulk strings: what the gateway forwards for an inline command, and sends itself. */
export function encodeCommand(args: readonly (Buffer | string)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = typeof arg === 'string' ? Buffer.from(arg) : arg;
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, CRLF);
  }
  return Buffer.concat(parts);
}

/** An error reply. Text that came from outside (key names...) cannot break the frame: CR/LF become spaces. */
export function errorReply(text: string): Buffer {
  return Buffer.from(`-${text.replace(/[\r\n]+/g, ' ')}\r\n`);
}

export const simpleReply = (text: string) => Buffer.from(`+${text}\r\n`);

/** Re-encodes a decoded reply (after filtering or redaction). Lines keep their original text. */
export function encodeReply(value: RespValue): Buffer {
  const parts: Buffer[] = [];
  const walk = (v: RespValue) => {
    if (v === null) parts.push(NIL_BULK);
    else if (v === NIL_ARRAY) parts.push(NIL_ARRAY_BYTES);
    else if (Buffer.isBuffer(v)) parts.push(Buffer.from(`$${v.length}\r\n`), v, CRLF);
    else if (Array.isArray(v)) {
      parts.push(Buffer.from(`*${v.length}\r\n`));
      for (const item of v) walk(item);
    } else parts.push(Buffer.from(`${String.fromCharCode(v.type)}${v.text}\r\n`, 'latin1'));
  };
  walk(value);
  return Buffer.concat(parts);
}

/** Frames written often, built once. Never mutate them. */
export const OK = simpleReply('OK');
export const NIL_BULK = Buffer.from('$-1\r\n');
const NIL_ARRAY_BYTES = Buffer.from('*-1\r\n');
