// A signed checkpoint of an audit chain's head: its format, Ed25519 signing and checking, and the key files behind it.
//
// One checkpoint is one JSON line:
//   {"checkpoint":1,"node":"gw-1","seq":1000,"hash":"<64 hex>","ts":1764662400000,"key":"<16 hex>","sig":"<base64>"}
// `sig` is the Ed25519 signature of the UTF-8 text `gatehouse-audit-checkpoint/1\n` followed by the JSON array
// [node, seq, hash, ts]; `key` is the first 16 hex digits of the SHA-256 of the public key (DER, SPKI), so a reader
// can tell which key signed without trying each.
import { createPrivateKey, createPublicKey, generateKeyPairSync, hash, sign, verify, type KeyObject } from 'node:crypto';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';

export interface Checkpoint {
  checkpoint: 1;
  /** Whose chain: one chain per gateway node. */
  node: string;
  /** The chain's head when signed: its last durable record... */
  seq: number;
  /** ...and that record's hash. */
  hash: string;
  /** When it was signed (ms since the epoch). */
  ts: number;
  key: string;
  sig: string;
}

const DOMAIN = 'gatehouse-audit-checkpoint/1\n';
const signedText = (c: Pick<Checkpoint, 'node' | 'seq' | 'hash' | 'ts'>) => Buffer.from(DOMAIN + JSON.stringify([c.node, c.seq, c.hash, c.ts]));

/** A short, stable name for a public key. */
export function keyId(publicKey: KeyObject): string {
  return hash('sha256', publicKey.export({ type: 'spki', format: 'der' }), 'hex').slice(0, 16);
}

export function signCheckpoint(privateKey: KeyObject, head: { node: string; seq: number; hash: string; ts: number }): Checkpoint {
  const sig = sign(null, signedText(head), privateKey).toString('base64');
  return { checkpoint: 1, node: head.node, seq: head.seq, hash: head.hash, ts: head.ts, key: keyId(createPublicKey(privateKey)), sig };
}

/** Whether `c` was signed by the holder of `publicKey` and has not been altered since. */
export function checkpointSigned(publicKey: KeyObject, c: Checkpoint): boolean {
  try {
    return verify(null, signedText(c), publicKey, Buffer.from(c.sig, 'base64'));
  } catch {
    return false;
  }
}

export interface ParsedLine { line: number; checkpoint?: Checkpoint; problem?: string }

/**
 * Reads a checkpoint file's lines. A last line without its newline is a write a crash cut short: it is skipped, not an
 * alarm. Any other line that is not a well-formed checkpoint is reported (someone wrote to the file).
 */
export function parseCheckpoints(text: string): ParsedLine[] {
  const lines = text.split('\n');
  const torn = lines.pop();
  const out: ParsedLine[] = [];
  lines.forEach((raw, i) => {
    if (!raw.trim()) return;
    const checkpoint = wellFormed(raw);
    out.push(checkpoint ? { line: i + 1, checkpoint } : { line: i + 1, problem: 'not a well-formed checkpoint' });
  });
  if (torn) out.push({ line: lines.length + 1, problem: 'torn' });
  return out;
}

function wellFormed(raw: string): Checkpoint | undefined {
  let v: unknown;
  try { v = JSON.parse(raw); } catch { return undefined; }
  if (!v || typeof v !== 'object') return undefined;
  const c = v as Record<string, unknown>;
  const ok = c.checkpoint === 1 && typeof c.node === 'string' && Number.isSafeInteger(c.seq) && (c.seq as number) >= 0
    && typeof c.hash === 'string' && /^[0-9a-f]{64}$/.test(c.hash) && Number.isSafeInteger(c.ts)
    && typeof c.key === 'string' && typeof c.sig === 'string';
  return ok ? { checkpoint: 1, node: c.node as string, seq: c.seq as number, hash: c.hash as string, ts: c.ts as number, key: c.key as string, sig: c.sig as string } : undefined;
}

/** Writes a new key pair: the private key at `path` (mode 0600) and the public key at `path.pub`. */
export function generateSigningKey(path: string): { privatePath: string; publicPath: string; keyId: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  // `wx`: never overwrite a key whose checkpoints may still need verifying.
  writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600);
  writeFileSync(`${path}.pub`, publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644, flag: 'wx' });
  return { privatePath: path, publicPath: `${path}.pub`, keyId: keyId(publicKey) };
}

/** Loads the signing key, refusing one that others may read (it would let them forge checkpoints) or that is not Ed25519. */
export function loadSigningKey(path: string): KeyObject {
  const mode = statSync(path).mode & 0o777;
  if (process.platform !== 'win32' && mode & 0o077) {
    throw new Error(`${path} is readable by others (mode ${mode.toString(8).padStart(4, '0')}): chmod 600 it`);
  }
  const key = createPrivateKey(readFileSync(path));
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`${path} is a ${key.asymmetricKeyType} key, not Ed25519`);
  return key;
}

export function loadPublicKey(path: string): KeyObject {
  const key = createPublicKey(readFileSync(path));
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`${path} is a ${key.asymmetricKeyType} key, not Ed25519`);
  return key;
}
