// What one tunnel or plain request asks for, as the policy and the audit see it.
import type { Facts } from '../../services/policy/facts.ts';
import { formatEndpoint, type Endpoint, type Ip } from './host.ts';

export interface EgressFacts extends Facts {
  protocol: 'egress';
  target: Endpoint;
  /** `CONNECT`, or the plain HTTP request's method. */
  method: string;
  /** What one lookup returned (an IP literal's own address); absent while the host is judged before any lookup. */
  addresses?: readonly Ip[];
  /** Why the name could not be resolved. */
  unresolved?: string;
}

/** The longest request target kept in a summary: heads may be 32 KB, audit records should not be. */
const SUMMARY_TARGET = 300;

/**
 * Facts for a CONNECT (`path` undefined) or a plain request. An opaque tunnel may carry anything, so it counts as a
 * write; a plain request reads or writes by its method.
 */
export function egressFacts(connection: string, method: string, target: Endpoint, path?: string, scheme: 'http' | 'https' = 'http'): EgressFacts {
  const where = formatEndpoint(target);
  const asked = path === undefined ? where : clip(`${scheme}://${where}${path}`);
  return {
    protocol: 'egress', connection, method, target,
    effect: method === 'GET' || method === 'HEAD' || method === 'OPTIONS' ? 'read' : 'write',
    summary: `${method} ${asked}`,
    targets: [{ kind: 'host', name: where, access: method }],
  };
}

/** Facts for a request whose target could not be read: refused as unknown, with the reason. */
export function unreadableFacts(connection: string, method: string, raw: string, reason: string): Facts {
  return { protocol: 'egress', connection, effect: 'unknown', summary: `${method} ${clip(raw)}`, targets: [], unknown: reason };
}

const clip = (text: string) => (text.length > SUMMARY_TARGET ? `${text.slice(0, SUMMARY_TARGET)}…` : text);
