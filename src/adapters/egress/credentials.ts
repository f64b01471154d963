// The token an agent presents to the proxy: `Proxy-Authorization: Basic` with the token as password (what
// `HTTPS_PROXY=http://<label>:<token>@host:port` makes every client send) or `Proxy-Authorization: Bearer <token>`.

export type Presented =
  | { ok: true; secret: string; /** The label part of `label:token`: informative, the token decides. */ user?: string }
  | { ok: false; missing: boolean; message: string };

const HOW = 'set HTTPS_PROXY=http://<label>:<token>@<proxy host:port> (or send "Proxy-Authorization: Bearer <token>")';

export function proxyCredentials(header: string | string[] | undefined): Presented {
  if (header === undefined) return { ok: false, missing: true, message: `missing Gatehouse token: ${HOW}` };
  if (Array.isArray(header)) return bad('Proxy-Authorization appears more than once');
  const m = /^([A-Za-z]+) +(\S+) *$/.exec(header);
  if (!m) return bad('malformed Proxy-Authorization header');
  const scheme = m[1].toLowerCase();
  if (scheme === 'bearer') return { ok: true, secret: m[2] };
  if (scheme !== 'basic') return bad(`Proxy-Authorization scheme "${m[1]}" is not accepted (Basic or Bearer)`);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(m[2]) || m[2].length % 4 !== 0) return bad('Proxy-Authorization Basic credentials are not valid base64');
  const decoded = Buffer.from(m[2], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const user = colon < 0 ? decoded : decoded.slice(0, colon);
  const secret = colon < 0 ? '' : decoded.slice(colon + 1);
  if (!secret) return bad(`the token goes in the password part: ${HOW}`);
  return { ok: true, secret, user: user || undefined };
}

const bad = (message: string): Presented => ({ ok: false, missing: false, message });
