// The server side of the connection phase: greeting, optional TLS, the client's answer and its proof — before any upstream exists.
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { TLSSocket, type SecureContext } from 'node:tls';
import { ProtocolError } from './codec/bytes.ts';
import { Capability, Status } from './codec/constants.ts';
import { decodeHandshakeResponse, encodeGreeting, isSslRequest, type HandshakeResponse } from './codec/handshake.ts';
import { login, type Proof } from './auth/login.ts';
import { PacketChannel } from './wire.ts';

/**
 * What Gatehouse offers clients. Never: COMPRESS (not implemented), LOCAL_FILES (LOAD DATA LOCAL is refused in both
 * directions), NO_SCHEMA (the server would drop the database from `db.table`) and IGNORE_SPACE (it changes the grammar),
 * SESSION_TRACK, QUERY_ATTRIBUTES, MariaDB's extended capabilities. SSL is added when TLS is configured.
 */
export const SERVER_CAPABILITIES =
  Capability.LONG_PASSWORD | Capability.FOUND_ROWS | Capability.LONG_FLAG | Capability.CONNECT_WITH_DB |
  Capability.ODBC | Capability.PROTOCOL_41 | Capability.INTERACTIVE | Capability.IGNORE_SIGPIPE |
  Capability.TRANSACTIONS | Capability.RESERVED | Capability.SECURE_CONNECTION | Capability.MULTI_STATEMENTS |
  Capability.MULTI_RESULTS | Capability.PS_MULTI_RESULTS | Capability.PLUGIN_AUTH | Capability.CONNECT_ATTRS |
  Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA | Capability.DEPRECATE_EOF;

export interface AcceptOptions {
  /** Capabilities offered (within SERVER_CAPABILITIES, and what the upstream supports); SSL is added when `tls` is set. */
  capabilities: number;
  /** The version string clients see (the upstream's, so drivers enable the same features). */
  serverVersion: string;
  connectionId: number;
  /** The collation id announced in the greeting (utf8mb4_general_ci unless the upstream says otherwise). */
  charset: number;
  /** The plugin announced in the greeting; clients that cannot speak it answer with theirs. */
  authPlugin: string;
  tls?: SecureContext;
  /** Each step of the exchange must arrive within this (a client that stalls mid-handshake is dropped). */
  stepTimeoutMs: number;
  /** Told the user name as soon as the client gives it, before any password exchange; throws to refuse the client. */
  named(user: string): void;
}

export interface Accepted {
  socket: Socket;
  channel: PacketChannel;
  response: HandshakeResponse;
  /** Capabilities in force for the session: what the client asked for, within what was offered. */
  capabilities: number;
  secure: boolean;
  proof: Proof;
}

/** Why a handshake failed, with the channel to say so on: after TLS began, an answer in clear would be noise. */
export class HandshakeError extends Error {
  constructor(readonly failure: Error, readonly channel: PacketChannel) {
    super(failure.message);
  }
}

export async function acceptClient(raw: Socket, options: AcceptOptions): Promise<Accepted> {
  const at = { channel: new PacketChannel(raw, 'client') };
  try {
    return await handshake(raw, options, at);
  } catch (err) {
    throw new HandshakeError(err as Error, at.channel);
  }
}

async function handshake(raw: Socket, options: AcceptOptions, at: { channel: PacketChannel }): Promise<Accepted> {
  const offered = (options.capabilities & SERVER_CAPABILITIES) | (options.tls ? Capability.SSL : 0);
  const nonce = scrambleNonce();
  let socket: Socket = raw;
  let channel = at.channel;
  channel.send(encodeGreeting({
    protocolVersion: 10, serverVersion: options.serverVersion, connectionId: options.connectionId, nonce,
    capabilities: offered, charset: options.charset, status: Status.AUTOCOMMIT, authPlugin: options.authPlugin,
  }));
  let packet = await channel.receive(options.stepTimeoutMs);
  let secure = false;
  if (isSslRequest(packet.payload)) {
    if (!options.tls) throw new ProtocolError('the client asked for TLS, which was not offered');
    // MySQL clients start TLS right behind the SSLRequest, without waiting for an answer: what already arrived is the
    // start of the TLS handshake, and goes to the TLS layer (never read as protocol in clear).
    const seq = channel.seq;
    raw.pause();
    const early = channel.detach().take();
    socket = await startTls(early.length ? prepend(raw, early) : raw, options.tls, options.stepTimeoutMs);
    secure = true;
    channel = at.channel = new PacketChannel(socket, 'client');
    channel.seq = seq;
    packet = await channel.receive(options.stepTimeoutMs);
  }
  const response = decodeHandshakeResponse(packet.payload);
  options.named(response.user);
  if (!(response.capabilities & Capability.SSL) !== !secure) throw new ProtocolError('TLS capability does not match the connection');
  const capabilities = response.capabilities & offered;
  const proof = await login(channel, response, nonce, secure, options.stepTimeoutMs);
  return { socket, channel, response, capabilities, secure, proof };
}

/** 20 bytes of printable, NUL-free randomness: some clients treat the nonce as a C string. */
function scrambleNonce(): Buffer {
  const nonce = randomBytes(20);
  for (let i = 0; i < nonce.length; i++) nonce[i] = 0x21 + (nonce[i] % 94);
  return nonce;
}

/** The socket as a stream that first yields `head` (bytes already read from it). */
function prepend(socket: Socket, head: Buffer): Duplex {
  const stream = new Duplex({
    read() { socket.resume(); },
    write(chunk: Buffer, _encoding, done) { socket.write(chunk, done); },
    final(done) { socket.end(done); },
    destroy(err, done) { socket.destroy(err ?? undefined); done(err); },
  });
  stream.push(head);
  socket.on('data', (chunk: Buffer) => { if (!stream.push(chunk)) socket.pause(); });
  socket.on('end', () => stream.push(null));
  socket.on('error', (err) => stream.destroy(err));
  socket.on('close', () => stream.destroy());
  return stream;
}

function startTls(socket: Socket | Duplex, secureContext: SecureContext, timeoutMs: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const secure = new TLSSocket(socket, { isServer: true, secureContext });
    const timer = setTimeout(() => { secure.destroy(); reject(new ProtocolError('the TLS handshake did not finish in time')); }, timeoutMs);
    secure.once('secure', () => { clearTimeout(timer); resolve(secure); });
    secure.once('error', (err) => { clearTimeout(timer); reject(new ProtocolError(`TLS handshake failed: ${err.message}`)); });
  });
}
