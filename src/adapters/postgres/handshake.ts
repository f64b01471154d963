// The phases before a session exists: TLS, the startup message, SCRAM with the token as password. Small messages only.
//
// Nothing here is trusted yet, so nothing here may cost much: messages are capped at a few KB (the startup packet at
// PostgreSQL's own 10,000 bytes), a client that sends more than that ahead of the handshake stops being read, and the
// listener gives the whole handshake one deadline.
import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import type { SqlGrant } from '../../config/schema.ts';
import type { AdapterServices } from '../../pipeline/adapter.ts';
import { scramParams } from '../../services/identity/scram-keys.ts';
import type { TokenRecord } from '../../services/store/store.ts';
import { serverFirst, verifyClientFinal } from './auth/scram.ts';
import { authenticationSASL, authenticationSASLContinue, authenticationSASLFinal, negotiateProtocolVersion, sslResponse } from './codec/backend.ts';
import { ProtocolError } from './codec/cursor.ts';
import { parseSASLInitialResponse, parseSASLResponse, parseStartup } from './codec/frontend.ts';
import { Frontend } from './codec/messages.ts';
import { FrameReader } from './codec/reader.ts';
import { Refusal } from './errors.ts';
import { SocketFrames } from './frames.ts';

/** Largest message before authentication: SCRAM's messages are a few hundred bytes. */
export const HANDSHAKE_MESSAGE_MAX = 8 * 1024;

export interface ClientHello {
  socket: Socket;
  frames: SocketFrames;
  params: Map<string, string>;
  user: string;
}

export type Hello = ClientHello | { kind: 'cancel'; pid: number; key: Buffer };

/** Reads the startup message, answering SSLRequest/GSSENCRequest on the way (TLS when it is offered). */
export async function readStartup(raw: Socket, tls: SecureContext | undefined): Promise<Hello> {
  let socket: Socket = raw;
  let frames = handshakeFrames(socket);
  for (;;) {
    const request = parseStartup((await frames.next()).body);
    if (request.kind === 'cancel') return request;
    if (request.kind === 'startup') {
      if (request.major !== 3) throw new Refusal('08P01', `unsupported protocol version ${request.major}.${request.minor}`);
      checkStartupParams(request.params);
      // Speak 3.0 and decline protocol options, as a PostgreSQL server older than the client would.
      const options = [...request.params.keys()].filter((k) => k.startsWith('_pq_.'));
      if (request.minor > 0 || options.length) socket.write(negotiateProtocolVersion(0, options));
      return { socket, frames, params: request.params, user: request.params.get('user') ?? '' };
    }
    const useTls = request.kind === 'ssl' && tls !== undefined && !(socket instanceof TLSSocket);
    // Bytes sent before the TLS handshake could be an attacker's injection (CVE-2021-23214).
    if (frames.reader.buffered) throw new ProtocolError('data received before the TLS handshake');
    socket.write(sslResponse(useTls ? 'S' : 'N'));
    if (useTls) {
      frames.detach();
      socket = await startTls(raw, tls);
      frames = handshakeFrames(socket);
    }
  }
}

function handshakeFrames(socket: Socket): SocketFrames {
  return new SocketFrames(socket, new FrameReader({ source: 'frontend', startup: true, maxLength: HANDSHAKE_MESSAGE_MAX }), HANDSHAKE_MESSAGE_MAX * 2);
}

export interface AuthContext {
  services: AdapterServices;
  connection: string;
  address: string;
}

/**
 * SCRAM-SHA-256 with the token as password: the gate offers every live token this user name may mean, and the one whose
 * verifier the client's proof matches is the agent's. A valid token always gets through; failures are audited and
 * throttled by the gate, per (address, user name).
 */
export async function authenticate(hello: ClientHello, a: AuthContext): Promise<{ token: TokenRecord; grant: SqlGrant }> {
  const { frames, user } = hello;
  frames.socket.write(authenticationSASL(['SCRAM-SHA-256']));
  const initial = await frames.next();
  if (initial.type !== Frontend.PasswordMessage) throw new ProtocolError('expected SASLInitialResponse');
  const { mechanism, data } = parseSASLInitialResponse(initial.body);
  if (mechanism !== 'SCRAM-SHA-256' || !data) throw new Refusal('28000', `Gatehouse: unsupported SASL mechanism "${mechanism}"`);
  const first = serverFirst(data.toString('utf8'), scramParams(user));
  frames.socket.write(authenticationSASLContinue(first.message));
  const final = await frames.next();
  if (final.type !== Frontend.PasswordMessage) throw new ProtocolError('expected SASLResponse');
  const clientFinal = parseSASLResponse(final.body).toString('utf8');
  let serverFinal = '';
  const admission = await a.services.gate.authenticate<SqlGrant>(a.connection, { address: a.address, user }, (candidates) => {
    const result = verifyClientFinal(first.state, clientFinal, candidates.map(verifierOf));
    if (!result.ok) return undefined;
    serverFinal = result.serverFinal;
    return candidates.find((t) => t.id === result.id);
  });
  if (admission.ok) {
    frames.socket.write(authenticationSASLFinal(serverFinal));
    return admission;
  }
  // PostgreSQL's own answer for a wrong password; Gatehouse's words for what the gate knows more precisely.
  if (admission.reason === 'unknown') throw new Refusal('28P01', admission.message);
  // cannot_connect_now, as PostgreSQL itself answers while it cannot serve yet: not an authentication failure.
  if (admission.reason === 'store-unreachable') throw new Refusal('57P03', `Gatehouse: ${admission.message}`);
  throw new Refusal('28000', `Gatehouse: ${admission.message}`);
}

/** Startup parameters that would change what statements mean, or the protocol itself, are refused up front. */
function checkStartupParams(params: Map<string, string>) {
  if (params.has('replication')) throw new Refusal('28000', 'Gatehouse: replication connections are not allowed');
  const encoding = params.get('client_encoding');
  if (encoding && !/^(utf-?8|unicode)$/i.test(encoding.replace(/['"]/g, ''))) {
    throw new Refusal('22023', `Gatehouse: client_encoding ${encoding} is not supported; use UTF8`);
  }
  if (params.has('options')) throw new Refusal('28000', 'Gatehouse: the "options" startup parameter is not allowed (server settings are the gateway\'s)');
}

const verifierOf = (t: TokenRecord) => ({ id: t.id, storedKey: Buffer.from(t.scramStoredKey, 'base64'), serverKey: Buffer.from(t.scramServerKey, 'base64') });

/** A TLS handshake that also fails when the peer just goes away (the listener's deadline bounds a silent one). */
function startTls(socket: Socket, secureContext: SecureContext): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const secure = new TLSSocket(socket, { isServer: true, secureContext });
    secure.once('secure', () => resolve(secure));
    secure.once('error', reject);
    secure.once('close', () => reject(new ProtocolError('connection closed during the TLS handshake')));
  });
}
