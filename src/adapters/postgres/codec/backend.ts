// Messages a server sends: parsed when the upstream answers us, encoded when we answer agents.
//
// Parsers take a frame's `body`; Buffers they return are views into it (valid until the reader's
// next push). Encoders return a fresh Buffer, except the documented shared constants.

import { byteName, Cursor } from './cursor.ts';
import { AuthCode, Backend, CancelKeyLength, Format, type FormatCode, type TransactionStatus } from './messages.ts';
import { writer } from './writer.ts';

export type AuthenticationRequest =
  | { kind: 'ok' }
  | { kind: 'cleartext' }
  | { kind: 'md5'; salt: Buffer }
  | { kind: 'sasl'; mechanisms: string[] }
  | { kind: 'saslContinue'; data: Buffer }
  | { kind: 'saslFinal'; data: Buffer };

export interface FieldDescription {
  name: string;
  /** The table the column comes from, or 0. */
  tableOid: number;
  /** The column's attribute number in that table, or 0. */
  columnAttr: number;
  typeOid: number;
  /** pg_type.typlen: negative for variable-length types. */
  typeSize: number;
  /** pg_attribute.atttypmod: -1 when not applicable. */
  typeMod: number;
  format: FormatCode;
}

/** The fields of an ErrorResponse or NoticeResponse. Unknown field types are ignored, as the protocol asks. */
export interface Notice {
  /** ERROR, FATAL, NOTICE...: the never-localised `V` field when present, else `S`. */
  severity: string;
  /** SQLSTATE. */
  code: string;
  message: string;
  detail?: string;
  hint?: string;
  /** 1-based character offset into the query text, in decimal. */
  position?: string;
  internalPosition?: string;
  internalQuery?: string;
  where?: string;
  schema?: string;
  table?: string;
  column?: string;
  dataType?: string;
  constraint?: string;
  file?: string;
  line?: string;
  routine?: string;
}

// One table drives both directions, so parser and encoder cannot drift apart.
const NOTICE_FIELDS = [
  ['S', 'severity'],
  ['V', 'severity'],
  ['C', 'code'],
  ['M', 'message'],
  ['D', 'detail'],
  ['H', 'hint'],
  ['P', 'position'],
  ['p', 'internalPosition'],
  ['q', 'internalQuery'],
  ['W', 'where'],
  ['s', 'schema'],
  ['t', 'table'],
  ['c', 'column'],
  ['d', 'dataType'],
  ['n', 'constraint'],
  ['F', 'file'],
  ['L', 'line'],
  ['R', 'routine'],
] as const satisfies readonly (readonly [string, keyof Notice])[];
const NOTICE_FIELD_BY_CODE = new Map<number, keyof Notice>(NOTICE_FIELDS.map(([code, key]) => [code.charCodeAt(0), key]));
const LOCALISED_SEVERITY = 'S'.charCodeAt(0);

// ---- parsers ----

export function parseAuthentication(body: Buffer): AuthenticationRequest {
  const cursor = new Cursor(body, 'Authentication');
  const code = cursor.int32();
  switch (code) {
    case AuthCode.Ok:
      cursor.end();
      return { kind: 'ok' };
    case AuthCode.CleartextPassword:
      cursor.end();
      return { kind: 'cleartext' };
    case AuthCode.MD5Password: {
      const salt = cursor.bytes(4);
      cursor.end();
      return { kind: 'md5', salt };
    }
    case AuthCode.SASL: {
      const mechanisms: string[] = [];
      for (let name = cursor.cstring(); name !== ''; name = cursor.cstring()) mechanisms.push(name);
      cursor.end();
      if (mechanisms.length === 0) throw cursor.error('no SASL mechanisms offered');
      return { kind: 'sasl', mechanisms };
    }
    case AuthCode.SASLContinue:
      return { kind: 'saslContinue', data: cursor.rest() };
    case AuthCode.SASLFinal:
      return { kind: 'saslFinal', data: cursor.rest() };
  }
  const method = Object.entries(AuthCode).find(([, value]) => value === code)?.[0] ?? 'unknown';
  throw cursor.error(`unsupported authentication method ${code} (${method})`);
}

export function parseRowDescription(body: Buffer): FieldDescription[] {
  const cursor = new Cursor(body, 'RowDescription');
  const fields = cursor.list((): FieldDescription => {
    const name = cursor.cstring();
    const tableOid = cursor.uint32();
    const columnAttr = cursor.int16();
    const typeOid = cursor.uint32();
    const typeSize = cursor.int16();
    const typeMod = cursor.int32();
    const format = cursor.int16();
    if (format !== Format.Text && format !== Format.Binary) throw cursor.error(`format code ${format}`);
    return { name, tableOid, columnAttr, typeOid, typeSize, typeMod, format };
  });
  cursor.end();
  return fields;
}

/** Column values as views into the body; null is SQL NULL. The hot path: no decoding, no copies. */
export function parseDataRow(body: Buffer): (Buffer | null)[] {
  const cursor = new Cursor(body, 'DataRow');
  const count = cursor.uint16();
  const values = new Array<Buffer | null>(count);
  for (let i = 0; i < count; i++) values[i] = cursor.nullableBytes();
  cursor.end();
  return values;
}

export function parseErrorResponse(body: Buffer): Notice {
  return parseNotice(new Cursor(body, 'ErrorResponse'));
}

export function parseNoticeResponse(body: Buffer): Notice {
  return parseNotice(new Cursor(body, 'NoticeResponse'));
}

/** The command tag, e.g. `SELECT 1`, `INSERT 0 3`. */
export function parseCommandComplete(body: Buffer): string {
  const cursor = new Cursor(body, 'CommandComplete');
  const tag = cursor.cstring();
  cursor.end();
  return tag;
}

export function parseReadyForQuery(body: Buffer): TransactionStatus {
  const cursor = new Cursor(body, 'ReadyForQuery');
  const byte = cursor.byte();
  cursor.end();
  const status = String.fromCharCode(byte);
  if (status !== 'I' && status !== 'T' && status !== 'E') throw cursor.error(`transaction status ${byteName(byte)}`);
  return status;
}

export function parseParameterStatus(body: Buffer): { name: string; value: string } {
  const cursor = new Cursor(body, 'ParameterStatus');
  const name = cursor.cstring();
  const value = cursor.cstring();
  cursor.end();
  return { name, value };
}

/** The key is `CancelKeyLength` bytes: 4, or up to 256 from protocol 3.2. */
export function parseBackendKeyData(body: Buffer): { pid: number; key: Buffer } {
  const cursor = new Cursor(body, 'BackendKeyData');
  const pid = cursor.int32();
  const key = cursor.rest();
  if (key.length < CancelKeyLength.min || key.length > CancelKeyLength.max) throw cursor.error(`cancel key of ${key.length} bytes`);
  return { pid, key };
}

function parseNotice(cursor: Cursor): Notice {
  const fields: Partial<Notice> = {};
  for (let code = cursor.byte(); code !== 0; code = cursor.byte()) {
    const value = cursor.cstring();
    const key = NOTICE_FIELD_BY_CODE.get(code);
    // The localised S never overrides V, whichever comes first.
    if (key !== undefined && !(code === LOCALISED_SEVERITY && fields.severity !== undefined)) fields[key] = value;
  }
  cursor.end();
  const { severity, code, message } = fields;
  if (severity === undefined || code === undefined || message === undefined) throw cursor.error('missing severity, code or message');
  return { ...fields, severity, code, message };
}

// ---- encoders ----

// Constant frames are built once; they are shared, so never mutate them.
const AUTHENTICATION_OK = writer.start(Backend.Authentication).int32(AuthCode.Ok).finish();
const AUTHENTICATION_CLEARTEXT = writer.start(Backend.Authentication).int32(AuthCode.CleartextPassword).finish();
const READY_FOR_QUERY: Record<TransactionStatus, Buffer> = {
  I: writer.start(Backend.ReadyForQuery).byte(0x49).finish(),
  T: writer.start(Backend.ReadyForQuery).byte(0x54).finish(),
  E: writer.start(Backend.ReadyForQuery).byte(0x45).finish(),
};
const EMPTY_QUERY_RESPONSE = writer.start(Backend.EmptyQueryResponse).finish();
const PARSE_COMPLETE = writer.start(Backend.ParseComplete).finish();
const BIND_COMPLETE = writer.start(Backend.BindComplete).finish();
const CLOSE_COMPLETE = writer.start(Backend.CloseComplete).finish();
const NO_DATA = writer.start(Backend.NoData).finish();
// The answer to SSLRequest/GSSENCRequest is one bare byte, not a frame.
const SSL_RESPONSE = { S: Buffer.from('S'), N: Buffer.from('N') };

/** Shared constant. */
export function authenticationOk(): Buffer {
  return AUTHENTICATION_OK;
}

/** Shared constant. */
export function authenticationCleartextPassword(): Buffer {
  return AUTHENTICATION_CLEARTEXT;
}

export function authenticationSASL(mechanisms: readonly string[]): Buffer {
  writer.start(Backend.Authentication).int32(AuthCode.SASL);
  for (const name of mechanisms) writer.cstring(name);
  return writer.byte(0).finish();
}

export function authenticationSASLContinue(data: Buffer | string): Buffer {
  return authenticationWithData(AuthCode.SASLContinue, data);
}

export function authenticationSASLFinal(data: Buffer | string): Buffer {
  return authenticationWithData(AuthCode.SASLFinal, data);
}

export function parameterStatus(name: string, value: string): Buffer {
  return writer.start(Backend.ParameterStatus).cstring(name).cstring(value).finish();
}

export function backendKeyData(pid: number, key: Buffer): Buffer {
  if (key.length < CancelKeyLength.min || key.length > CancelKeyLength.max) throw new RangeError(`cancel key must be 4..256 bytes, got ${key.length}`);
  return writer.start(Backend.BackendKeyData).int32(pid).bytes(key).finish();
}

/** Shared constant. */
export function readyForQuery(status: TransactionStatus): Buffer {
  return READY_FOR_QUERY[status];
}

export function errorResponse(notice: Notice): Buffer {
  return encodeNotice(Backend.ErrorResponse, notice);
}

export function noticeResponse(notice: Notice): Buffer {
  return encodeNotice(Backend.NoticeResponse, notice);
}

/** Omitted attributes default to: no table (0, 0), variable length (-1), no modifier (-1), text. */
export function rowDescription(
  fields: readonly (Pick<FieldDescription, 'name' | 'typeOid'> & Partial<FieldDescription>)[],
): Buffer {
  writer.start(Backend.RowDescription).uint16(fields.length);
  for (const { name, tableOid = 0, columnAttr = 0, typeOid, typeSize = -1, typeMod = -1, format = Format.Text } of fields) {
    writer.cstring(name).uint32(tableOid).int16(columnAttr).uint32(typeOid).int16(typeSize).int32(typeMod).int16(format);
  }
  return writer.finish();
}

/** Strings are written as UTF-8; null is SQL NULL. */
export function dataRow(values: readonly (Buffer | string | null)[]): Buffer {
  writer.start(Backend.DataRow).uint16(values.length);
  for (const value of values) writer.nullable(value);
  return writer.finish();
}

export function commandComplete(tag: string): Buffer {
  return writer.start(Backend.CommandComplete).cstring(tag).finish();
}

/** Shared constant. */
export function emptyQueryResponse(): Buffer {
  return EMPTY_QUERY_RESPONSE;
}

/** Shared constant (the ParseComplete message; not a parser). */
export function parseComplete(): Buffer {
  return PARSE_COMPLETE;
}

/** Shared constant. */
export function bindComplete(): Buffer {
  return BIND_COMPLETE;
}

/** Shared constant. */
export function closeComplete(): Buffer {
  return CLOSE_COMPLETE;
}

/** Shared constant. */
export function noData(): Buffer {
  return NO_DATA;
}

/** Shared constant: the single byte answering an SSLRequest or GSSENCRequest ('S' willing, 'N' not). */
export function sslResponse(answer: 'S' | 'N'): Buffer {
  return SSL_RESPONSE[answer];
}

function authenticationWithData(code: number, data: Buffer | string): Buffer {
  writer.start(Backend.Authentication).int32(code);
  return (typeof data === 'string' ? writer.string(data) : writer.bytes(data)).finish();
}

/**
 * Notice text is for people and may quote what a peer sent: a NUL in it (which would end the field early) is shown as
 * U+FFFD instead of refused, so building an error can never itself fail.
 */
function encodeNotice(type: number, notice: Notice): Buffer {
  writer.start(type);
  for (const [code, key] of NOTICE_FIELDS) {
    const value = notice[key];
    if (value !== undefined) writer.byte(code.charCodeAt(0)).cstring(value.includes('\0') ? value.replaceAll('\0', '\uFFFD') : value);
  }
  return writer.byte(0).finish();
}

/** Tells a client asking for a newer minor version (or `_pq_.` options) what this server speaks instead. */
export function negotiateProtocolVersion(minor: number, unsupportedOptions: readonly string[]): Buffer {
  writer.start(Backend.NegotiateProtocolVersion).int32(minor).int32(unsupportedOptions.length);
  for (const option of unsupportedOptions) writer.cstring(option);
  return writer.finish();
}
