// AUTH and HELLO as the gateway answers them itself: their arguments read as Redis reads them, and HELLO's RESP2 reply.

import { encodeReply, isWord, parseInteger, Type } from './codec/resp.ts';

/** What an AUTH or HELLO line asks for, or the error Redis would answer. */
export type Handshake =
  | { ok: true; credentials?: { user?: string; secret: string }; name?: Buffer }
  | { ok: false; error: string };

/** `AUTH <token>` or `AUTH <label> <token>`. */
export function parseAuth(args: readonly Buffer[]): Handshake {
  if (args.length < 2) return { ok: false, error: "ERR wrong number of arguments for 'auth' command" };
  if (args.length > 3) return { ok: false, error: 'ERR syntax error' };
  const [user, secret] = args.length === 3 ? [args[1].toString('utf8'), args[2]] : [undefined, args[1]];
  return { ok: true, credentials: { user, secret: secret.toString('latin1') } };
}

/** `HELLO [protover [AUTH user pass] [SETNAME name]]`; only protocol 2 is spoken here. */
export function parseHello(args: readonly Buffer[]): Handshake {
  if (args.length >= 2) {
    const version = parseInteger(args[1]);
    if (version === undefined) return { ok: false, error: 'ERR Protocol version is not an integer or out of range' };
    if (version === 3) return { ok: false, error: 'NOPROTO Gatehouse speaks RESP2 only: HELLO 3 (RESP3) is not supported; use protocol 2' };
    if (version !== 2) return { ok: false, error: 'NOPROTO unsupported protocol version' };
  }
  let credentials: { user?: string; secret: string } | undefined;
  let name: Buffer | undefined;
  for (let j = 2; j < args.length; j++) {
    const more = args.length - 1 - j;
    if (isWord(args[j], 'auth') && more >= 2) {
      credentials = { user: args[j + 1].toString('utf8'), secret: args[j + 2].toString('latin1') };
      j += 2;
    } else if (isWord(args[j], 'setname') && more >= 1) {
      name = args[++j];
    } else {
      return { ok: false, error: `ERR Syntax error in HELLO option '${args[j].toString('latin1').replace(/[^\x20-\x7e]/g, '?')}'` };
    }
  }
  return { ok: true, credentials, name };
}

/** HELLO's reply in RESP2: a flat array of field names and values. */
export function helloReply(version: string, id: number): Buffer {
  const line = (text: string) => ({ type: Type.Integer, text });
  return encodeReply([
    Buffer.from('server'), Buffer.from('redis'),
    Buffer.from('version'), Buffer.from(version),
    Buffer.from('proto'), line('2'),
    Buffer.from('id'), line(String(id)),
    Buffer.from('mode'), Buffer.from('standalone'),
    Buffer.from('role'), Buffer.from('master'),
    Buffer.from('modules'), [],
  ]);
}
