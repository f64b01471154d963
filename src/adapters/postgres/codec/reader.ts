// Splits one direction of one connection into whole frames, however the bytes happen to be chunked.

import { ProtocolError } from './cursor.ts';
import { Backend, Frontend, StartupCode, Untyped } from './messages.ts';

export interface Frame {
  /** The type byte, or `Untyped` (0) for a startup-phase frame. */
  readonly type: number;
  /**
   * The bytes after the header (for a startup-phase frame: from the int32 code on).
   * A view into the reader's memory, valid only until the next `push`: copy what you keep.
   */
  readonly body: Buffer;
  /** The whole frame, header included, to forward unmodified without copying. Same validity as `body`. */
  readonly raw: Buffer;
}

export interface FrameReaderOptions {
  /** Which peer writes these bytes: it decides the legal type bytes and the default size cap. */
  source: 'frontend' | 'backend';
  /** Expect startup-phase frames first (a fresh client connection). Frontend only. */
  startup?: boolean;
  /** Largest accepted value of a typed frame's length field. */
  maxLength?: number;
}

const MiB = 1024 * 1024;
// A server's DataRow may legitimately approach PostgreSQL's 1 GiB allocation limit; a client has
// no business sending that much in one message, and every byte it sends we must hold to inspect.
const DEFAULT_MAX_LENGTH = { frontend: 64 * MiB, backend: 1024 * MiB } as const;
// PostgreSQL's own MAX_STARTUP_PACKET_LENGTH; 8 bytes is a bare length + code.
const STARTUP_MIN = 8;
const STARTUP_MAX = 10_000;
const INITIAL_STORE = 16 * 1024;
// After a giant frame, hand the memory back instead of pinning it for the connection's lifetime.
const RETAINED_STORE = 1 * MiB;
const EMPTY = Buffer.alloc(0);

export class FrameReader {
  private readonly source: 'frontend' | 'backend';
  private maxLength: number;
  private readonly legal: Uint8Array;
  private startup: boolean;
  /** Memory we own, used only when a frame straddles chunks. */
  private store: Buffer = EMPTY;
  /** Where unread bytes live: a borrowed chunk, or `store`. */
  private buffer: Buffer = EMPTY;
  private start = 0;
  private end = 0;

  constructor(options: FrameReaderOptions) {
    this.source = options.source;
    if (options.startup && options.source !== 'frontend') throw new TypeError('only a frontend reader starts in startup mode');
    this.startup = options.startup ?? false;
    this.maxLength = checkedMax(options.maxLength ?? DEFAULT_MAX_LENGTH[options.source]);
    this.legal = options.source === 'frontend' ? FRONTEND_TYPES : BACKEND_TYPES;
  }

  /**
   * Changes the largest accepted typed frame; without an argument, back to the default for the source. Before
   * authentication a client is held to small messages; once it has authenticated it gets the default.
   */
  limit(maxLength: number = DEFAULT_MAX_LENGTH[this.source]) {
    this.maxLength = checkedMax(maxLength);
  }

  /** 'startup' until a StartupMessage has been read (SSLRequest and GSSENCRequest keep it there), then 'typed'. */
  get mode(): 'startup' | 'typed' {
    return this.startup ? 'startup' : 'typed';
  }

  /**
   * Bytes received but not yet returned as frames. Must be 0 right after an SSLRequest or GSSENCRequest
   * is answered: anything already buffered was sent in clear text before the handshake and must be
   * refused, not treated as encrypted traffic (CVE-2021-23214).
   */
  get buffered(): number {
    return this.end - this.start;
  }

  push(chunk: Buffer): void {
    if (this.start === this.end) {
      // Most chunks end on a frame boundary: borrow the chunk instead of copying it in.
      this.buffer = chunk;
      this.start = 0;
      this.end = chunk.length;
      if (this.store.length > RETAINED_STORE) this.store = EMPTY;
      return;
    }
    if (this.buffer === this.store && this.store.length - this.end >= chunk.length) {
      chunk.copy(this.store, this.end);
      this.end += chunk.length;
      return;
    }
    const leftover = this.end - this.start;
    const needed = leftover + chunk.length;
    if (this.store.length < needed) {
      // Grow with bytes actually received, never to the length a peer claims: a 5-byte header
      // must not buy a 1 GiB allocation.
      const grown = Buffer.allocUnsafe(Math.max(needed, this.store.length * 2, INITIAL_STORE));
      this.buffer.copy(grown, 0, this.start, this.end);
      this.store = grown;
    } else {
      // Buffer#copy is a memmove, so compacting within `store` is safe even when the regions overlap.
      this.buffer.copy(this.store, 0, this.start, this.end);
    }
    chunk.copy(this.store, leftover);
    this.buffer = this.store;
    this.start = 0;
    this.end = needed;
  }

  /** The next complete frame, or undefined to wait for more bytes. Throws ProtocolError on a violation. */
  next(): Frame | undefined {
    return this.startup ? this.nextStartup() : this.nextTyped();
  }

  *[Symbol.iterator](): Iterator<Frame> {
    for (let frame = this.next(); frame; frame = this.next()) yield frame;
  }

  private nextTyped(): Frame | undefined {
    if (this.buffered < 5) return undefined;
    const type = this.buffer[this.start];
    if (!this.legal[type]) {
      throw new ProtocolError(`unknown ${this.source} message type 0x${type.toString(16).padStart(2, '0')}`);
    }
    const length = this.buffer.readInt32BE(this.start + 1);
    checkLength(length, 4, this.maxLength);
    return this.buffered < 1 + length ? undefined : this.take(type, 1 + length, 5);
  }

  private nextStartup(): Frame | undefined {
    if (this.buffered < 4) return undefined;
    const length = this.buffer.readInt32BE(this.start);
    checkLength(length, STARTUP_MIN, STARTUP_MAX);
    if (this.buffered < length) return undefined;
    const code = this.buffer.readInt32BE(this.start + 4);
    const isStartupMessage = code >>> 16 === 3;
    if (!isStartupMessage && code !== StartupCode.SSLRequest && code !== StartupCode.GSSENCRequest && code !== StartupCode.CancelRequest) {
      throw new ProtocolError(`unsupported startup code ${code} (protocol ${code >>> 16}.${code & 0xffff})`);
    }
    if (isStartupMessage) this.startup = false;
    return this.take(Untyped, length, 4);
  }

  private take(type: number, total: number, headerLength: number): Frame {
    const raw = this.buffer.subarray(this.start, this.start + total);
    this.start += total;
    // A borrowed chunk read to its end is let go: an idle session should not pin its last chunk.
    if (this.start === this.end && this.buffer !== this.store) {
      this.buffer = EMPTY;
      this.start = this.end = 0;
    }
    return { type, body: raw.subarray(headerLength), raw };
  }
}

function checkedMax(maxLength: number): number {
  if (!Number.isInteger(maxLength) || maxLength < 4) throw new TypeError(`maxLength must be an integer >= 4, got ${maxLength}`);
  return maxLength;
}

function checkLength(length: number, min: number, max: number): void {
  if (length < min) throw new ProtocolError(`invalid message length ${length} (minimum ${min})`);
  if (length > max) throw new ProtocolError(`message length ${length} exceeds the limit of ${max}`);
}

function legalTypes(codes: Record<string, number>): Uint8Array {
  // A 256-entry table makes the per-frame check one indexed load.
  const table = new Uint8Array(256);
  for (const code of Object.values(codes)) table[code] = 1;
  return table;
}
const FRONTEND_TYPES = legalTypes(Frontend);
const BACKEND_TYPES = legalTypes(Backend);
