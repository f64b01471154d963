// caching_sha2_password: Gatehouse as a server always asks for full authentication (the token itself, over TLS or RSA); the client half logs in upstream.
import { constants, generateKeyPair, hash, privateDecrypt, publicEncrypt, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';

export const CACHING_SHA2 = 'caching_sha2_password';

/** AuthMoreData payloads of the exchange. */
export const Sha2 = {
  /** Client → server: send me your RSA public key. */
  REQUEST_PUBLIC_KEY: 0x02,
  /** Server → client: the scramble matched the server's cache. */
  FAST_AUTH_OK: 0x03,
  /** Server → client: send the password itself (over TLS in clear, otherwise RSA-encrypted). */
  PERFORM_FULL_AUTH: 0x04,
} as const;

const sha256 = (...parts: Buffer[]) => hash('sha256', parts.length === 1 ? parts[0] : Buffer.concat(parts), 'buffer');

function xorRepeating(data: Buffer, key: Buffer): Buffer {
  const out = Buffer.allocUnsafe(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i] ^ key[i % key.length];
  return out;
}

/** The fast-path answer: SHA256(password) XOR SHA256(SHA256(SHA256(password)) + nonce). */
export function sha2Scramble(password: string, nonce: Buffer): Buffer {
  if (!password) return Buffer.alloc(0);
  const stage1 = sha256(Buffer.from(password, 'utf8'));
  return xorRepeating(stage1, sha256(sha256(stage1), nonce));
}

/** What the client sends for full authentication over RSA: (password + NUL) XOR nonce, OAEP-encrypted with the server's key. */
export function encryptPassword(password: string, nonce: Buffer, publicKeyPem: string): Buffer {
  const plain = xorRepeating(Buffer.from(`${password}\0`, 'utf8'), nonce);
  return publicEncrypt({ key: publicKeyPem, padding: constants.RSA_PKCS1_OAEP_PADDING }, plain);
}

/** The server's half: the password, or undefined if the ciphertext is not one for this key and nonce. */
export function decryptPassword(ciphertext: Buffer, nonce: Buffer, key: KeyObject): string | undefined {
  let plain: Buffer;
  try {
    plain = xorRepeating(privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING }, ciphertext), nonce);
  } catch {
    return undefined;
  }
  return plain.length && plain[plain.length - 1] === 0 ? plain.subarray(0, -1).toString('utf8') : undefined;
}

/** A password sent in clear over TLS: NUL-terminated. */
export function clearPassword(data: Buffer): string {
  return (data.length && data[data.length - 1] === 0 ? data.subarray(0, -1) : data).toString('utf8');
}

export interface RsaKeys {
  privateKey: KeyObject;
  publicKeyPem: string;
}

let keys: Promise<RsaKeys> | undefined;

/** One RSA key pair per process, made on first use, for clients that do full authentication without TLS. */
export function rsaKeys(): Promise<RsaKeys> {
  keys ??= promisify(generateKeyPair)('rsa', { modulusLength: 2048 }).then(({ privateKey, publicKey }) => ({
    privateKey,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  }));
  return keys;
}
