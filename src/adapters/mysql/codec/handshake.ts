// The connection phase: the server's greeting (handshake v10), the client's answer (HandshakeResponse41 / SSLRequest), auth switch and more-data.
import { PayloadReader, PayloadWriter, ProtocolError } from './bytes.ts';
import { Capability, Reply } from './constants.ts';

export interface ServerGreeting {
  protocolVersion: number;
  serverVersion: string;
  connectionId: number;
  /** The 20-byte nonce (both parts joined, trailing NUL dropped). */
  nonce: Buffer;
  /** Low 32 capability bits. */
  capabilities: number;
  charset: number;
  status: number;
  authPlugin: string;
}

/** Handshake v10, as a server sends it. */
export function encodeGreeting(g: ServerGreeting): Buffer {
  if (g.nonce.length !== 20) throw new TypeError('the handshake nonce is 20 bytes');
  const w = new PayloadWriter(128)
    .u8(10)
    .nulString(g.serverVersion)
    .u32(g.connectionId)
    .bytes(g.nonce.subarray(0, 8))
    .u8(0)
    .u16(g.capabilities & 0xffff)
    .u8(g.charset)
    .u16(g.status)
    .u16(g.capabilities >>> 16)
    .u8(g.nonce.length + 1)
    .zeros(10)
    .bytes(g.nonce.subarray(8))
    .u8(0);
  if (g.capabilities & Capability.PLUGIN_AUTH) w.nulString(g.authPlugin);
  return w.finish();
}

export function decodeGreeting(payload: Buffer): ServerGreeting {
  const r = new PayloadReader(payload, 'server handshake');
  const protocolVersion = r.u8();
  if (protocolVersion === Reply.ERR) throw new ProtocolError('server refused the connection before the handshake');
  if (protocolVersion !== 10) throw new ProtocolError(`unsupported handshake protocol version ${protocolVersion}`);
  const serverVersion = r.nulString();
  const connectionId = r.u32();
  const part1 = r.bytes(8);
  r.skip(1);
  let capabilities = r.u16();
  const charset = r.u8();
  const status = r.u16();
  capabilities = (capabilities | (r.u16() << 16)) >>> 0;
  const dataLength = r.u8();
  r.skip(10);
  let part2: Buffer = Buffer.alloc(0);
  if (capabilities & Capability.SECURE_CONNECTION) {
    part2 = r.bytes(Math.max(13, dataLength - 8));
    if (part2[part2.length - 1] === 0) part2 = part2.subarray(0, -1);
  }
  let authPlugin = 'mysql_native_password';
  if (capabilities & Capability.PLUGIN_AUTH && !r.done) {
    const rest = r.rest();
    const nul = rest.indexOf(0);
    authPlugin = (nul === -1 ? rest : rest.subarray(0, nul)).toString('utf8');
  }
  return { protocolVersion, serverVersion, connectionId, nonce: Buffer.concat([part1, part2]), capabilities, charset, status, authPlugin };
}

export interface HandshakeResponse {
  capabilities: number;
  maxPacket: number;
  charset: number;
  user: string;
  authResponse: Buffer;
  database?: string;
  authPlugin?: string;
  attributes: Map<string, string>;
}

/** Length of an SSLRequest (a HandshakeResponse41 cut after its fixed part). */
const SSL_REQUEST_LENGTH = 32;

/** The fixed part every client answer starts with; enough to see an SSLRequest. */
function decodeClientHead(payload: Buffer): { capabilities: number; maxPacket: number; charset: number } {
  const r = new PayloadReader(payload, 'handshake response');
  const capabilities = r.u32();
  if (!(capabilities & Capability.PROTOCOL_41)) throw new ProtocolError('clients must speak protocol 4.1');
  const maxPacket = r.u32();
  const charset = r.u8();
  r.skip(23);
  return { capabilities, maxPacket, charset };
}

export function isSslRequest(payload: Buffer): boolean {
  return payload.length === SSL_REQUEST_LENGTH && (payload.readUInt32LE(0) & Capability.SSL) !== 0;
}

export function decodeHandshakeResponse(payload: Buffer): HandshakeResponse {
  const head = decodeClientHead(payload);
  const r = new PayloadReader(payload, 'handshake response', SSL_REQUEST_LENGTH);
  const user = r.nulString();
  const caps = head.capabilities;
  const authResponse = caps & Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA ? r.lenencBytes()
    : caps & Capability.SECURE_CONNECTION ? r.bytes(r.u8())
    : r.nulBytes();
  const response: HandshakeResponse = { ...head, user, authResponse, attributes: new Map() };
  if (caps & Capability.CONNECT_WITH_DB && !r.done) response.database = r.nulString();
  if (caps & Capability.PLUGIN_AUTH && !r.done) response.authPlugin = r.nulString();
  if (caps & Capability.CONNECT_ATTRS && !r.done) {
    const attrs = new PayloadReader(r.lenencBytes(), 'connection attributes');
    while (!attrs.done) response.attributes.set(attrs.lenencString(), attrs.lenencString());
  }
  return response;
}

export function encodeHandshakeResponse(h: Omit<HandshakeResponse, 'attributes'> & { attributes?: Map<string, string> }): Buffer {
  const w = new PayloadWriter(128).u32(h.capabilities).u32(h.maxPacket).u8(h.charset).zeros(23).nulString(h.user);
  if (h.capabilities & Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA) w.lenencBytes(h.authResponse);
  else w.u8(h.authResponse.length).bytes(h.authResponse);
  if (h.capabilities & Capability.CONNECT_WITH_DB) w.nulString(h.database ?? '');
  if (h.capabilities & Capability.PLUGIN_AUTH) w.nulString(h.authPlugin ?? '');
  if (h.capabilities & Capability.CONNECT_ATTRS) {
    const attrs = new PayloadWriter();
    for (const [k, v] of h.attributes ?? []) attrs.lenencString(k).lenencString(v);
    w.lenencBytes(attrs.finish());
  }
  return w.finish();
}

export function encodeSslRequest(capabilities: number, maxPacket: number, charset: number): Buffer {
  return new PayloadWriter(32).u32(capabilities | Capability.SSL).u32(maxPacket).u8(charset).zeros(23).finish();
}

/** AuthSwitchRequest: 0xFE, plugin name, plugin data (the nonce and its NUL). */
export function encodeAuthSwitch(plugin: string, nonce: Buffer): Buffer {
  return new PayloadWriter(48).u8(Reply.EOF).nulString(plugin).bytes(nonce).u8(0).finish();
}

export function decodeAuthSwitch(payload: Buffer): { plugin: string; data: Buffer } {
  const r = new PayloadReader(payload, 'auth switch request');
  if (r.u8() !== Reply.EOF) throw new ProtocolError('auth switch request: bad header');
  const plugin = r.nulString();
  let data = r.rest();
  if (data.length && data[data.length - 1] === 0) data = data.subarray(0, -1);
  return { plugin, data };
}

/** AuthMoreData: 0x01 followed by plugin-specific bytes. */
export function encodeAuthMoreData(data: Buffer): Buffer {
  return new PayloadWriter(data.length + 1).u8(Reply.MORE_DATA).bytes(data).finish();
}
