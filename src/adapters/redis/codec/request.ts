// Splits what a client sends into commands, however the bytes are chunked, with every length bounded before it is trusted.

import { splitInline } from './inline.ts';
import { CR, LF, ProtocolError, Type, parseInteger } from './resp.ts';

export interface Command {
  /** The command name first, then its arguments. Views into received bytes the reader never overwrites: safe to keep. */
  readonly args: Buffer[];
  /**
   * The exact bytes of a RESP array, to forward unmodified. Undefined for an inline command: forward its arguments
   * re-encoded (`encodeCommand`), so the server parses exactly what was judged.
   */
  readonly raw: Buffer | undefined;
}

export interface RequestLimits {
  /** Arguments in one command, the name included. */
  maxArgs: number;
  /** Bytes in one argument. */
  maxArgBytes: number;
  /** Bytes in one command, framing included. */
  maxCommandBytes: number;
}

/** Before AUTH a client gets what Redis gives an unauthenticated one: 10 arguments of at most 16 KiB. */
export const UNAUTHENTICATED: RequestLimits = { maxArgs: 10, maxArgBytes: 16 * 1024, maxCommandBytes: 10 * (16 * 1024 + 32) };

// Redis's PROTO_INLINE_MAX_SIZE: an inline line longer than this is refused.
const INLINE_MAX = 64 * 1024;
// `*<int64>\r\n` and `$<int64>\r\n` need at most 1 + 20 + 2 bytes; a longer header line is malformed.
const HEADER_MAX = 23;
const INITIAL_STORE = 16 * 1024;
const EMPTY = Buffer.alloc(0);

/** A RESP array being read: how many arguments it declared, and those read so far (offsets from the frame start). */
interface Partial {
  count: number;
  /** Where the next argument header starts, from the frame start. */
  pos: number;
  offsets: number[];
}

export class RequestReader {
  limits: RequestLimits;
  /** Memory we own, used only when a command straddles chunks. */
  private store: Buffer = EMPTY;
  /** Where unread bytes live: a borrowed chunk, or `store`. */
  private buffer: Buffer = EMPTY;
  private start = 0;
  private end = 0;
  private partial: Partial | undefined;

  constructor(limits: RequestLimits = UNAUTHENTICATED) {
    this.limits = limits;
  }

  /** Bytes received and not yet returned as commands. */
  get buffered(): number {
    return this.end - this.start;
  }

  push(chunk: Buffer): void {
    if (this.start === this.end) {
      // Most chunks end on a command boundary: borrow the chunk instead of copying it in.
      this.buffer = chunk;
      this.start = 0;
      this.end = chunk.length;
      return;
    }
    if (this.buffer === this.store && this.store.length - this.end >= chunk.length) {
      // Bytes past `end` were never handed out, so appending there cannot change a view a caller holds.
      chunk.copy(this.store, this.end);
      this.end += chunk.length;
      return;
    }
    // A fresh store rather than compacting in place: commands already returned may still point into the old one.
    const leftover = this.end - this.start;
    const store = Buffer.allocUnsafe(Math.max(INITIAL_STORE, 2 * (leftover + chunk.length)));
    this.buffer.copy(store, 0, this.start, this.end);
    chunk.copy(store, leftover);
    this.store = this.buffer = store;
    this.start = 0;
    this.end = leftover + chunk.length;
  }

  /** The next whole command, or undefined to wait for more bytes. Throws ProtocolError; the connection must then close. */
  next(): Command | undefined {
    for (;;) {
      if (this.partial) return this.readArguments(this.partial);
      if (this.start === this.end) return undefined;
      if (this.buffer[this.start] !== Type.Array) {
        const line = this.readInline();
        if (line === undefined || line.args.length) return line;
        continue; // an empty line is skipped, as Redis does
      }
      const header = this.line(this.start, 'multibulk count');
      if (header === undefined) return undefined;
      const count = parseInteger(this.buffer, this.start + 1, header);
      if (count === undefined || count > 0x7fffffff) throw new ProtocolError('Protocol error: invalid multibulk length');
      if (count > this.limits.maxArgs) {
        throw new ProtocolError(this.limits === UNAUTHENTICATED ? 'Protocol error: unauthenticated multibulk length' : `Protocol error: more than ${this.limits.maxArgs} arguments`);
      }
      if (count <= 0) {
        this.consume(header + 2); // `*0` and `*-1` are no command at all, as in Redis
        continue;
      }
      this.partial = { count, pos: header + 2 - this.start, offsets: [] };
    }
  }

  private readArguments(partial: Partial): Command | undefined {
    const { buffer, limits } = this;
    while (partial.offsets.length < 2 * partial.count) {
      const at = this.start + partial.pos;
      if (at >= this.end) return undefined;
      if (buffer[at] !== Type.Bulk) throw new ProtocolError(`Protocol error: expected '$', got '${describe(buffer[at])}'`);
      const header = this.line(at, 'bulk length');
      if (header === undefined) return undefined;
      const length = parseInteger(buffer, at + 1, header);
      if (length === undefined || length < 0 || length > limits.maxArgBytes) {
        throw new ProtocolError(limits === UNAUTHENTICATED && length !== undefined && length > 0 ? 'Protocol error: unauthenticated bulk length' : 'Protocol error: invalid bulk length');
      }
      const data = header + 2;
      if (data + length + 2 - this.start > limits.maxCommandBytes) throw new ProtocolError(`Protocol error: command larger than ${limits.maxCommandBytes} bytes`);
      if (data + length + 2 > this.end) return undefined;
      if (buffer[data + length] !== CR || buffer[data + length + 1] !== LF) throw new ProtocolError('Protocol error: bulk string not terminated by CRLF');
      partial.offsets.push(data - this.start, data + length - this.start);
      partial.pos = data + length + 2 - this.start;
    }
    const args = new Array<Buffer>(partial.count);
    for (let i = 0; i < partial.count; i++) args[i] = buffer.subarray(this.start + partial.offsets[2 * i], this.start + partial.offsets[2 * i + 1]);
    const raw = buffer.subarray(this.start, this.start + partial.pos);
    this.partial = undefined;
    this.consume(this.start + partial.pos);
    return { args, raw };
  }

  private readInline(): Command | undefined {
    let newline = this.buffer.indexOf(LF, this.start);
    if (newline < 0 || newline >= this.end) {
      if (this.buffered > INLINE_MAX) throw new ProtocolError('Protocol error: too big inline request');
      return undefined;
    }
    if (newline - this.start > INLINE_MAX) throw new ProtocolError('Protocol error: too big inline request');
    const next = newline + 1;
    if (newline > this.start && this.buffer[newline - 1] === CR) newline--;
    const line = this.buffer.subarray(this.start, newline);
    // Redis reads the line as a C string: a NUL would end it there while the rest still counted. Refuse the ambiguity.
    if (line.includes(0)) throw new ProtocolError('Protocol error: NUL byte in inline request');
    const args = splitInline(line);
    if (!args) throw new ProtocolError('Protocol error: unbalanced quotes in request');
    if (args.length > this.limits.maxArgs) throw new ProtocolError('Protocol error: too many arguments in inline request');
    this.consume(next);
    return { args, raw: undefined };
  }

  /** The offset of the CR ending a header line that starts at `at`, undefined if it has not all arrived. */
  private line(at: number, what: string): number | undefined {
    const limit = Math.min(this.end, at + HEADER_MAX);
    const cr = this.buffer.indexOf(CR, at);
    if (cr < 0 || cr >= limit) {
      if (limit - at >= HEADER_MAX) throw new ProtocolError(`Protocol error: invalid ${what}`);
      return undefined;
    }
    if (cr + 1 >= this.end) return undefined;
    if (this.buffer[cr + 1] !== LF) throw new ProtocolError(`Protocol error: invalid ${what}`);
    return cr;
  }

  private consume(to: number): void {
    this.start = to;
    // A borrowed chunk read to its end is let go: an idle connection should not pin its last chunk.
    if (this.start === this.end) {
      this.buffer = EMPTY;
      this.start = this.end = 0;
    }
  }
}

const describe = (byte: number) => (byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`);
