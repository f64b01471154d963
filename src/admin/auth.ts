// Who is calling the admin API: a bearer admin key (CLI, scripts) or a console session cookie (browser) — checked here, once.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { AdminKey } from '../config/schema.ts';
import type { AuditLog } from '../services/audit/log.ts';
import { AuthThrottle } from '../services/identity/throttle.ts';
import type { Logger } from '../services/telemetry/logger.ts';
import { sessionCookie } from './console/cookies.ts';
import { checkCsrf, isSafeMethod } from './console/csrf.ts';
import type { ConsoleSession, ConsoleSessions } from './console/sign-ins.ts';
import { HttpError } from './http.ts';

export type AdminRole = 'admin' | 'approver';

export interface Principal {
  key: AdminKey;
  /** Set when the caller is a signed-in console; absent for bearer keys. */
  session?: ConsoleSession;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Failed admin-key attempts count against the caller's address (admin keys carry no user name). */
const ADMIN_KEY_USER = 'admin key';

export const clientAddress = (req: IncomingMessage) => req.socket.remoteAddress ?? 'unknown';

export class AdminAuth {
  constructor(
    private readonly keys: AdminKey[],
    readonly sessions: ConsoleSessions,
    private readonly guard: { throttle: AuthThrottle; audit: AuditLog; log: Logger },
    private readonly consoleUrl?: string,
  ) {}

  /**
   * The admin key a caller presented, or undefined when it is none. A valid key always passes; failures are counted
   * per address, and once the address is throttled a failure is refused with 429, answered late (an HttpError).
   */
  async checkKey(presented: string, client: string): Promise<AdminKey | undefined> {
    const key = this.keyFor(presented);
    if (key) return key;
    const { throttle, audit, log } = this.guard;
    const failure = await throttle.fail(AuthThrottle.key(client, ADMIN_KEY_USER));
    if (failure.started) {
      const { maxFailures, windowMs } = throttle.options;
      audit.append({ kind: 'admin.throttled', verdict: 'deny', data: { client, reason: `more than ${maxFailures} wrong admin keys within ${windowMs / 1000}s` } }).catch(() => undefined);
      log.warn({ client }, 'throttling wrong admin keys');
    }
    if (failure.throttled) throw new HttpError(429, 'too many wrong admin keys from this address; wait a minute and try again', throttle.options.delayMs);
    return undefined;
  }

  /** The configured key a presented secret is, compared by digest so timing says nothing about length or prefix. */
  keyFor(presented: string): AdminKey | undefined {
    if (!presented) return undefined;
    const wanted = digest(presented);
    let found: AdminKey | undefined;
    for (const k of this.keys) if (timingSafeEqual(digest(k.key), wanted)) found ??= k;
    return found;
  }

  /**
   * Authenticates a request and checks it holds one of `roles` (default: admin). A bearer header wins and is
   * judged alone; otherwise the console cookie is used, and any state change made with it must also pass
   * the same-origin and CSRF-token checks.
   */
  async authenticate(req: IncomingMessage, ...roles: AdminRole[]): Promise<Principal> {
    const principal = await this.identify(req);
    const wanted: AdminRole[] = roles.length ? roles : ['admin'];
    if (!wanted.some((r) => principal.key.roles.includes(r))) {
      throw new HttpError(403, `admin key "${principal.key.name}" lacks the ${wanted.join(' or ')} role`);
    }
    return principal;
  }

  private async identify(req: IncomingMessage): Promise<Principal> {
    const header = req.headers.authorization;
    if (header !== undefined) {
      const key = header.startsWith('Bearer ') ? await this.checkKey(header.slice(7), clientAddress(req)) : undefined;
      if (!key) throw new HttpError(401, 'missing or invalid admin key (Authorization: Bearer <admin key>)');
      return { key };
    }
    const session = await this.sessions.get(sessionCookie(req));
    if (!session) throw new HttpError(401, 'missing or invalid admin key (Authorization: Bearer <admin key>), or the console session has ended');
    if (!isSafeMethod(req.method)) checkCsrf(req, this.sessions, session, this.consoleUrl);
    return { key: session.key, session };
  }
}
