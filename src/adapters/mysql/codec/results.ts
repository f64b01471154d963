// Server replies after authentication: OK, ERR and EOF packets, column definitions, and rows in the text and binary protocols.
import { PayloadReader, PayloadWriter, ProtocolError } from './bytes.ts';
import { Capability, ColumnType, Reply } from './constants.ts';

export interface OkPacket {
  affectedRows: number;
  lastInsertId: number;
  status: number;
  warnings: number;
  info: string;
}

export function encodeOk(ok: Partial<OkPacket> = {}, header: number = Reply.OK): Buffer {
  const w = new PayloadWriter(16).u8(header).lenenc(ok.affectedRows ?? 0).lenenc(ok.lastInsertId ?? 0).u16(ok.status ?? 0).u16(ok.warnings ?? 0);
  if (ok.info) w.string(ok.info);
  return w.finish();
}

/**
 * An OK packet, or (with CLIENT_DEPRECATE_EOF) the 0xFE OK that ends a result set. The info text is read as plain
 * text: Gatehouse never offers CLIENT_SESSION_TRACK, so no session-state block follows it.
 */
export function decodeOk(payload: Buffer): OkPacket {
  const r = new PayloadReader(payload, 'OK packet');
  const header = r.u8();
  if (header !== Reply.OK && header !== Reply.EOF) throw new ProtocolError('OK packet: bad header');
  const affectedRows = r.lenenc();
  const lastInsertId = r.lenenc();
  const status = r.remaining >= 2 ? r.u16() : 0;
  const warnings = r.remaining >= 2 ? r.u16() : 0;
  return { affectedRows, lastInsertId, status, warnings, info: r.rest().toString('utf8') };
}

export interface ErrPacket {
  code: number;
  sqlState: string;
  message: string;
}

export function encodeErr(err: ErrPacket): Buffer {
  return new PayloadWriter(32 + err.message.length).u8(Reply.ERR).u16(err.code).u8(0x23).string(err.sqlState.slice(0, 5).padEnd(5, '0')).string(err.message).finish();
}

export function decodeErr(payload: Buffer): ErrPacket {
  const r = new PayloadReader(payload, 'ERR packet');
  if (r.u8() !== Reply.ERR) throw new ProtocolError('ERR packet: bad header');
  const code = r.u16();
  // MariaDB sends progress reports as code 0xFFFF; Gatehouse never asks for them.
  let sqlState = 'HY000';
  if (r.remaining > 0 && payload[r.pos] === 0x23) {
    r.skip(1);
    sqlState = r.bytes(5).toString('latin1');
  }
  return { code, sqlState, message: r.rest().toString('utf8') };
}

export function encodeEof(status = 0, warnings = 0): Buffer {
  return new PayloadWriter(5).u8(Reply.EOF).u16(warnings).u16(status).finish();
}

export const isErr = (payload: Buffer) => payload[0] === Reply.ERR;

/** The end of a result set: a classic EOF, or with CLIENT_DEPRECATE_EOF an OK whose header is 0xFE. */
export function isResultEnd(payload: Buffer, capabilities: number): boolean {
  if (payload[0] !== Reply.EOF) return false;
  return capabilities & Capability.DEPRECATE_EOF ? payload.length < 0xffffff : payload.length < 9;
}

/** Status flags of an EOF or OK packet that ends a result (both keep them at known places). */
export function endStatus(payload: Buffer): number {
  if (payload.length < 9 && payload.length >= 5) return payload.readUInt16LE(3);
  return decodeOk(payload).status;
}

export interface ColumnDefinition {
  schema: string;
  /** The table (or alias) as written in the query. */
  table: string;
  /** The base table the value comes from; empty for expressions. Masking goes by this and `orgName`. */
  orgTable: string;
  name: string;
  orgName: string;
  charset: number;
  length: number;
  type: number;
  flags: number;
  decimals: number;
}

export function decodeColumnDefinition(payload: Buffer): ColumnDefinition {
  const r = new PayloadReader(payload, 'column definition');
  r.lenencBytes(); // catalog, always "def"
  const schema = r.lenencString();
  const table = r.lenencString();
  const orgTable = r.lenencString();
  const name = r.lenencString();
  const orgName = r.lenencString();
  const fixed = r.lenenc();
  if (fixed < 0x0c) throw new ProtocolError('column definition: short fixed part');
  const start = r.pos;
  const charset = r.u16();
  const length = r.u32();
  const type = r.u8();
  const flags = r.u16();
  const decimals = r.u8();
  r.pos = start + fixed;
  return { schema, table, orgTable, name, orgName, charset, length, type, flags, decimals };
}

export function encodeColumnDefinition(c: ColumnDefinition): Buffer {
  return new PayloadWriter(64)
    .lenencString('def').lenencString(c.schema).lenencString(c.table).lenencString(c.orgTable).lenencString(c.name).lenencString(c.orgName)
    .lenenc(0x0c).u16(c.charset).u32(c.length).u8(c.type).u16(c.flags).u8(c.decimals).zeros(2)
    .finish();
}

/** The column count that opens a result set (a lone length-encoded integer). */
export function decodeColumnCount(payload: Buffer): number {
  const r = new PayloadReader(payload, 'column count');
  const count = r.lenenc();
  if (!r.done || count === 0) throw new ProtocolError('column count: malformed');
  return count;
}

// ---- rows ----

/** A text-protocol row: one length-encoded string per column, 0xFB for NULL. Cells are views into the payload. */
export function decodeTextRow(payload: Buffer, columns: number): (Buffer | null)[] {
  const r = new PayloadReader(payload, 'text row');
  const cells = new Array<Buffer | null>(columns);
  for (let i = 0; i < columns; i++) {
    const length = r.lenencOrNull();
    cells[i] = length === null ? null : r.bytes(length);
  }
  if (!r.done) throw new ProtocolError('text row: trailing bytes');
  return cells;
}

export function encodeTextRow(cells: readonly (Buffer | string | null)[]): Buffer {
  const w = new PayloadWriter(64);
  for (const cell of cells) {
    if (cell === null) w.u8(0xfb);
    else if (typeof cell === 'string') w.lenencString(cell);
    else w.lenencBytes(cell);
  }
  return w.finish();
}

/** Fixed widths of binary-protocol values; absent types are length-encoded (strings, decimals, blobs, dates use a length byte). */
const fixedWidth: Record<number, number> = {
  [ColumnType.TINY]: 1, [ColumnType.SHORT]: 2, [ColumnType.YEAR]: 2, [ColumnType.LONG]: 4, [ColumnType.INT24]: 4,
  [ColumnType.FLOAT]: 4, [ColumnType.LONGLONG]: 8, [ColumnType.DOUBLE]: 8, [ColumnType.NULL]: 0,
};
/** Dates and times: one length byte, then that many bytes. */
const temporal: ReadonlySet<number> = new Set([ColumnType.DATE, ColumnType.DATETIME, ColumnType.TIMESTAMP, ColumnType.TIME, ColumnType.NEWDATE]);

/** A binary-protocol cell: its raw value bytes (as the type encodes them) or null. */
export function decodeBinaryRow(payload: Buffer, types: readonly number[]): (Buffer | null)[] {
  const r = new PayloadReader(payload, 'binary row');
  if (r.u8() !== 0x00) throw new ProtocolError('binary row: bad header');
  const bitmap = r.bytes((types.length + 9) >> 3);
  const cells = new Array<Buffer | null>(types.length);
  for (let i = 0; i < types.length; i++) {
    const bit = i + 2;
    if (bitmap[bit >> 3] & (1 << (bit & 7))) {
      cells[i] = null;
      continue;
    }
    const type = types[i];
    const width = fixedWidth[type];
    cells[i] = width !== undefined ? r.bytes(width) : temporal.has(type) ? r.bytes(r.u8()) : r.lenencBytes();
  }
  if (!r.done) throw new ProtocolError('binary row: trailing bytes');
  return cells;
}

/** Re-encodes a binary row; a string cell replaces a string-typed value (masking), null sets the NULL bit. */
export function encodeBinaryRow(cells: readonly (Buffer | string | null)[], types: readonly number[]): Buffer {
  const bitmap = Buffer.alloc((types.length + 9) >> 3);
  const w = new PayloadWriter(64).u8(0x00);
  const values = new PayloadWriter(64);
  cells.forEach((cell, i) => {
    if (cell === null) {
      const bit = i + 2;
      bitmap[bit >> 3] |= 1 << (bit & 7);
      return;
    }
    const type = types[i];
    const bytes = typeof cell === 'string' ? Buffer.from(cell) : cell;
    if (fixedWidth[type] !== undefined) {
      if (typeof cell === 'string' || bytes.length !== fixedWidth[type]) throw new TypeError(`a ${fixedWidth[type]}-byte value is needed for column ${i}`);
      values.bytes(bytes);
    } else if (temporal.has(type)) {
      if (typeof cell === 'string') throw new TypeError(`column ${i} holds a date or time, not text`);
      values.u8(bytes.length).bytes(bytes);
    } else values.lenencBytes(bytes);
  });
  return w.bytes(bitmap).bytes(values.finish()).finish();
}

/** Binary-protocol types whose value is text or bytes (length-encoded), so a mask can replace it with a string. */
export const isStringType = (type: number) => fixedWidth[type] === undefined && !temporal.has(type);
