// mysql_native_password: the server checks a client's proof against a stored verifier; the client half logs the gateway in upstream.
import { hash, timingSafeEqual } from 'node:crypto';

export const NATIVE_PASSWORD = 'mysql_native_password';

const sha1 = (...parts: Buffer[]) => hash('sha1', parts.length === 1 ? parts[0] : Buffer.concat(parts), 'buffer');

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] ^ b[i];
  return out;
}

/** The client's answer: SHA1(password) XOR SHA1(nonce + SHA1(SHA1(password))); empty for an empty password. */
export function nativeScramble(password: string, nonce: Buffer): Buffer {
  if (!password) return Buffer.alloc(0);
  const stage1 = sha1(Buffer.from(password, 'utf8'));
  return xor(stage1, sha1(nonce, sha1(stage1)));
}

/**
 * Whether `response` proves knowledge of the password behind `verifier` (SHA1(SHA1(password))) for this nonce:
 * SHA1(response XOR SHA1(nonce + verifier)) must equal the verifier. Constant-time in the comparison.
 */
export function nativeProofMatches(nonce: Buffer, response: Buffer, verifier: Buffer): boolean {
  if (response.length !== 20 || verifier.length !== 20) return false;
  const stage1 = xor(response, sha1(nonce, verifier));
  return timingSafeEqual(sha1(stage1), verifier);
}
