// Opening a connection's port, the same for every adapter: bind the configured `host:port`, say where it listens.
import type { AddressInfo, Server } from 'node:net';
import { splitHostPort } from '../../config/address.ts';

/** Listens on `listen` (port 0: one the OS picks); resolves with the bound `host:port` (IPv6 in brackets), rejects if binding fails. */
export async function listenOn(server: Server, listen: string): Promise<string> {
  const [host, port] = splitHostPort(listen);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  return `${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
}
