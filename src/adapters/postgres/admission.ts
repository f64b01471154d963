// Who may hold a session: caps on sessions per token, per role and in all (connections still authenticating are capped
// by the kit's HandshakeSlots).
import { Refusal } from './errors.ts';

const TOO_MANY_CONNECTIONS = '53300';

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
