// Caps on connections still authenticating. A connection that has not authenticated costs memory and a descriptor and
// proves nothing, so their number is capped for the whole listener and per client — an address with the user name it
// presented, so one misbehaving agent does not lock out the others on its host. Before the client names a user, a
// socket counts under its address alone; when that bucket or the whole listener is full, the longest-silent such socket
// is closed to make room (a well-behaved client names its user at once, so it is never the one evicted). Used by the
// database protocols, where the user name arrives in the handshake (PostgreSQL's startup message, MySQL's response).
import type { Socket } from 'node:net';

export interface Pending {
  socket: Socket;
  /** The address alone until the client names a user; then address and user. */
  client: string;
  named: boolean;
}

export class HandshakeSlots {
  /** Every connection not yet authenticated, oldest first. */
  private readonly pending = new Set<Pending>();
  private readonly perClient = new Map<string, number>();

  constructor(private readonly max: number, readonly maxPerClient: number) {}

  /** A new connection from `address`; returns its slot, or undefined when it was turned away. */
  admit(socket: Socket, address: string): Pending | undefined {
    if (this.count(address) >= this.maxPerClient && !this.evictSilent(address)) return undefined;
    if (this.pending.size >= this.max && !this.evictSilent()) return undefined;
    const slot: Pending = { socket, client: address, named: false };
    this.pending.add(slot);
    this.bump(address, 1);
    return slot;
  }

  /** The client named `user`: the slot moves to that client's bucket; false (the caller refuses) if it has no room. */
  named(slot: Pending, address: string, user: string): boolean {
    const client = `${address}\u0000${user}`;
    if (this.count(client) >= this.maxPerClient) return false;
    this.bump(slot.client, -1);
    slot.client = client;
    slot.named = true;
    this.bump(client, 1);
    return true;
  }

  /** The handshake ended, one way or another. Idempotent. */
  release(slot: Pending) {
    if (this.pending.delete(slot)) this.bump(slot.client, -1);
  }

  private count(client: string): number {
    return this.perClient.get(client) ?? 0;
  }

  private bump(client: string, by: number) {
    const n = this.count(client) + by;
    if (n > 0) this.perClient.set(client, n);
    else this.perClient.delete(client);
  }

  /** Closes the oldest connection that has not sent its startup message (from `address`, if given). */
  private evictSilent(address?: string): boolean {
    for (const slot of this.pending) {
      if (slot.named || (address !== undefined && slot.client !== address)) continue;
      this.release(slot);
      slot.socket.destroy();
      return true;
    }
    return false;
  }
}

