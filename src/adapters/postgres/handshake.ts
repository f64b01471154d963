// The phases before a session exists: TLS, the startup message, SCRAM with the token as password. Small messages only.
//
// Nothing here is trusted yet, so nothing here may cost much: messages are capped at a few KB (the startup packet at
// PostgreSQL's own 10,000 bytes), a client that sends more than that ahead of the handshake stops being read, and the
// listener gives the whole handshake one deadline.
import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import type { AdapterServices } from '../../pipeline/adapter.ts';
import type { TokenRecord } from '../../services/store/store.ts';
import { AuthThrottle, type Failure } from '../../services/identity/throttle.ts';
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
  /** `address:port`, for the audit. */
  client: string;
  address: string;
}

/**
 * SCRAM-SHA-256 with the token as password; every candidate token for this user name is checked. A valid token always
 * gets through; failures count against (address, user name), and once that is throttled they are answered late.
 */
export async function authenticate(hello: ClientHello, a: AuthContext): Promise<TokenRecord> {
  const { services } = a;
  const { frames, user } = hello;
  frames.socket.write(authenticationSASL(['SCRAM-SHA-256']));
  const initial = await frames.next();
  if (initial.type !== Frontend.PasswordMessage) throw new ProtocolError('expected SASLInitialResponse');
  const { mechanism, data } = parseSASLInitialResponse(initial.body);
  if (mechanism !== 'SCRAM-SHA-256' || !data) throw new Refusal('28000', `Gatehouse: unsupported SASL mechanism "${mechanism}"`);
  const first = serverFirst(data.toString('utf8'), services.tokens.scramParams(user));
  frames.socket.write(authenticationSASLContinue(first.message));
  const final = await frames.next();
  if (final.type !== Frontend.PasswordMessage) throw new ProtocolError('expected SASLResponse');
  const clientFinal = parseSASLResponse(final.body).toString('utf8');
  const candidates = services.tokens.scramCandidates(user);
  const result = verifyClientFinal(first.state, clientFinal, candidates.map(verifierOf));
  if (result.ok) {
    const token = candidates.find((t) => t.id === result.id)!;
    if (services.tokens.status(token).ok) {
      frames.socket.write(authenticationSASLFinal(result.serverFinal));
      return token;
    }
  }
  // Say precisely why a real-but-dead token fails; an unknown one gets the generic message.
  const dead = services.tokens.deadTokensForUser(user);
  const match = dead.length ? verifyClientFinal(first.state, clientFinal, dead.map(verifierOf)) : undefined;
  const deadToken = match?.ok ? dead.find((t) => t.id === match.id) : undefined;
  const why = deadToken && (deadToken.revokedAt !== null ? 'revoked' : 'expired');
  audit(a, 'auth.failure', deadToken?.id ?? null, deadToken ? `token ${why}` : `no live token for user "${user}" matches`, user);
  if (await throttled(a, user)) {
    throw new Refusal('28000', 'Gatehouse: too many failed authentication attempts for this user name from this address; try again later');
  }
  if (deadToken) throw new Refusal('28000', `Gatehouse: token ${deadToken.id} (${deadToken.label}) has been ${why}`);
  throw new Refusal('28P01', `password authentication failed for user "${user}"`);
}

/**
 * Counts a failure (a wrong token, a protocol violation) against the client (its address and the user name it gave).
 * The moment a client becomes throttled is audited and logged, once per window.
 */
export function countFailure(a: AuthContext, user: string): Failure {
  const { throttle } = a.services;
  const failure = throttle.fail(AuthThrottle.key(a.address, user));
  if (failure.started) {
    const { maxFailures, windowMs, delayMs } = throttle.options;
    audit(a, 'auth.throttled', null, `more than ${maxFailures} failed attempts within ${windowMs / 1000}s; failures are now answered after ${delayMs} ms`, user);
    a.services.log.warn({ connection: a.connection, client: a.address, user }, 'throttling failed authentications');
  }
  return failure;
}

/** A failed login: counted, and when the client is throttled, answered only after the throttle's delay (true). */
async function throttled(a: AuthContext, user: string): Promise<boolean> {
  if (!countFailure(a, user).throttled) return false;
  await new Promise((resolve) => setTimeout(resolve, a.services.throttle.options.delayMs).unref());
  return true;
}

function audit(a: AuthContext, kind: string, tokenId: string | null, reason: string, user: string) {
  a.services.audit.append({ kind, tokenId, connection: a.connection, verdict: 'deny', data: { client: a.client, reason, user } });
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
