// SCRAM-SHA-256 key derivation (RFC 5802): what a token's verifier is minted from, and what both halves of the exchange
// compute. The exchange itself (server and client messages) belongs to the PostgreSQL adapter.
import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';

export const KEY_BYTES = 32;
/** Tokens carry 256 bits of entropy, so SCRAM's salt and iteration count guard nothing; PostgreSQL's defaults keep clients happy. */
const SCRAM_ITERATIONS = 4096;

/**
 * SCRAM needs the salt before the client proves anything, and several live tokens may share a label (the PostgreSQL
 * user name), so the salt is derived from the label and every candidate is checked.
 */
export const scramParams = (label: string) => ({
  salt: createHash('sha256').update(`gatehouse-scram:${label}`).digest().subarray(0, 16),
  iterations: SCRAM_ITERATIONS,
});

/** What a server stores instead of a password. */
export interface ScramVerifier {
  salt: Buffer;
  iterations: number;
  storedKey: Buffer;
  serverKey: Buffer;
}

export function scramVerifier(password: string, salt: Buffer, iterations: number): ScramVerifier {
  const salted = saltedPassword(password, salt, iterations);
  return { salt, iterations, storedKey: sha256(hmac(salted, 'Client Key')), serverKey: hmac(salted, 'Server Key') };
}

/**
 * SASLprep as far as PostgreSQL needs it. PostgreSQL passes pure-ASCII passwords through untouched
 * (the fast path here) and uses the raw password whenever full SASLprep fails. For non-ASCII we apply
 * RFC 4013's mappings and NFKC, as libpq and node-postgres do, but not its prohibited-output and bidi
 * checks: a password PostgreSQL would reject there (and therefore use raw) is hashed differently here.
 * Gatehouse tokens are ASCII, so only a non-ASCII upstream password could meet that edge.
 */
export function saslPrep(password: string): string {
  if (/^[\x00-\x7f]*$/.test(password)) return password;
  return password
    .replace(/[\u00a0\u1680\u2000-\u200b\u202f\u205f\u3000]/g, ' ') // RFC 3454 C.1.2: non-ASCII spaces
    .replace(/[\u00ad\u034f\u1806\u180b-\u180d\u200c\u200d\u2060\ufe00-\ufe0f\ufeff]/g, '') // B.1: mapped to nothing
    .normalize('NFKC');
}

export function saltedPassword(password: string, salt: Buffer, iterations: number): Buffer {
  return pbkdf2Sync(saslPrep(password), salt, iterations, KEY_BYTES, 'sha256');
}

export function hmac(key: Buffer, text: string): Buffer {
  return createHmac('sha256', key).update(text).digest();
}

export function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}
