// The one way out: every connection the egress proxy opens resolves its name once here and dials an address that was
// checked, never a name (so DNS rebinding cannot swap the address between the check and the connect).
import type { Socket } from 'node:net';
import type { Network } from '../../services/network/network.ts';
import { parseAddress, type Endpoint, type Ip } from './host.ts';

export type Resolution = { ok: true; addresses: Ip[] } | { ok: false; reason: string };

/** The addresses to check for `target`: its own for an IP literal, else one lookup's answers (a timeout fails it). */
export async function resolveEndpoint(network: Network, target: Endpoint, timeoutMs: number): Promise<Resolution> {
  if (target.host.kind === 'ip') return { ok: true, addresses: [target.host.ip] };
  const name = target.host.name;
  let timer: NodeJS.Timeout | undefined;
  try {
    const answers = await Promise.race([
      network.resolve(name),
      new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs); }),
    ]);
    const addresses = answers.map(parseAddress);
    if (!addresses.length) return { ok: false, reason: `${name} has no address` };
    if (addresses.some((a) => a === undefined)) return { ok: false, reason: `${name} resolved to something that is not an address` };
    return { ok: true, addresses: addresses as Ip[] };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { ok: false, reason: `${name} cannot be resolved (${code === 'ENOTFOUND' ? 'no such name' : code ?? (err as Error).message})` };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Connects to the first of `addresses` (all already checked) that accepts within `timeoutMs`, trying the next on failure.
 * Resolves with the connected socket and the address it reached.
 */
export async function dial(network: Network, addresses: readonly Ip[], port: number, timeoutMs: number): Promise<{ socket: Socket; address: Ip }> {
  let last: Error | undefined;
  for (const address of addresses) {
    try {
      return { socket: await connectOne(network, address.toString(), port, timeoutMs), address };
    } catch (err) {
      last = err as Error;
    }
  }
  throw last ?? new Error('no address to connect to');
}

function connectOne(network: Network, address: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = network.connect(address, port);
    const fail = (err: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    const timer = setTimeout(() => fail(Object.assign(new Error(`connect to ${address}:${port} timed out after ${timeoutMs} ms`), { code: 'ETIMEDOUT' })), timeoutMs);
    socket.once('error', fail);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', fail);
      resolve(socket);
    });
  });
}
