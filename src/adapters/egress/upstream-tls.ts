// The way out of an intercepted tunnel: TLS to the address the CONNECT decision checked, the certificate verified for
// the CONNECT host against the default trust store (plus `upstream_ca`). A failure is a 502, never a downgrade.
import { readFileSync } from 'node:fs';
import type { RequestOptions } from 'node:http';
import { Agent } from 'node:https';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { checkServerIdentity, connect, rootCertificates, type TLSSocket } from 'node:tls';
import type { Endpoint } from './host.ts';

/**
 * The roots upstreams are verified against: undefined for Node's default store (Mozilla's roots and NODE_EXTRA_CA_CERTS,
 * or OpenSSL's with --use-openssl-ca); with `upstream_ca`, Mozilla's roots plus that file. `at` names the key in errors.
 */
export function upstreamRoots(file: string | undefined, at: string): string[] | undefined {
  if (!file) return undefined;
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`${at}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const certs = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (!certs) throw new Error(`${at}: ${file} holds no PEM certificate`);
  return [...rootCertificates, ...certs];
}

/**
 * An HTTPS agent for one tunnel: its connections go to the checked address (`dial`), speak HTTP/1.1, and are verified
 * for the tunnel's host. A few at once, since an agent may pipeline requests inside its tunnel.
 */
export class TunnelAgent extends Agent {
  constructor(private readonly target: Endpoint, private readonly dial: () => Promise<Socket>, private readonly roots: string[] | undefined, private readonly timeoutMs: number) {
    super({ keepAlive: true, maxSockets: 4 });
  }

  // Node's agent accepts a connection handed over later through the callback (see _http_agent's createSocket).
  override createConnection(_options: RequestOptions, done?: (err: Error | null, stream: Duplex) => void): undefined {
    this.open().then((socket) => done?.(null, socket), (err: Error) => done?.(err, undefined as unknown as Duplex));
    return undefined;
  }

  private async open(): Promise<TLSSocket> {
    const raw = await this.dial();
    const { host } = this.target;
    return new Promise((resolve, reject) => {
      const socket = connect({
        socket: raw, servername: host.kind === 'name' ? host.name : undefined, ca: this.roots, ALPNProtocols: ['http/1.1'], minVersion: 'TLSv1.2',
        checkServerIdentity: (_name, cert) => checkServerIdentity(host.name, cert),
      });
      const timer = setTimeout(() => socket.destroy(Object.assign(new Error(`TLS handshake with ${host.name} took more than ${this.timeoutMs} ms`), { code: 'ETIMEDOUT' })), this.timeoutMs);
      socket.once('secureConnect', () => { clearTimeout(timer); socket.off('error', fail); resolve(socket); });
      const fail = (err: Error) => { clearTimeout(timer); raw.destroy(); reject(err); };
      socket.once('error', fail);
    });
  }
}
