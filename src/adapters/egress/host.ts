// Hosts as agents write them, reduced to one canonical form before anything is matched: `0x7f.1`, `2130706433`,
// `127.0.0.1.` and `[::ffff:127.0.0.1]` are all 127.0.0.1; names are lower-case without a trailing dot.
import ipaddr from 'ipaddr.js';

export type Ip = ipaddr.IPv4 | ipaddr.IPv6;

export type Host =
  | { kind: 'name'; name: string }
  | { kind: 'ip'; ip: Ip; /** The canonical spelling: dotted quad, or RFC 5952 for IPv6 (no brackets). */ name: string };

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;
/** A last label that a URL parser or inet_aton would read as a number: such a host is an IP or nothing. */
const NUMERIC_LABEL = /^(?:0x[0-9a-f]*|\d+)$/i;

/**
 * One address in its canonical form: an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is the IPv4 address it maps to, as a
 * dual-stack socket would connect to it.
 */
export function canonicalIp(ip: Ip): Ip {
  return ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress() ? (ip as ipaddr.IPv6).toIPv4Address() : ip;
}

const ipHost = (ip: Ip): Host => {
  const c = canonicalIp(ip);
  return { kind: 'ip', ip: c, name: c.toString() };
};

/** Parses an address as a resolver returns it (no exotic spellings expected, but the same canonical form). */
export function parseAddress(text: string): Ip | undefined {
  if (text.includes(':')) {
    const v6 = parseIpv6(text);
    return v6 && canonicalIp(v6);
  }
  return ipaddr.IPv4.isValidFourPartDecimal(text) ? ipaddr.IPv4.parse(text) : undefined;
}

/**
 * An IPv6 address without zone. A dotted IPv4 tail is rewritten as two hex groups first: the library reads any dotted
 * tail as IPv4-mapped, but `::127.0.0.1` is the IPv4-compatible ::7f00:1, a different address.
 */
function parseIpv6(text: string): ipaddr.IPv6 | undefined {
  const tail = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  let hex = text;
  if (tail) {
    if (!ipaddr.IPv4.isValidFourPartDecimal(tail[2])) return undefined;
    const b = ipaddr.IPv4.parse(tail[2]).toByteArray();
    hex = `${tail[1]}${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
  }
  return !hex.includes('%') && ipaddr.IPv6.isValid(hex) ? ipaddr.IPv6.parse(hex) : undefined;
}

/**
 * A host from a CONNECT target, an absolute URL, a Host header, a TLS SNI or a grant: a name, or an IP literal in any
 * spelling inet_aton or a URL parser accepts. Anything ambiguous is refused with a reason rather than guessed at.
 */
export function parseHost(raw: string): Parsed<Host> {
  if (raw.startsWith('[')) {
    if (!raw.endsWith(']')) return fail(raw, 'an IPv6 literal must be enclosed in [ ]');
    const inner = raw.slice(1, -1);
    if (inner.includes('%')) return fail(raw, 'IPv6 zone identifiers are refused');
    const ip = parseIpv6(inner);
    return ip ? { ok: true, value: ipHost(ip) } : fail(raw, 'not a valid IPv6 address');
  }
  if (raw.includes(':')) return fail(raw, 'an IPv6 literal must be enclosed in [ ]');
  // One trailing dot names the root (`example.com.`); more, or an empty label, is malformed.
  const text = raw.endsWith('.') ? raw.slice(0, -1) : raw;
  if (!text) return fail(raw, 'empty host');
  if (ipaddr.IPv4.isValid(text)) return { ok: true, value: ipHost(ipaddr.IPv4.parse(text)) };
  const name = text.toLowerCase();
  if (name.length > 253) return fail(raw, 'a host name is at most 253 characters');
  const labels = name.split('.');
  if (NUMERIC_LABEL.test(labels[labels.length - 1])) return fail(raw, 'looks like an IPv4 address but is not a valid one');
  for (const label of labels) {
    if (!LABEL.test(label)) {
      return fail(raw, /[^\x21-\x7e]/.test(label) ? 'non-ASCII names must be sent in their IDNA (xn--) form' : `"${label}" is not a valid host name label`);
    }
  }
  return { ok: true, value: { kind: 'name', name } };
}

export interface Endpoint {
  host: Host;
  port: number;
}

/** `host:port` or `[v6]:port` (a CONNECT target); `defaultPort` makes the port optional (an absolute URL's authority). */
export function parseAuthority(raw: string, defaultPort?: number): Parsed<Endpoint> {
  const close = raw.lastIndexOf(']');
  const colon = raw.lastIndexOf(':');
  const hasPort = colon > close && (raw.startsWith('[') || raw.indexOf(':') === colon);
  if (!hasPort && defaultPort === undefined) return fail(raw, 'expected host:port');
  const hostText = hasPort ? raw.slice(0, colon) : raw;
  let port = defaultPort!;
  if (hasPort) {
    const digits = raw.slice(colon + 1);
    if (!/^\d{1,5}$/.test(digits) || Number(digits) < 1 || Number(digits) > 65535) return fail(raw, `"${digits}" is not a port (1-65535)`);
    port = Number(digits);
  }
  const host = parseHost(hostText);
  return host.ok ? { ok: true, value: { host: host.value, port } } : host;
}

/** How a host and port are written in summaries, grants and the audit: `example.com:443`, `[2001:db8::1]:443`. */
export function formatEndpoint(e: Endpoint): string {
  return `${e.host.kind === 'ip' && e.host.ip.kind() === 'ipv6' ? `[${e.host.name}]` : e.host.name}:${e.port}`;
}

function fail<T>(raw: string, reason: string): Parsed<T> {
  return { ok: false, reason: `host "${raw.length > 80 ? raw.slice(0, 80) + '…' : raw}": ${reason}` };
}
