// TLS for agents' connections (PostgreSQL, MySQL): configured certificate files, or one self-signed certificate made at start-up.
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext } from 'node:tls';

let selfSigned: Promise<{ cert: string; key: string }> | undefined;

/** What a listener's `tls` key may say. */
export type TlsSetting = { cert: string; key: string } | 'self-signed' | 'off';

export async function serverTlsContext(tls: TlsSetting): Promise<SecureContext | undefined> {
  if (tls === 'off') return undefined;
  if (tls === 'self-signed') {
    // One certificate per process: generating an RSA key takes a moment, and every listener can share it. The library
    // is loaded only here: a gateway without self-signed TLS does not carry it (several MB of RSS).
    const { generate } = await import('selfsigned');
    selfSigned ??= generate([{ name: 'commonName', value: 'gatehouse' }], {
      keySize: 2048,
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] }],
    } as Parameters<typeof import('selfsigned').generate>[1]).then((p) => ({ cert: p.cert, key: p.private }));
    const { cert, key } = await selfSigned;
    return createSecureContext({ cert, key, minVersion: 'TLSv1.2' });
  }
  return createSecureContext({ cert: readFileSync(tls.cert), key: readFileSync(tls.key), minVersion: 'TLSv1.2' });
}
