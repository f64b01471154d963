// The server side of authentication: what the client proved (a native-password answer, or the token itself), never a verdict.
import { ProtocolError } from '../codec/bytes.ts';
import { Capability } from '../codec/constants.ts';
import { encodeAuthMoreData, encodeAuthSwitch, type HandshakeResponse } from '../codec/handshake.ts';
import type { Packet } from '../codec/packets.ts';
import { CACHING_SHA2, clearPassword, decryptPassword, rsaKeys, Sha2 } from './caching-sha2.ts';
import { NATIVE_PASSWORD } from './native.ts';

export type Proof =
  /** A mysql_native_password answer to `nonce`: checked against each candidate token's verifier. */
  | { kind: 'native'; nonce: Buffer; response: Buffer }
  /** caching_sha2_password full authentication: the token itself, which arrived over TLS or RSA-encrypted. */
  | { kind: 'token'; token: string };

export interface LoginChannel {
  send(payload: Buffer): void;
  receive(timeoutMs: number): Promise<Packet>;
}

/** A refusal the client sees as an ERR packet during the connection phase (1045 access denied unless said otherwise). */
export class LoginRefusal extends Error {
  constructor(message: string, readonly code = 1045, readonly sqlState = '28000') {
    super(message);
  }
}

/**
 * Runs the plugin exchange after the HandshakeResponse. mysql_native_password answers are returned for the caller to
 * check. caching_sha2_password is always taken to full authentication: its fast-path secret is SHA-256(token), the
 * very hash the token store keeps, so accepting it would let anyone who reads the store log in. Any other plugin is
 * switched to mysql_native_password.
 */
export async function login(channel: LoginChannel, response: HandshakeResponse, nonce: Buffer, secure: boolean, timeoutMs: number): Promise<Proof> {
  const plugin = response.capabilities & Capability.PLUGIN_AUTH ? response.authPlugin ?? '' : NATIVE_PASSWORD;
  if (plugin === NATIVE_PASSWORD) return native(response.authResponse, nonce);
  if (plugin === CACHING_SHA2) return fullAuthentication(channel, nonce, secure, timeoutMs);
  channel.send(encodeAuthSwitch(NATIVE_PASSWORD, nonce));
  return native((await channel.receive(timeoutMs)).payload, nonce);
}

function native(answer: Buffer, nonce: Buffer): Proof {
  if (answer.length === 0) throw new LoginRefusal('Gatehouse: a token is required as the password');
  if (answer.length !== 20) throw new ProtocolError('mysql_native_password: the answer must be 20 bytes');
  return { kind: 'native', nonce, response: answer };
}

async function fullAuthentication(channel: LoginChannel, nonce: Buffer, secure: boolean, timeoutMs: number): Promise<Proof> {
  channel.send(encodeAuthMoreData(Buffer.of(Sha2.PERFORM_FULL_AUTH)));
  const answer = (await channel.receive(timeoutMs)).payload;
  if (secure) return token(clearPassword(answer));
  if (answer.length !== 1 || answer[0] !== Sha2.REQUEST_PUBLIC_KEY) {
    // A client that sends its password in clear over a plain connection: refuse, as MySQL does, and never look at it.
    throw new LoginRefusal('Gatehouse: caching_sha2_password needs TLS or the server\'s RSA public key to send the token; enable TLS or public key retrieval');
  }
  const keys = await rsaKeys();
  channel.send(encodeAuthMoreData(Buffer.from(keys.publicKeyPem)));
  const sealed = (await channel.receive(timeoutMs)).payload;
  const password = decryptPassword(sealed, nonce, keys.privateKey);
  if (password === undefined) throw new LoginRefusal('Gatehouse: the encrypted token could not be decrypted');
  return token(password);
}

function token(password: string): Proof {
  if (!password) throw new LoginRefusal('Gatehouse: a token is required as the password');
  return { kind: 'token', token: password };
}
