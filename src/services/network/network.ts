// How the gateway reaches hosts an agent names (the egress proxy's way out): name resolution and TCP connects as one
// replaceable piece, so tests can map public names onto local listeners and see every connect attempted.
import { lookup } from 'node:dns/promises';
import { connect, type Socket } from 'node:net';

export interface Network {
  /** Every A and AAAA address of `name`, in one lookup. */
  resolve(name: string): Promise<string[]>;
  /** A TCP connection to an IP address (never a name: what was checked is what is dialled). */
  connect(address: string, port: number): Socket;
}

export const systemNetwork: Network = {
  // A trailing dot makes the name absolute: no resolver search domain can turn `intranet` into `intranet.corp.example`.
  resolve: async (name) => (await lookup(`${name}.`, { all: true, verbatim: true })).map((a) => a.address),
  connect: (address, port) => connect({ host: address, port, noDelay: true }),
};
