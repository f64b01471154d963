// The console's session cookie: how it is named, set, cleared and read — HttpOnly, SameSite=Strict, Path=/, Secure over https.
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';

/** Over https the `__Host-` prefix makes browsers refuse the cookie unless it is Secure, Path=/ and host-only. */
export const COOKIE = 'gatehouse_session';
export const SECURE_COOKIE = '__Host-gatehouse_session';

/**
 * True when the browser reached the console over https: TLS on this socket, a proxy saying so,
 * or a configured https console URL. Only ever adds the Secure flag, so a spoofed header hurts nobody but its sender.
 */
export function isHttps(req: IncomingMessage, consoleUrl?: string): boolean {
  if ((req.socket as TLSSocket).encrypted) return true;
  const forwarded = req.headers['x-forwarded-proto'];
  if (typeof forwarded === 'string' && forwarded.split(',')[0].trim().toLowerCase() === 'https') return true;
  return !!consoleUrl && consoleUrl.startsWith('https:');
}

export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    if (!out.has(name)) out.set(name, part.slice(eq + 1).trim());
  }
  return out;
}

/** The session id the browser sent, from whichever cookie name applies. */
export function sessionCookie(req: IncomingMessage): string | undefined {
  const cookies = parseCookies(req.headers.cookie);
  return cookies.get(SECURE_COOKIE) ?? cookies.get(COOKIE);
}

export function setSessionCookie(id: string, maxAgeSeconds: number, secure: boolean): string {
  return `${secure ? SECURE_COOKIE : COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${Math.max(0, Math.floor(maxAgeSeconds))}${secure ? '; Secure' : ''}`;
}

export function clearSessionCookie(secure: boolean): string {
  return `${secure ? SECURE_COOKIE : COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${secure ? '; Secure' : ''}`;
}
