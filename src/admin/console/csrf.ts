// Cross-site request forgery defences for cookie-authenticated state changes: same-origin only, plus a per-session token.
import type { IncomingMessage } from 'node:http';
import { HttpError } from '../http.ts';
import { isHttps } from './cookies.ts';
import type { ConsoleSession, ConsoleSessions } from './sign-ins.ts';

/** The header the console's fetch calls carry; a form or a cross-site page cannot set it. */
export const CSRF_HEADER = 'x-csrf-token';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
export const isSafeMethod = (method: string | undefined) => SAFE_METHODS.has(method ?? 'GET');

/**
 * Refuses a browser request another site started. `Origin` (sent by browsers on every POST) must be this
 * console's own origin; `Sec-Fetch-Site`, when present, must say same-origin. Requests with neither header
 * come from non-browser clients, which cannot hold the cookie a victim's browser would send.
 */
export function checkSameOrigin(req: IncomingMessage, consoleUrl?: string) {
  const site = req.headers['sec-fetch-site'];
  if (typeof site === 'string' && site !== 'same-origin' && site !== 'none') {
    throw new HttpError(403, `cross-site request refused (Sec-Fetch-Site: ${site})`);
  }
  const origin = req.headers.origin;
  if (origin === undefined) return;
  const host = req.headers.host;
  const own = host ? `${isHttps(req, consoleUrl) ? 'https' : 'http'}://${host}` : undefined;
  const configured = consoleUrl ? safeOrigin(consoleUrl) : undefined;
  if (origin !== own && origin !== configured) throw new HttpError(403, `cross-origin request refused (Origin: ${origin})`);
}

/** For a state change made with a console session: same origin, and the session's CSRF token in the header. */
export function checkCsrf(req: IncomingMessage, sessions: ConsoleSessions, session: ConsoleSession, consoleUrl?: string) {
  checkSameOrigin(req, consoleUrl);
  const presented = req.headers[CSRF_HEADER];
  if (!sessions.checkCsrf(session, typeof presented === 'string' ? presented : undefined)) {
    throw new HttpError(403, `missing or invalid CSRF token (send the console session's token in ${CSRF_HEADER})`);
  }
}

function safeOrigin(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}
