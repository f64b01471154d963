// SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL speaks it: the server half for agents, the client half for the upstream.
//
// Messages are the SASL payload text; framing them into Authentication / SASLResponse messages is the codec's job.
// md5Password lives here too: it is the upstream login's other password answer.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { hmac, KEY_BYTES, saltedPassword, sha256 } from '../../../services/identity/scram-keys.ts';

export const SCRAM_SHA_256 = 'SCRAM-SHA-256';

/** One verifier the proof may match; `id` is returned when it does. */
export interface ScramCandidate {
  id: string;
  storedKey: Buffer;
  serverKey: Buffer;
}

/** What the server must remember between its first message and the client's final one. */
export interface ScramServerState {
  /** The `n=` name, decoded. PostgreSQL clients send '' or '*': the StartupMessage `user` is the one that counts. */
  readonly user: string;
  /** Client nonce + server nonce, as sent in server-first. */
  readonly nonce: string;
  /** base64 of the client's GS2 header, which `c=` must echo. */
  readonly channelBinding: string;
  /** client-first-bare "," server-first: the AuthMessage up to the client's final message. */
  readonly authMessagePrefix: string;
}

export type ScramVerdict =
  | { ok: true; id: string; serverFinal: string }
  | { ok: false; reason: 'malformed message' | 'channel binding mismatch' | 'nonce mismatch' | 'invalid proof' };

/** A SCRAM message we cannot accept (malformed or asking for something unsupported). Refuse the login. */
export class ScramError extends Error {
  override readonly name = 'ScramError';
}

// PostgreSQL's SCRAM_RAW_NONCE_LEN; base64 of 18 bytes is 24 printable characters with no ','.
const NONCE_BYTES = 18;
const PRINTABLE = /^[\x21-\x2b\x2d-\x7e]+$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

// ---- server ----

/**
 * Answers a client-first-message. All verifiers that may later be tried must share `salt` and
 * `iterations`. For an unknown user, run the same exchange with the salt its name would have and no
 * candidates: the refusal then looks exactly like a wrong password (PostgreSQL's mock authentication).
 * `serverNonce` exists for test vectors only; leave it unset.
 */
export function serverFirst(
  clientFirst: string,
  params: { salt: Buffer; iterations: number; serverNonce?: string },
): { message: string; state: ScramServerState } {
  const { gs2Header, bare, user, clientNonce } = parseClientFirst(clientFirst);
  const nonce = clientNonce + (params.serverNonce ?? randomBytes(NONCE_BYTES).toString('base64'));
  const message = `r=${nonce},s=${params.salt.toString('base64')},i=${params.iterations}`;
  const state = { user, nonce, channelBinding: Buffer.from(gs2Header).toString('base64'), authMessagePrefix: `${bare},${message}` };
  return { message, state };
}

/**
 * Checks the client's proof against every candidate, each with a constant-time comparison and no
 * early exit, so timing does not reveal which candidate matched. (It does grow with the number of
 * candidates, which is therefore not a secret.)
 */
export function verifyClientFinal(state: ScramServerState, clientFinal: string, candidates: readonly ScramCandidate[]): ScramVerdict {
  // client-final-message = channel-binding "," nonce ["," extensions] "," proof
  const proofAt = clientFinal.lastIndexOf(',p=');
  const withoutProof = clientFinal.slice(0, proofAt);
  const proof = proofAt === -1 ? undefined : decodeBase64(clientFinal.slice(proofAt + 3));
  const [channelBinding, nonce] = withoutProof.split(',');
  if (proof === undefined || proof.length !== KEY_BYTES) return { ok: false, reason: 'malformed message' };
  if (channelBinding !== `c=${state.channelBinding}`) return { ok: false, reason: 'channel binding mismatch' };
  if (nonce !== `r=${state.nonce}`) return { ok: false, reason: 'nonce mismatch' };

  const authMessage = `${state.authMessagePrefix},${withoutProof}`;
  let match: ScramCandidate | undefined;
  for (const candidate of candidates) {
    // ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); the proof is right when H(ClientKey) = StoredKey.
    const clientKey = xor(proof, hmac(candidate.storedKey, authMessage));
    const same = timingSafeEqual(sha256(clientKey), candidate.storedKey);
    if (same && match === undefined) match = candidate;
  }
  if (match === undefined) return { ok: false, reason: 'invalid proof' };
  return { ok: true, id: match.id, serverFinal: `v=${hmac(match.serverKey, authMessage).toString('base64')}` };
}

function parseClientFirst(message: string): { gs2Header: string; bare: string; user: string; clientNonce: string } {
  // client-first-message = gs2-cbind-flag "," [authzid] "," client-first-message-bare
  const [flag, authzid] = message.split(',', 2);
  if (flag.startsWith('p=')) throw new ScramError('channel binding is not supported; use SCRAM-SHA-256');
  // 'y' (what `pg` sends over TLS) means the client could bind but thinks we cannot, which is right: we
  // never offer SCRAM-SHA-256-PLUS. If PLUS is ever offered, 'y' must be refused as a downgrade.
  if (flag !== 'n' && flag !== 'y') throw new ScramError('malformed SCRAM message: bad GS2 header');
  if (authzid === undefined) throw new ScramError('malformed SCRAM message: truncated GS2 header');
  if (authzid !== '') throw new ScramError('authorization identities are not supported');
  const gs2Header = `${flag},${authzid},`;
  const bare = message.slice(gs2Header.length);
  const [name, nonce] = bare.split(',');
  if (name.startsWith('m=')) throw new ScramError('SCRAM mandatory extensions are not supported');
  if (!name.startsWith('n=')) throw new ScramError('malformed SCRAM message: expected n=');
  if (nonce === undefined || !nonce.startsWith('r=') || !PRINTABLE.test(nonce.slice(2))) {
    throw new ScramError('malformed SCRAM message: expected a printable r= nonce');
  }
  return { gs2Header, bare, user: decodeSaslName(name.slice(2)), clientNonce: nonce.slice(2) };
}

// ---- client ----

export interface ScramClient {
  /** The SASLInitialResponse payload. */
  clientFirst(): string;
  /** Takes the SASLContinue payload, returns the SASLResponse payload. Runs PBKDF2 synchronously. */
  handleServerFirst(serverFirst: string): string;
  /** Takes the SASLFinal payload; throws ScramError unless the server proved it knows the password too. */
  verifyServerFinal(serverFinal: string): void;
}

/**
 * The gateway's half when it logs in upstream. `user` defaults to '' as libpq sends it (the server takes the
 * StartupMessage user); `nonce` exists for test vectors only.
 */
export function createScramClient(password: string, options: { user?: string; nonce?: string } = {}): ScramClient {
  const clientNonce = options.nonce ?? randomBytes(NONCE_BYTES).toString('base64');
  const bare = `n=${encodeSaslName(options.user ?? '')},r=${clientNonce}`;
  let expectedSignature: Buffer | undefined;
  return {
    clientFirst: () => `n,,${bare}`,
    handleServerFirst(serverFirst) {
      const { nonce, salt, iterations } = parseServerFirst(serverFirst, clientNonce);
      const withoutProof = `c=biws,r=${nonce}`; // biws = base64("n,,"): no channel binding
      const authMessage = `${bare},${serverFirst},${withoutProof}`;
      const salted = saltedPassword(password, salt, iterations);
      const clientKey = hmac(salted, 'Client Key');
      expectedSignature = hmac(hmac(salted, 'Server Key'), authMessage);
      return `${withoutProof},p=${xor(clientKey, hmac(sha256(clientKey), authMessage)).toString('base64')}`;
    },
    verifyServerFinal(serverFinal) {
      if (expectedSignature === undefined) throw new ScramError('server-final arrived before server-first');
      if (serverFinal.startsWith('e=')) throw new ScramError(`server refused SCRAM: ${serverFinal.slice(2)}`);
      const signature = serverFinal.startsWith('v=') ? decodeBase64(serverFinal.slice(2).split(',')[0]) : undefined;
      if (signature === undefined || signature.length !== KEY_BYTES || !timingSafeEqual(signature, expectedSignature)) {
        throw new ScramError('server signature mismatch: the upstream did not prove it knows the password');
      }
    },
  };
}

function parseServerFirst(message: string, clientNonce: string): { nonce: string; salt: Buffer; iterations: number } {
  // server-first-message = [reserved-mext ","] nonce "," salt "," iteration-count ["," extensions]
  const [r = '', s = '', i = ''] = message.split(',');
  if (r.startsWith('m=')) throw new ScramError('SCRAM mandatory extensions are not supported');
  const nonce = r.slice(2);
  if (!r.startsWith('r=') || !PRINTABLE.test(nonce)) throw new ScramError('malformed server-first: expected r=');
  if (!nonce.startsWith(clientNonce) || nonce.length === clientNonce.length) {
    throw new ScramError('server-first nonce does not extend the client nonce');
  }
  const salt = s.startsWith('s=') ? decodeBase64(s.slice(2)) : undefined;
  if (salt === undefined || salt.length === 0) throw new ScramError('malformed server-first: expected s=');
  const iterations = /^i=[1-9][0-9]{0,9}$/.test(i) ? Number(i.slice(2)) : NaN;
  if (!Number.isSafeInteger(iterations)) throw new ScramError('malformed server-first: expected i=');
  return { nonce, salt, iterations };
}

/** The PasswordMessage answering AuthenticationMD5Password: 'md5' + hex(md5(hex(md5(password + user)) + salt)). */
export function md5Password(user: string, password: string, salt: Buffer): string {
  const inner = createHash('md5').update(password + user).digest('hex');
  return 'md5' + createHash('md5').update(inner).update(salt).digest('hex');
}

// ---- shared ----

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] ^ b[i];
  return out;
}

// Node's base64 decoder skips characters it does not know; a proof must be exactly what was sent.
function decodeBase64(text: string): Buffer | undefined {
  return BASE64.test(text) ? Buffer.from(text, 'base64') : undefined;
}

// saslname: ',' and '=' travel as =2C and =3D.
function decodeSaslName(name: string): string {
  if (/=(?!2C|3D)/.test(name)) throw new ScramError('malformed SCRAM message: bad escape in n=');
  return name.replace(/=2C/g, ',').replace(/=3D/g, '=');
}

function encodeSaslName(name: string): string {
  return name.replace(/=/g, '=3D').replace(/,/g, '=2C');
}
