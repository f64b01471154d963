// What every demo upstream shares: listen (on loopback unless the compose quick start says otherwise), report its URL,
// record what it saw, close cleanly.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export async function listenLocal<R>(server: Server, port: number | undefined, requests: R[], host = '127.0.0.1') {
  await new Promise<void>((resolve) => server.listen(port ?? 0, host, resolve));
  const bound = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${bound}`,
    port: bound,
    requests,
    /** Consulted before each streamed piece after the first (tests hold a stream until they saw its first piece). */
    hold: undefined as (() => Promise<void>) | undefined,
    close: () => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }),
  };
}
