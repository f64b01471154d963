// Who may hold a connection slot: caps on connections still authenticating, and on sessions per token and in all.
//
// A connection that has not authenticated costs memory and a descriptor and proves nothing, so their number is capped
// for the whole listener and per client — an address with the user name it presented, so one misbehaving agent does
// not lock out the others on its host. Before the startup message names a user, a socket counts under its address
// alone; when that bucket or the whole listener is full, the longest-silent such socket is closed to make room (a
// well-behaved client sends its startup message at once, so it is never the one evicted).
import type { Socket } from 'node:net';
import { Refusal } from './errors.ts';

const TOO_MANY_CONNECTIONS = '53300';

interface Pending {
  socket: Socket;
  /** The address alone until the startup message names a user; then address and user. */
  client: string;
  named: boolean;
}

export class HandshakeSlots {
  /** Every connection not yet authenticated, oldest first. */
  private readonly pending = new Set<Pending>();
  private readonly perClient = new Map<string, number>();

  constructor(private readonly max: number, private readonly maxPerClient: number) {}

  /** A new connection from `address`; returns its slot, or undefined when it was turned away. */
  admit(socket: Socket, address: string): Pending | undefined {
    if (this.count(address) >= this.maxPerClient && !this.evictSilent(address)) return undefined;
    if (this.pending.size >= this.max && !this.evictSilent()) return undefined;
    const slot: Pending = { socket, client: address, named: false };
    this.pending.add(slot);
    this.bump(address, 1);
    return slot;
  }

  /** The startup message named `user`: the slot moves to that client's bucket, if it has room. */
  named(slot: Pending, address: string, user: string) {
    const client = `${address}\u0000${user}`;
    if (this.count(client) >= this.maxPerClient) {
      throw new Refusal(TOO_MANY_CONNECTIONS, `Gatehouse: too many connections are authenticating as "${user}" from ${address} (max_handshakes_per_client: ${this.maxPerClient})`);
    }
    this.bump(slot.client, -1);
    slot.client = client;
    slot.named = true;
    this.bump(client, 1);
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

/** Where a cap comes from, for the message that names it. */
export interface SessionCaps {
  connection: string;
  role: string;
  /** All sessions on the connection. */
  total?: number;
  /** All sessions of the role's tokens. */
  perRole?: number;
  /** Sessions of one token, and the config key that set it. */
  perToken: { max: number; key: string };
}

export class SessionSlots {
  private total = 0;
  private readonly byToken = new Map<string, number>();
  private readonly byRole = new Map<string, number>();

  /** Takes a session slot for this token, or throws the refusal naming the cap it would exceed. Returns its release. */
  take(tokenId: string, label: string, caps: SessionCaps): () => void {
    const { connection, role } = caps;
    const refuse = (what: string, max: number, key: string) =>
      new Refusal(TOO_MANY_CONNECTIONS, `Gatehouse: ${what} already has ${max} session${max === 1 ? '' : 's'} on connection "${connection}"; that is the cap (${key})`);
    if (caps.total !== undefined && this.total >= caps.total) throw refuse('the connection', caps.total, `connections.${connection}.max_sessions`);
    if (caps.perRole !== undefined && (this.byRole.get(role) ?? 0) >= caps.perRole) throw refuse(`role "${role}"`, caps.perRole, `roles.${role}.${connection}.max_sessions`);
    if ((this.byToken.get(tokenId) ?? 0) >= caps.perToken.max) throw refuse(`token ${tokenId} (${label})`, caps.perToken.max, caps.perToken.key);
    this.total++;
    bump(this.byRole, role, 1);
    bump(this.byToken, tokenId, 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      bump(this.byRole, role, -1);
      bump(this.byToken, tokenId, -1);
    };
  }
}

function bump(map: Map<string, number>, key: string, by: number) {
  const n = (map.get(key) ?? 0) + by;
  if (n > 0) map.set(key, n);
  else map.delete(key);
}
