// Client commands after authentication: what each carries (query text, statement ids, options), read without trusting a byte.
import { PayloadReader, PayloadWriter, ProtocolError } from './bytes.ts';
import { Command } from './constants.ts';

/** COM_QUERY, COM_STMT_PREPARE and COM_INIT_DB carry text; it must be UTF-8 to be judged as the server will read it. */
export function commandText(payload: Buffer, what: string): string {
  const text = payload.subarray(1);
  // A replacement character would hide bytes the server sees: invalid UTF-8 is refused, not decoded around.
  if (!isWellFormed(text)) throw new ProtocolError(`${what}: the text is not valid UTF-8`);
  return text.toString('utf8');
}

const decoder = new TextDecoder('utf-8', { fatal: true });
function isWellFormed(bytes: Buffer): boolean {
  try {
    decoder.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

export function encodeQuery(text: string, command: number = Command.QUERY): Buffer {
  return new PayloadWriter(text.length + 1).u8(command).string(text).finish();
}

/** The statement id every COM_STMT_* command but PREPARE opens with. */
export function statementId(payload: Buffer): number {
  return new PayloadReader(payload, 'statement command', 1).u32();
}

export interface StmtExecute {
  statementId: number;
  /** Cursor flags; Gatehouse accepts only 0 (no cursor: rows come back at once, where they can be masked). */
  flags: number;
  iterations: number;
}

export function decodeStmtExecute(payload: Buffer): StmtExecute {
  const r = new PayloadReader(payload, 'COM_STMT_EXECUTE', 1);
  return { statementId: r.u32(), flags: r.u8(), iterations: r.u32() };
}

/** COM_STMT_PREPARE's OK: the statement id and how many columns and parameters it has. */
export interface PrepareOk {
  statementId: number;
  columns: number;
  params: number;
  warnings: number;
}

export function decodePrepareOk(payload: Buffer): PrepareOk {
  const r = new PayloadReader(payload, 'COM_STMT_PREPARE response');
  if (r.u8() !== 0x00) throw new ProtocolError('COM_STMT_PREPARE response: bad header');
  const statementId = r.u32();
  const columns = r.u16();
  const params = r.u16();
  r.skip(1);
  const warnings = r.remaining >= 2 ? r.u16() : 0;
  return { statementId, columns, params, warnings };
}

export function encodePrepareOk(p: PrepareOk): Buffer {
  return new PayloadWriter(12).u8(0).u32(p.statementId).u16(p.columns).u16(p.params).u8(0).u16(p.warnings).finish();
}

/** COM_SET_OPTION: 0 turns multi-statements on, 1 off. */
export function decodeSetOption(payload: Buffer): number {
  const r = new PayloadReader(payload, 'COM_SET_OPTION', 1);
  const option = r.u16();
  if (option > 1) throw new ProtocolError(`COM_SET_OPTION: unknown option ${option}`);
  return option;
}

/** COM_FIELD_LIST: a table name (NUL-terminated) and a column wildcard. */
export function decodeFieldList(payload: Buffer): { table: string; wildcard: string } {
  const r = new PayloadReader(payload, 'COM_FIELD_LIST', 1);
  const table = r.nulBytes();
  if (!isWellFormed(table)) throw new ProtocolError('COM_FIELD_LIST: the table name is not valid UTF-8');
  return { table: table.toString('utf8'), wildcard: r.rest().toString('utf8') };
}

export function encodeFieldList(table: string, wildcard = ''): Buffer {
  return new PayloadWriter(table.length + 2).u8(Command.FIELD_LIST).nulString(table).string(wildcard).finish();
}
