// One reusable, growable scratch buffer that every encoder writes into; each message leaves as its own copy.

const INITIAL_SIZE = 1024;
// Encoding one huge DataRow should not pin that much memory for the life of the process.
const RETAINED_SIZE = 1024 * 1024;

export class Writer {
  private buffer: Buffer = Buffer.allocUnsafe(INITIAL_SIZE);
  private offset = 0;
  private lengthAt = 0;

  /** Begin a message: its type byte (none for startup-phase frames) and a length placeholder. */
  start(type?: number): this {
    this.offset = 0;
    if (type !== undefined) this.byte(type);
    this.lengthAt = this.offset;
    this.offset += 4;
    return this;
  }

  byte(value: number): this {
    this.ensure(1);
    this.buffer[this.offset++] = value;
    return this;
  }

  int16(value: number): this {
    this.ensure(2);
    this.offset = this.buffer.writeInt16BE(value, this.offset);
    return this;
  }

  /** For counts, which are unsigned 16-bit. */
  uint16(value: number): this {
    this.ensure(2);
    this.offset = this.buffer.writeUInt16BE(value, this.offset);
    return this;
  }

  int32(value: number): this {
    this.ensure(4);
    this.offset = this.buffer.writeInt32BE(value, this.offset);
    return this;
  }

  /** For OIDs, which are unsigned. */
  uint32(value: number): this {
    this.ensure(4);
    this.offset = this.buffer.writeUInt32BE(value, this.offset);
    return this;
  }

  /** A NUL-terminated string. An embedded NUL would end the field early and shift every field after it, so it is refused. */
  cstring(value: string): this {
    if (value.includes('\0')) throw new RangeError('a protocol string must not contain NUL');
    return this.string(value).byte(0);
  }

  /** UTF-8 bytes with no terminator or length. */
  string(value: string): this {
    // A UTF-16 code unit never needs more than 3 UTF-8 bytes: reserving 3x skips a Buffer.byteLength scan.
    this.ensure(value.length * 3);
    this.offset += this.buffer.write(value, this.offset);
    return this;
  }

  bytes(value: Buffer): this {
    this.ensure(value.length);
    this.offset += value.copy(this.buffer, this.offset);
    return this;
  }

  /** An int32 length then the value; NULL is length -1 with no bytes (Bind parameters, DataRow columns). */
  nullable(value: Buffer | string | null): this {
    if (value === null) return this.int32(-1);
    if (typeof value === 'string') {
      // Write first, then patch the length: one pass over the string instead of three.
      const lengthAt = this.offset;
      this.int32(0).string(value);
      this.buffer.writeInt32BE(this.offset - lengthAt - 4, lengthAt);
      return this;
    }
    return this.int32(value.length).bytes(value);
  }

  /** Patch the length and return the message as a fresh exact-size Buffer, safe to keep. */
  finish(): Buffer {
    this.buffer.writeInt32BE(this.offset - this.lengthAt, this.lengthAt);
    // The scratch is allocated once and reused; each message costs one exact-size copy, so the
    // caller's Buffer pins no slack and stays valid however the writer is used next.
    const message = Buffer.from(this.buffer.subarray(0, this.offset));
    if (this.buffer.length > RETAINED_SIZE) this.buffer = Buffer.allocUnsafe(INITIAL_SIZE);
    return message;
  }

  private ensure(size: number): void {
    if (this.buffer.length - this.offset >= size) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.offset + size));
    this.buffer.copy(grown, 0, 0, this.offset);
    this.buffer = grown;
  }
}

/** The one writer shared by all encoders. Safe because an encoder runs start→finish synchronously and never nests. */
export const writer = new Writer();
