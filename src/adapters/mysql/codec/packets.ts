// Splits one direction of a connection into whole messages (3-byte length, sequence id, payload; 16 MB parts joined), and frames payloads back.
import { ProtocolError } from './bytes.ts';
import { HEADER_LENGTH, MAX_PAYLOAD } from './constants.ts';

export interface Packet {
  /** Sequence id of the message's first physical packet. */
  readonly seq: number;
  /** Sequence id of its last physical packet (the same unless the payload was 16 MB or more). */
  readonly lastSeq: number;
  /**
   * The payload, headers removed and parts joined. A view into the reader's memory, valid until the next `push`:
   * copy what you keep.
   */
  readonly payload: Buffer;
  /** The message as it arrived, headers included, to forward unchanged. Same validity as `payload`. */
  readonly raw: Buffer;
}

const MiB = 1024 * 1024;
const EMPTY = Buffer.alloc(0);
// After a giant message, hand the memory back instead of pinning it for the connection's lifetime.
const RETAINED_STORE = MiB;

export class PacketReader {
  private store: Buffer = EMPTY;
  /** Where unread bytes live: a borrowed chunk, or `store`. */
  private buffer: Buffer = EMPTY;
  private start = 0;
  private end = 0;

  /** `maxPayload` bounds one message (the largest we will hold to inspect); larger is a protocol error. Raised after authentication. */
  constructor(public maxPayload = 64 * MiB, private readonly what = 'packet') {}

  /** Bytes received but not yet returned as messages (must be 0 when TLS starts). */
  get buffered(): number {
    return this.end - this.start;
  }

  /** Hands over the bytes received but not read (a copy), leaving none: the TLS handshake a client sent right behind its SSLRequest. */
  take(): Buffer {
    const rest = Buffer.from(this.buffer.subarray(this.start, this.end));
    this.buffer = EMPTY;
    this.start = this.end = 0;
    return rest;
  }

  push(chunk: Buffer): void {
    if (this.start === this.end) {
      // Most chunks end on a message boundary: borrow the chunk instead of copying it in.
      this.buffer = chunk;
      this.start = 0;
      this.end = chunk.length;
      if (this.store.length > RETAINED_STORE) this.store = EMPTY;
      return;
    }
    const unread = this.end - this.start;
    if (this.buffer === this.store && this.end + chunk.length <= this.store.length) {
      chunk.copy(this.store, this.end);
      this.end += chunk.length;
      return;
    }
    // Merge, not concatenate: one copy into memory we own, sized for what is still to come.
    const size = Math.max(unread + chunk.length, 16 * 1024, this.store.length);
    const store = size <= this.store.length && this.buffer !== this.store ? this.store : Buffer.allocUnsafe(size);
    this.buffer.copy(store, 0, this.start, this.end);
    chunk.copy(store, unread);
    this.store = this.buffer = store;
    this.start = 0;
    this.end = unread + chunk.length;
  }

  /** The next whole message, or undefined until more bytes arrive. Throws ProtocolError on an oversized message. */
  next(): Packet | undefined {
    let at = this.start;
    let total = 0;
    let parts = 0;
    let lastSeq = 0;
    for (;;) {
      if (this.end - at < HEADER_LENGTH) return undefined;
      const length = this.buffer[at] | (this.buffer[at + 1] << 8) | (this.buffer[at + 2] << 16);
      lastSeq = this.buffer[at + 3];
      total += length;
      if (total > this.maxPayload) throw new ProtocolError(`${this.what} larger than ${this.maxPayload} bytes`);
      if (this.end - at - HEADER_LENGTH < length) return undefined;
      at += HEADER_LENGTH + length;
      parts++;
      if (length < MAX_PAYLOAD) break;
    }
    const raw = this.buffer.subarray(this.start, at);
    const seq = raw[3];
    this.start = at;
    if (this.start === this.end && this.buffer !== this.store) this.buffer = EMPTY;
    const payload = parts === 1 ? raw.subarray(HEADER_LENGTH) : joinParts(raw, total);
    return { seq, lastSeq, payload, raw };
  }
}

function joinParts(raw: Buffer, total: number): Buffer {
  const payload = Buffer.allocUnsafe(total);
  let from = 0;
  let to = 0;
  while (from < raw.length) {
    const length = raw.readUIntLE(from, 3);
    raw.copy(payload, to, from + HEADER_LENGTH, from + HEADER_LENGTH + length);
    to += length;
    from += HEADER_LENGTH + length;
  }
  return payload;
}

/** How many physical packets a payload of `length` bytes takes (a multiple of 16 MB ends with an empty one). */
export const packetCount = (length: number) => Math.floor(length / MAX_PAYLOAD) + 1;

/** Frames a payload as packets numbered from `seq` (wrapping at 256). */
export function frame(payload: Buffer, seq: number): Buffer {
  if (payload.length < MAX_PAYLOAD) {
    const out = Buffer.allocUnsafe(HEADER_LENGTH + payload.length);
    out.writeUIntLE(payload.length, 0, 3);
    out[3] = seq & 0xff;
    payload.copy(out, HEADER_LENGTH);
    return out;
  }
  const count = packetCount(payload.length);
  const out = Buffer.allocUnsafe(payload.length + count * HEADER_LENGTH);
  let to = 0;
  for (let i = 0; i < count; i++) {
    const part = payload.subarray(i * MAX_PAYLOAD, (i + 1) * MAX_PAYLOAD);
    out.writeUIntLE(part.length, to, 3);
    out[to + 3] = (seq + i) & 0xff;
    part.copy(out, to + HEADER_LENGTH);
    to += HEADER_LENGTH + part.length;
  }
  return out;
}
