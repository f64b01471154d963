// Reads the fields of one message body, bounds-checked, and names the error every malformed byte becomes.

import { isUtf8 } from 'node:buffer';

/**
 * The peer broke the wire protocol. The caller answers with an ErrorResponse carrying
 * SQLSTATE 08P01 (protocol_violation) and closes the connection: after a framing error the
 * byte stream cannot be trusted to resynchronise.
 */
export class ProtocolError extends Error {
  readonly code = '08P01';
  override readonly name = 'ProtocolError';
}

/** A byte a peer sent, for an error message: printable ASCII quoted, anything else in hex (never raw control bytes). */
export const byteName = (byte: number) => (byte >= 0x20 && byte < 0x7f ? `'${String.fromCharCode(byte)}'` : `0x${byte.toString(16).padStart(2, '0')}`);

/** A forward-only cursor over one message body. Buffers it returns are views into the body. */
export class Cursor {
  private offset = 0;

  constructor(private readonly body: Buffer, private readonly message: string) {}

  private get remaining(): number {
    return this.body.length - this.offset;
  }

  byte(): number {
    this.need(1);
    return this.body[this.offset++];
  }

  int16(): number {
    this.need(2);
    const value = this.body.readInt16BE(this.offset);
    this.offset += 2;
    return value;
  }

  /** A uint16 count, then that many items read by `read` (a plain loop: Array.from over a length is slower per row). */
  list<T>(read: () => T): T[] {
    const count = this.uint16();
    const items = new Array<T>(count);
    for (let i = 0; i < count; i++) items[i] = read();
    return items;
  }

  /** Counts (parameters, columns, formats) are unsigned 16-bit: PostgreSQL allows up to 65535 parameters. */
  uint16(): number {
    this.need(2);
    const value = this.body.readUInt16BE(this.offset);
    this.offset += 2;
    return value;
  }

  int32(): number {
    this.need(4);
    const value = this.body.readInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  /** OIDs are unsigned; reading them as int32 would turn large ones negative. */
  uint32(): number {
    this.need(4);
    const value = this.body.readUInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  bytes(length: number): Buffer {
    if (length < 0) throw this.error(`negative length ${length}`);
    this.need(length);
    const view = this.body.subarray(this.offset, this.offset + length);
    this.offset += length;
    return view;
  }

  /** A length-prefixed value where length -1 means NULL (Bind parameters, DataRow columns). */
  nullableBytes(): Buffer | null {
    const length = this.int32();
    return length === -1 ? null : this.bytes(length);
  }

  cstring(): string {
    const end = this.body.indexOf(0, this.offset);
    if (end === -1) throw this.error('string is not NUL-terminated');
    const text = this.text(this.body.subarray(this.offset, end));
    this.offset = end + 1;
    return text;
  }

  /** Everything left, for payloads that run to the end of the message (SASL data). */
  rest(): Buffer {
    return this.bytes(this.remaining);
  }

  /** Refuse trailing bytes: a message that parses with bytes left over is not the message we think it is. */
  end(): void {
    if (this.remaining !== 0) throw this.error(`${this.remaining} unexpected trailing byte(s)`);
  }

  /** The error to throw for this message; `throw cursor.error(...)` keeps the throw visible to the reader and the type checker. */
  error(reason: string): ProtocolError {
    return new ProtocolError(`malformed ${this.message}: ${reason}`);
  }

  // Strict UTF-8: a lossy decode would let the gateway inspect different text than PostgreSQL runs.
  private text(bytes: Buffer): string {
    if (!isUtf8(bytes)) throw this.error('invalid UTF-8');
    return bytes.toString('utf8');
  }

  private need(length: number): void {
    if (this.remaining < length) throw this.error(`needs ${length} more byte(s), has ${this.remaining}`);
  }
}
