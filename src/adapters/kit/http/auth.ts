// Who is asking: the Gatehouse token from `Authorization: Bearer` (or `x-api-key`, as Anthropic clients send it), checked per request.
import type { IncomingMessage } from 'node:http';
import type { Grant } from '../../../config/schema.ts';
import type { Services } from '../../../services/services.ts';
import type { TokenRecord } from '../../../services/store/store.ts';

export type Admission<G extends Grant> =
  | { ok: true; token: TokenRecord; secret: string; grant: G }
  | { ok: false; status: 401 | 403 | 429; code: string; message: string };

export function presentedToken(req: IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (auth) {
    const m = /^Bearer +(\S+) *$/i.exec(auth);
    if (m) return m[1];
  }
  const key = req.headers['x-api-key'];
  return typeof key === 'string' && key.trim() ? key.trim() : undefined;
}

/** Checks the token and finds its role's grant on this connection; failures are throttled per address and audited. */
export function admit<G extends Grant>(services: Services, connection: string, req: IncomingMessage, address: string): Admission<G> {
  const refuse = (status: 401 | 403 | 429, code: string, message: string, tokenId?: string): Admission<G> => {
    try {
      services.audit.append({ kind: 'auth.refused', tokenId: tokenId ?? null, connection, data: { client: address, reason: code, message } });
    } catch { /* the request is refused either way */ }
    return { ok: false, status, code, message };
  };
  if (services.throttle.blocked(address)) return refuse(429, 'token.throttled', 'too many failed authentication attempts from this address; try again later');
  const secret = presentedToken(req);
  if (!secret) return refuse(401, 'token.missing', 'missing Gatehouse token: send "Authorization: Bearer <token>"');
  const check = services.tokens.check(secret);
  if (!check.ok) {
    services.throttle.fail(address);
    const why = { unknown: 'is not a valid Gatehouse token', expired: 'has expired', revoked: 'has been revoked' }[check.reason];
    return refuse(401, `token.${check.reason}`, `the token ${why}`);
  }
  const grant = services.config.roles[check.token.role]?.[connection] as G | undefined;
  if (!grant) return refuse(403, 'grant.none', `role "${check.token.role}" has no grant on connection "${connection}"`, check.token.id);
  return { ok: true, token: check.token, secret, grant };
}
