// Reads and writes the protocol's field encodings (little-endian integers, length-encoded integers and strings), bounds-checked.

/**
 * The peer broke the wire protocol. The connection answers with an ERR packet (SQLSTATE 08S01) and closes:
 * after a framing error the byte stream cannot be trusted to resynchronise.
 */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
}

/** A forward-only cursor over one packet payload. Buffers it returns are views into the payload. */
export class PayloadReader {
  pos: number;

  constructor(readonly buf: Buffer, readonly what: string, start = 0) {
    this.pos = start;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++];
  }

  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }

  u24(): number {
    this.need(3);
    const v = this.buf.readUIntLE(this.pos, 3);
    this.pos += 3;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  /** An 8-byte unsigned integer; values beyond 2^53 cannot be counts or ids we act on, so they are refused. */
  u64(): number {
    this.need(8);
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ProtocolError(`${this.what}: integer too large`);
    return Number(v);
  }

  /** A length-encoded integer; `null` for the 0xFB NULL marker (text rows only). */
  lenencOrNull(): number | null {
    const first = this.u8();
    if (first < 0xfb) return first;
    if (first === 0xfb) return null;
    if (first === 0xfc) return this.u16();
    if (first === 0xfd) return this.u24();
    if (first === 0xfe) return this.u64();
    throw new ProtocolError(`${this.what}: invalid length-encoded integer`);
  }

  lenenc(): number {
    const v = this.lenencOrNull();
    if (v === null) throw new ProtocolError(`${this.what}: unexpected NULL marker`);
    return v;
  }

  bytes(n: number): Buffer {
    this.need(n);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  lenencBytes(): Buffer {
    return this.bytes(this.lenenc());
  }

  lenencString(): string {
    return this.lenencBytes().toString('utf8');
  }

  /** Bytes up to a NUL, which is consumed. A missing NUL is malformed. */
  nulBytes(): Buffer {
    const end = this.buf.indexOf(0, this.pos);
    if (end === -1) throw new ProtocolError(`${this.what}: unterminated string`);
    const v = this.buf.subarray(this.pos, end);
    this.pos = end + 1;
    return v;
  }

  nulString(): string {
    return this.nulBytes().toString('utf8');
  }

  rest(): Buffer {
    const v = this.buf.subarray(this.pos);
    this.pos = this.buf.length;
    return v;
  }

  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new ProtocolError(`${this.what}: truncated`);
  }
}

/** Builds one payload. Grows by doubling; `finish` returns a view of what was written. */
export class PayloadWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(size = 64) {
    this.buf = Buffer.allocUnsafe(size);
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }

  u8(v: number): this {
    this.room(1);
    this.buf[this.pos++] = v;
    return this;
  }

  u16(v: number): this {
    this.room(2);
    this.buf.writeUInt16LE(v, this.pos);
    this.pos += 2;
    return this;
  }

  u24(v: number): this {
    this.room(3);
    this.buf.writeUIntLE(v, this.pos, 3);
    this.pos += 3;
    return this;
  }

  u32(v: number): this {
    this.room(4);
    this.buf.writeUInt32LE(v >>> 0, this.pos);
    this.pos += 4;
    return this;
  }

  u64(v: number): this {
    this.room(8);
    this.buf.writeBigUInt64LE(BigInt(v), this.pos);
    this.pos += 8;
    return this;
  }

  lenenc(v: number): this {
    if (v < 0xfb) return this.u8(v);
    if (v <= 0xffff) return this.u8(0xfc).u16(v);
    if (v <= 0xffffff) return this.u8(0xfd).u24(v);
    return this.u8(0xfe).u64(v);
  }

  bytes(b: Buffer | Uint8Array): this {
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  string(s: string): this {
    const n = Buffer.byteLength(s);
    this.room(n);
    this.buf.write(s, this.pos, 'utf8');
    this.pos += n;
    return this;
  }

  lenencBytes(b: Buffer | Uint8Array): this {
    return this.lenenc(b.length).bytes(b);
  }

  lenencString(s: string): this {
    return this.lenenc(Buffer.byteLength(s)).string(s);
  }

  nulString(s: string): this {
    return this.string(s).u8(0);
  }

  zeros(n: number): this {
    this.room(n);
    this.buf.fill(0, this.pos, this.pos + n);
    this.pos += n;
    return this;
  }

  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}
