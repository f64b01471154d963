// Messages a client sends: parsed when agents talk to us, encoded when we talk to the upstream as a client.
//
// Parsers take a frame's `body`; Buffers they return are views into it (valid until the reader's
// next push). Encoders return a fresh Buffer, except the documented shared constants.

import { byteName, Cursor } from './cursor.ts';
import { CancelKeyLength, Format, type FormatCode, Frontend, StartupCode } from './messages.ts';
import { writer } from './writer.ts';

export type StartupRequest =
  | { kind: 'startup'; major: number; minor: number; params: Map<string, string> }
  | { kind: 'ssl' }
  | { kind: 'gssenc' }
  | { kind: 'cancel'; pid: number; key: Buffer };

export interface ParseMessage {
  /** Prepared statement name; '' is the unnamed statement. */
  name: string;
  text: string;
  /** Parameter type OIDs; 0 leaves the type for the server to infer. */
  paramTypes: number[];
}

export interface BindMessage {
  portal: string;
  statement: string;
  /** Empty: all text; one code: applies to all; otherwise one per parameter. */
  paramFormats: FormatCode[];
  params: (Buffer | null)[];
  resultFormats: FormatCode[];
}

/** The object of a Describe or Close: a prepared statement or a portal. */
export interface StatementOrPortal {
  kind: 'S' | 'P';
  name: string;
}

// ---- parsers ----

/** The body of an untyped startup-phase frame, from its int32 code on. */
export function parseStartup(body: Buffer): StartupRequest {
  const cursor = new Cursor(body, 'startup packet');
  const code = cursor.int32();
  switch (code) {
    case StartupCode.SSLRequest:
      cursor.end();
      return { kind: 'ssl' };
    case StartupCode.GSSENCRequest:
      cursor.end();
      return { kind: 'gssenc' };
    case StartupCode.CancelRequest: {
      const pid = cursor.int32();
      const key = cursor.rest();
      if (key.length < CancelKeyLength.min || key.length > CancelKeyLength.max) throw cursor.error(`cancel key of ${key.length} bytes`);
      return { kind: 'cancel', pid, key };
    }
  }
  const major = code >>> 16;
  const minor = code & 0xffff;
  if (major !== 3) throw cursor.error(`unsupported protocol ${major}.${minor}`);
  const params = new Map<string, string>();
  for (let name = cursor.cstring(); name !== ''; name = cursor.cstring()) {
    // PostgreSQL keeps the last duplicate; refusing them means we and the upstream can never disagree on `user`.
    if (params.has(name)) throw cursor.error(`duplicate parameter "${name}"`);
    params.set(name, cursor.cstring());
  }
  cursor.end();
  return { kind: 'startup', major, minor, params };
}

export function parseQuery(body: Buffer): string {
  const cursor = new Cursor(body, 'Query');
  const text = cursor.cstring();
  cursor.end();
  return text;
}

export function parseParse(body: Buffer): ParseMessage {
  const cursor = new Cursor(body, 'Parse');
  const name = cursor.cstring();
  const text = cursor.cstring();
  const paramTypes = cursor.list(() => cursor.uint32());
  cursor.end();
  return { name, text, paramTypes };
}

export function parseBind(body: Buffer): BindMessage {
  const cursor = new Cursor(body, 'Bind');
  const portal = cursor.cstring();
  const statement = cursor.cstring();
  const paramFormats = formatCodes(cursor);
  const params = cursor.list(() => cursor.nullableBytes());
  if (paramFormats.length > 1 && paramFormats.length !== params.length) {
    throw cursor.error(`${paramFormats.length} parameter formats for ${params.length} parameters`);
  }
  const resultFormats = formatCodes(cursor);
  cursor.end();
  return { portal, statement, paramFormats, params, resultFormats };
}

export function parseDescribe(body: Buffer): StatementOrPortal {
  return statementOrPortal(new Cursor(body, 'Describe'));
}

export function parseClose(body: Buffer): StatementOrPortal {
  return statementOrPortal(new Cursor(body, 'Close'));
}

export function parseExecute(body: Buffer): { portal: string; maxRows: number } {
  const cursor = new Cursor(body, 'Execute');
  const portal = cursor.cstring();
  const maxRows = cursor.int32();
  cursor.end();
  return { portal, maxRows };
}

/** A PasswordMessage answering a cleartext or md5 request. */
export function parsePassword(body: Buffer): string {
  const cursor = new Cursor(body, 'PasswordMessage');
  const password = cursor.cstring();
  cursor.end();
  return password;
}

/** The `p` message answering AuthenticationSASL. `data` is null when the client sent length -1. */
export function parseSASLInitialResponse(body: Buffer): { mechanism: string; data: Buffer | null } {
  const cursor = new Cursor(body, 'SASLInitialResponse');
  const mechanism = cursor.cstring();
  const data = cursor.nullableBytes();
  cursor.end();
  return { mechanism, data };
}

/** The `p` message answering AuthenticationSASLContinue: the whole body is mechanism data. */
export function parseSASLResponse(body: Buffer): Buffer {
  return body;
}

function formatCodes(cursor: Cursor): FormatCode[] {
  return cursor.list(() => {
    const code = cursor.int16();
    if (code !== Format.Text && code !== Format.Binary) throw cursor.error(`format code ${code}`);
    return code;
  });
}

function statementOrPortal(cursor: Cursor): StatementOrPortal {
  const byte = cursor.byte();
  const kind = String.fromCharCode(byte);
  if (kind !== 'S' && kind !== 'P') throw cursor.error(`kind ${byteName(byte)} is neither 'S' nor 'P'`);
  const name = cursor.cstring();
  cursor.end();
  return { kind, name };
}

// ---- encoders ----

// Constant frames are built once; they are shared, so never mutate them.
const SSL_REQUEST = writer.start().int32(StartupCode.SSLRequest).finish();
const SYNC = writer.start(Frontend.Sync).finish();
const FLUSH = writer.start(Frontend.Flush).finish();
const TERMINATE = writer.start(Frontend.Terminate).finish();

/** A protocol 3.0 StartupMessage. Set `client_encoding` yourself: nothing is added behind your back. */
export function startupMessage(params: Map<string, string> | Record<string, string>): Buffer {
  writer.start().int32(StartupCode.Protocol3);
  for (const [name, value] of params instanceof Map ? params : Object.entries(params)) writer.cstring(name).cstring(value);
  return writer.byte(0).finish();
}

/** Shared constant. */
export function sslRequest(): Buffer {
  return SSL_REQUEST;
}

export function cancelRequest(pid: number, key: Buffer): Buffer {
  return writer.start().int32(StartupCode.CancelRequest).int32(pid).bytes(key).finish();
}

export function query(text: string): Buffer {
  return writer.start(Frontend.Query).cstring(text).finish();
}

/** name '' is the unnamed statement; a type OID of 0 leaves the type for the server to infer. */
export function parse(name: string, text: string, paramTypes: readonly number[] = []): Buffer {
  writer.start(Frontend.Parse).cstring(name).cstring(text).uint16(paramTypes.length);
  for (const oid of paramTypes) writer.uint32(oid);
  return writer.finish();
}

export function bind({
  portal = '',
  statement = '',
  paramFormats = [],
  params,
  resultFormats = [],
}: {
  portal?: string;
  statement?: string;
  paramFormats?: readonly FormatCode[];
  params: readonly (Buffer | string | null)[];
  resultFormats?: readonly FormatCode[];
}): Buffer {
  writer.start(Frontend.Bind).cstring(portal).cstring(statement).uint16(paramFormats.length);
  for (const code of paramFormats) writer.int16(code);
  writer.uint16(params.length);
  for (const value of params) writer.nullable(value);
  writer.uint16(resultFormats.length);
  for (const code of resultFormats) writer.int16(code);
  return writer.finish();
}

export function describe(kind: 'S' | 'P', name = ''): Buffer {
  return writer.start(Frontend.Describe).byte(kind.charCodeAt(0)).cstring(name).finish();
}

export function close(kind: 'S' | 'P', name = ''): Buffer {
  return writer.start(Frontend.Close).byte(kind.charCodeAt(0)).cstring(name).finish();
}

/** maxRows 0 fetches all rows. */
export function execute(portal = '', maxRows = 0): Buffer {
  return writer.start(Frontend.Execute).cstring(portal).int32(maxRows).finish();
}

/** Shared constant. */
export function sync(): Buffer {
  return SYNC;
}

/** Shared constant. */
export function flush(): Buffer {
  return FLUSH;
}

/** Shared constant. */
export function terminate(): Buffer {
  return TERMINATE;
}

/** Answers a cleartext request with the password, or an md5 request with `md5Password(...)`. */
export function passwordMessage(text: string): Buffer {
  return writer.start(Frontend.PasswordMessage).cstring(text).finish();
}

export function saslInitialResponse(mechanism: string, data: Buffer | string): Buffer {
  return writer.start(Frontend.PasswordMessage).cstring(mechanism).nullable(data).finish();
}

export function saslResponse(data: Buffer | string): Buffer {
  writer.start(Frontend.PasswordMessage);
  return (typeof data === 'string' ? writer.string(data) : writer.bytes(data)).finish();
}
