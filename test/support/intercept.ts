// Intercepted-tunnel test support: a CONNECT through the proxy, then TLS to the gateway's leaf (trusting its CA), and raw
// HTTP/1.1 bytes inside, so tests can send what no polite client would (pipelined requests, smuggling, Host tricks).
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { askProxy, connectHead } from './egress.ts';

/** An open, TLS-wrapped tunnel to `host:port` through the proxy, or the handshake's failure. */
export async function tunnelTls(proxy: string, token: string, host: string, ca: string, o: { servername?: string; alpn?: string[]; port?: number } = {}): Promise<TLSSocket> {
  const answer = await askProxy(proxy, connectHead(`${host}:${o.port ?? 443}`, token));
  if (answer.status !== 200) throw new Error(`CONNECT answered ${answer.status}: ${answer.body}`);
  return new Promise((resolve, reject) => {
    const tls = tlsConnect({ socket: answer.socket, servername: o.servername ?? host, ca, ALPNProtocols: o.alpn ?? ['http/1.1'] }, () => resolve(tls));
    tls.once('error', reject);
  });
}

/** Writes `bytes` into the tunnel and collects what comes back until `ms` pass quietly or the tunnel closes. */
export function innerExchange(tls: TLSSocket, bytes: string, ms = 1500): Promise<string> {
  return new Promise((resolve) => {
    let data = '';
    let timer = setTimeout(done, ms);
    function done() {
      tls.off('data', onData);
      tls.off('close', done);
      clearTimeout(timer);
      resolve(data);
    }
    function onData(chunk: Buffer) {
      data += chunk.toString('latin1');
      clearTimeout(timer);
      timer = setTimeout(done, 300);
    }
    tls.on('data', onData);
    tls.once('close', done);
    tls.write(bytes);
  });
}
