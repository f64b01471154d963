// The mysql_native_password verifier minted with each token: what the store keeps instead of a secret MySQL clients could replay.
import { hash } from 'node:crypto';

/**
 * SHA1(SHA1(token)). A native-password client proves it knows SHA1(token); this verifier checks that proof and cannot
 * stand in for it. Neither it nor the store's SHA-256 of the token lets a reader of the store log in: tokens carry
 * 256 random bits, so no hash of one can be inverted. (Its known limit: someone who holds this verifier *and* records
 * one login's nonce and answer can recover SHA1(token) and log in over MySQL; the README's threat model says more.)
 */
export function mysqlNativeVerifier(token: string): Buffer {
  return hash('sha1', hash('sha1', token, 'buffer'), 'buffer');
}
