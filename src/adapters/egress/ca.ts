// The interception CA: loaded from its files (or made on first start, the key written 0600) and used to mint one
// short-lived leaf certificate per host that agents reach through an intercepted tunnel, cached.
//
// X.509 is built with @peculiar/x509 over Node's WebCrypto: Node can make and use keys but cannot write certificates,
// and this library is typed, maintained, pure TypeScript over the platform's crypto (no OpenSSL CLI, no forge), and
// already in the tree through `selfsigned`. Leaves use ECDSA P-256: a key takes well under a millisecond to make.
import { createPrivateKey, randomBytes, webcrypto, X509Certificate, KeyObject } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { createSecureContext, type SecureContext } from 'node:tls';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const LEAF_ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** A leaf lives a week (clients cap far longer ones) and is re-minted a day before it ends. */
const LEAF_LIFE = 7 * DAY;
const LEAF_RENEW = DAY;
/** Leaves kept: one per host agents reach; the least recently used goes first. */
const CACHE_SIZE = 1024;

export interface CaFiles { cert: string; key: string }

export interface Ca {
  /** The CA certificate (PEM), as `gatehouse ca export` prints it for agents' trust stores. */
  certPem: string;
  /** Whether it was made just now (first start). */
  created: boolean;
  /** A TLS context presenting a leaf for `host` (a name, or an IP literal in canonical spelling). */
  contextFor(host: string, isIp: boolean): Promise<SecureContext>;
}

/**
 * Loads the CA from `files`, or makes one when neither file exists. Refuses a key readable by group or others, a
 * certificate that is not a CA or has expired, and a key that does not match it; `at` names the config key in errors.
 */
export async function loadCa(files: CaFiles, at: string): Promise<Ca> {
  const haveCert = existsSync(files.cert);
  const haveKey = existsSync(files.key);
  if (haveCert !== haveKey) throw new Error(`${at}: ${haveCert ? `${files.cert} exists but ${files.key} does not` : `${files.key} exists but ${files.cert} does not`} (give both, or neither to have one made)`);
  const created = !haveCert;
  if (created) await makeCa(files);
  const mode = statSync(files.key).mode & 0o777;
  if (process.platform !== 'win32' && mode & 0o077) throw new Error(`${at}.key: ${files.key} is readable by others (mode ${mode.toString(8)}): chmod 600 it`);
  const certPem = readFileSync(files.cert, 'utf8');
  const keyPem = readFileSync(files.key, 'utf8');
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (err) {
    throw new Error(`${at}.cert: ${files.cert} is not a PEM certificate (${(err as Error).message})`);
  }
  const key = createPrivateKey(keyPem);
  if (!cert.ca) throw new Error(`${at}.cert: ${files.cert} is not a CA certificate (basicConstraints CA:TRUE is missing)`);
  if (!cert.checkPrivateKey(key)) throw new Error(`${at}.key: ${files.key} is not the private key of ${files.cert}`);
  const notAfter = Date.parse(cert.validTo);
  if (notAfter <= Date.now()) throw new Error(`${at}.cert: ${files.cert} expired on ${cert.validTo}`);
  const signer = await signingKey(key, at);
  const issuer = new x509.X509Certificate(certPem);
  return { certPem, created, contextFor: leafMint(issuer, signer, notAfter) };
}

/** The CA key as WebCrypto signs with it: ECDSA P-256/P-384 or RSA. */
async function signingKey(key: KeyObject, at: string): Promise<{ key: CryptoKey; alg: Algorithm & { hash: string } }> {
  const der = key.export({ format: 'der', type: 'pkcs8' });
  if (key.asymmetricKeyType === 'ec') {
    const curve = { prime256v1: 'P-256', secp384r1: 'P-384' }[key.asymmetricKeyDetails?.namedCurve ?? ''];
    if (!curve) throw new Error(`${at}.key: EC curve ${key.asymmetricKeyDetails?.namedCurve} is not supported (P-256 or P-384)`);
    const alg = { name: 'ECDSA', namedCurve: curve, hash: curve === 'P-384' ? 'SHA-384' : 'SHA-256' };
    return { key: await webcrypto.subtle.importKey('pkcs8', der, alg, false, ['sign']) as CryptoKey, alg };
  }
  if (key.asymmetricKeyType === 'rsa') {
    const alg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    return { key: await webcrypto.subtle.importKey('pkcs8', der, alg, false, ['sign']) as CryptoKey, alg };
  }
  throw new Error(`${at}.key: ${key.asymmetricKeyType} keys are not supported (ECDSA or RSA)`);
}

/** A new ECDSA P-256 CA, ten years, path length 0 (it signs leaves only); the key is written 0600, never over a file. */
async function makeCa(files: CaFiles) {
  const keys = await webcrypto.subtle.generateKey(LEAF_ALG, true, ['sign', 'verify']) as CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(), name: `CN=Gatehouse interception CA (${hostname()}), O=Gatehouse`,
    notBefore: new Date(now - HOUR), notAfter: new Date(now + 3650 * DAY), signingAlgorithm: LEAF_ALG, keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const keyPem = KeyObject.from(keys.privateKey).export({ format: 'pem', type: 'pkcs8' }) as string;
  writeFileSync(files.key, keyPem, { mode: 0o600, flag: 'wx' });
  writeFileSync(files.cert, cert.toString('pem') + '\n', { mode: 0o644, flag: 'wx' });
}

/** Positive, 127 random bits (RFC 5280 §4.1.2.2 asks for at most 20 octets, unpredictable). */
function serial(): string {
  const b = randomBytes(16);
  b[0] &= 0x7f;
  return b.toString('hex');
}

function leafMint(issuer: x509.X509Certificate, signer: { key: CryptoKey; alg: Algorithm & { hash: string } }, caNotAfter: number) {
  const cache = new Map<string, { context: Promise<SecureContext>; renewAt: number }>();
  return (host: string, isIp: boolean): Promise<SecureContext> => {
    const now = Date.now();
    const hit = cache.get(host);
    if (hit && hit.renewAt > now) {
      cache.delete(host); // re-inserted: Map order is the LRU order
      cache.set(host, hit);
      return hit.context;
    }
    const notAfter = Math.min(now + LEAF_LIFE, caNotAfter);
    const context = mintLeaf(issuer, signer, host, isIp, now, notAfter);
    cache.set(host, { context, renewAt: notAfter - LEAF_RENEW });
    context.catch(() => cache.delete(host));
    if (cache.size > CACHE_SIZE) cache.delete(cache.keys().next().value!);
    return context;
  };
}

async function mintLeaf(issuer: x509.X509Certificate, signer: { key: CryptoKey; alg: Algorithm & { hash: string } }, host: string, isIp: boolean, now: number, notAfter: number): Promise<SecureContext> {
  const keys = await webcrypto.subtle.generateKey(LEAF_ALG, true, ['sign', 'verify']) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(), subject: isIp ? 'CN=Gatehouse interception' : `CN=${host}`, issuer: issuer.subject,
    notBefore: new Date(now - HOUR), notAfter: new Date(notAfter), signingAlgorithm: signer.alg, publicKey: keys.publicKey, signingKey: signer.key,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: isIp ? 'ip' : 'dns', value: host }]),
      await x509.AuthorityKeyIdentifierExtension.create(issuer),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const key = KeyObject.from(keys.privateKey).export({ format: 'pem', type: 'pkcs8' });
  return createSecureContext({ cert: cert.toString('pem'), key, minVersion: 'TLSv1.2' });
}
