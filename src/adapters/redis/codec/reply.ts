// Splits what the upstream sends into whole replies (without decoding them), and decodes one when it must be looked into.

import { CR, LF, NIL_ARRAY, ProtocolError, Type, parseInteger, type Line, type RespValue } from './resp.ts';

export interface ReplyLimits {
  /** Bytes in one reply, framing included. */
  maxReplyBytes: number;
  /** Arrays inside arrays (COMMAND and XINFO ... FULL nest about six deep). */
  maxDepth: number;
}

export const DEFAULT_REPLY_LIMITS: ReplyLimits = { maxReplyBytes: 512 * 1024 * 1024, maxDepth: 32 };

const HEADER_MAX = 23; // `$<int64>\r\n`
// Simple strings and errors are single lines; Redis keeps them short, but INFO-like text comes as bulk strings anyway.
const LINE_MAX = 64 * 1024;
const INITIAL_STORE = 16 * 1024;
const EMPTY = Buffer.alloc(0);

export class ReplyReader {
  private store: Buffer = EMPTY;
  private buffer: Buffer = EMPTY;
  private start = 0;
  private end = 0;
  /** Scan progress inside the reply at `start`, so a large reply arriving in many chunks is scanned once. */
  private pos = 0;
  /** Elements still expected by each open array, innermost last. */
  private readonly open: number[] = [];

  constructor(private readonly limits: ReplyLimits = DEFAULT_REPLY_LIMITS) {}

  get buffered(): number {
    return this.end - this.start;
  }

  push(chunk: Buffer): void {
    if (this.start === this.end) {
      this.buffer = chunk;
      this.start = this.pos = 0;
      this.end = chunk.length;
      return;
    }
    if (this.buffer === this.store && this.store.length - this.end >= chunk.length) {
      chunk.copy(this.store, this.end);
      this.end += chunk.length;
      return;
    }
    // Never compacted in place: replies already returned may still be referenced (queued for a slow client).
    const leftover = this.end - this.start;
    const store = Buffer.allocUnsafe(Math.max(INITIAL_STORE, 2 * (leftover + chunk.length)));
    this.buffer.copy(store, 0, this.start, this.end);
    chunk.copy(store, leftover);
    this.pos -= this.start;
    this.store = this.buffer = store;
    this.start = 0;
    this.end = leftover + chunk.length;
  }

  /** The bytes of the next whole reply (a view that stays valid), or undefined to wait. Throws ProtocolError. */
  next(): Buffer | undefined {
    const { buffer, open } = this;
    if (this.pos < this.start) this.pos = this.start;
    while (this.pos < this.end) {
      const at = this.pos;
      const type = buffer[at];
      const cr = this.lineEnd(at, type === Type.Simple || type === Type.Error ? LINE_MAX : HEADER_MAX);
      if (cr === undefined) return undefined;
      let after = cr + 2;
      if (type === Type.Bulk) {
        const length = parseInteger(buffer, at + 1, cr);
        if (length === undefined || length < -1) throw new ProtocolError(`invalid bulk length from the server`);
        if (length >= 0) {
          after += length + 2;
          if (after - this.start > this.limits.maxReplyBytes) throw new ProtocolError(`reply larger than ${this.limits.maxReplyBytes} bytes`);
          if (after > this.end) return undefined;
          if (buffer[after - 2] !== CR || buffer[after - 1] !== LF) throw new ProtocolError('bulk string from the server not terminated by CRLF');
        }
      } else if (type === Type.Array) {
        const count = parseInteger(buffer, at + 1, cr);
        if (count === undefined || count < -1) throw new ProtocolError('invalid array length from the server');
        if (count > 0) {
          if (open.length >= this.limits.maxDepth) throw new ProtocolError(`reply nested deeper than ${this.limits.maxDepth} arrays`);
          open.push(count + 1); // +1: the element that just ended is decremented below like any other
        }
      } else if (type === Type.Integer) {
        if (parseInteger(buffer, at + 1, cr) === undefined) throw new ProtocolError('invalid integer from the server');
      } else if (type !== Type.Simple && type !== Type.Error) {
        throw new ProtocolError(`unexpected reply type byte 0x${type.toString(16).padStart(2, '0')} from the server`);
      }
      this.pos = after;
      if (after - this.start > this.limits.maxReplyBytes) throw new ProtocolError(`reply larger than ${this.limits.maxReplyBytes} bytes`);
      // One element ended: close every array it completes.
      while (open.length && --open[open.length - 1] === 0) open.pop();
      if (open.length === 0) {
        const reply = buffer.subarray(this.start, after);
        this.start = after;
        if (this.start === this.end) {
          this.buffer = EMPTY;
          this.start = this.end = this.pos = 0;
        }
        return reply;
      }
    }
    return undefined;
  }

  private lineEnd(at: number, max: number): number | undefined {
    const limit = Math.min(this.end, at + max);
    const cr = this.buffer.indexOf(CR, at + 1);
    if (cr < 0 || cr >= limit) {
      if (limit - at >= max) throw new ProtocolError('reply line from the server too long or not terminated');
      return undefined;
    }
    if (cr + 1 >= this.end) return undefined;
    if (this.buffer[cr + 1] !== LF) throw new ProtocolError('reply line from the server not terminated by CRLF');
    return cr;
  }
}

/** Decodes one whole reply as returned by `ReplyReader.next()` (so already bounded in size and depth). */
export function decodeReply(bytes: Buffer): RespValue {
  let pos = 0;
  const read = (): RespValue => {
    const type = bytes[pos];
    const from = pos + 1;
    const cr = bytes.indexOf(CR, from);
    pos = cr + 2;
    if (type === Type.Bulk || type === Type.Array) {
      const length = Number(bytes.toString('latin1', from, cr));
      if (type === Type.Bulk) {
        if (length < 0) return null;
        pos += length + 2;
        return bytes.subarray(pos - length - 2, pos - 2);
      }
      if (length < 0) return NIL_ARRAY;
      const items = new Array<RespValue>(length);
      for (let i = 0; i < length; i++) items[i] = read();
      return items;
    }
    // Latin-1 both ways, so a line re-encoded by `encodeReply` is byte-identical whatever it held.
    return { type, text: bytes.toString('latin1', from, cr) } as Line;
  };
  return read();
}
