// Which headers cross the gateway: hop-by-hop ones never do (RFC 9110 §7.6.1), agent credentials never reach the upstream.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

/** Connection-specific headers: they describe one hop and are never forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'http2-settings']);

/** Request headers the agent may not pass on: its credential, forwarding claims we set ourselves, and framing we recompute. */
const AGENT_ONLY = new Set([
  'host', 'authorization', 'x-api-key', 'cookie2', 'forwarded', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host',
  'x-forwarded-port', 'x-real-ip', 'expect', 'content-length',
]);

/** Headers named in Connection (`Connection: close, X-Foo`) are hop-by-hop too; undefined when none is named. */
export function connectionNamed(headers: IncomingHttpHeaders): Set<string> | undefined {
  const value = headers.connection;
  if (!value) return undefined;
  const named = new Set<string>();
  for (const v of Array.isArray(value) ? value : [value]) {
    for (const name of v.split(',')) if (name.trim()) named.add(name.trim().toLowerCase());
  }
  return named;
}

export const isHop = (name: string, named: Set<string> | undefined) => HOP_BY_HOP.has(name) || name.startsWith('proxy-') || named?.has(name) === true;

const carries = (value: string | string[], token: string) => (typeof value === 'string' ? value.includes(token) : value.some((v) => v.includes(token)));

export interface ForwardOptions {
  /** The agent's Gatehouse token: any header carrying it is dropped, whatever its name. */
  token: string;
  /** Upstream `host[:port]`. */
  upstreamHost: string;
  /** Configured upstream headers (credentials): set last, so the agent cannot override them. */
  inject: Record<string, string>;
  clientAddress: string;
  /**
   * The gateway's own address for X-Forwarded-Host. Never the agent's Host header: upstreams build absolute links
   * (redirects, password-reset mails) from it, and the agent must not choose where those point.
   */
  forwardedHost: string;
  /** Further request headers to drop (lower-case), e.g. provider org/project selectors. */
  drop?: readonly string[];
}

/** The headers sent upstream for an agent's request. */
export function upstreamRequestHeaders(incoming: IncomingHttpHeaders, opts: ForwardOptions): OutgoingHttpHeaders {
  const named = connectionNamed(incoming);
  const out: OutgoingHttpHeaders = {};
  for (const name in incoming) {
    const value = incoming[name];
    if (value === undefined || isHop(name, named) || AGENT_ONLY.has(name) || opts.drop?.includes(name) || name.startsWith('x-gatehouse-')) continue;
    if (carries(value, opts.token)) continue;
    out[name] = value;
  }
  for (const name in opts.inject) out[name.toLowerCase()] = opts.inject[name];
  out.host = opts.upstreamHost;
  // The agent is untrusted: forwarding claims are replaced, never appended to.
  out['x-forwarded-for'] = opts.clientAddress;
  out['x-forwarded-proto'] = 'http';
  out['x-forwarded-host'] = opts.forwardedHost;
  return out;
}

/** The upstream's response headers as the agent receives them. `bodyChanged` drops framing that no longer holds. */
export function clientResponseHeaders(upstream: IncomingHttpHeaders, bodyChanged: { length?: boolean; encoding?: boolean } = {}): OutgoingHttpHeaders {
  const named = connectionNamed(upstream);
  const out: OutgoingHttpHeaders = {};
  for (const name in upstream) {
    const value = upstream[name];
    if (value === undefined || isHop(name, named)) continue;
    if (bodyChanged.length && name === 'content-length') continue;
    if (bodyChanged.encoding && name === 'content-encoding') continue;
    out[name] = value;
  }
  return out;
}

/** Header names whose configured values are credentials: scrubbed if an upstream ever echoes them back. */
const CREDENTIAL_HEADER = /authorization|api[-_]?key|token|secret|cookie|auth|password/i;

/** The credential strings in configured upstream headers (the full value and, for `Bearer x`, the `x`). */
export function credentialValues(headers: Record<string, string>): string[] {
  const values = new Set<string>();
  for (const [name, value] of Object.entries(headers)) {
    if (!CREDENTIAL_HEADER.test(name)) continue;
    for (const v of [value, value.split(/\s+/).at(-1) ?? '']) if (v.length >= 8) values.add(v);
  }
  return [...values].sort((a, b) => b.length - a.length);
}

/**
 * A redirect to the upstream itself is pointed back at the gateway (as a reverse proxy must), so an agent's client never
 * follows it around Gatehouse to the upstream's address.
 */
export function rewriteLocation(headers: OutgoingHttpHeaders, upstream: URL, gatewayHost: string | undefined) {
  const location = headers.location;
  if (typeof location !== 'string' || !gatewayHost) return;
  const prefix = upstream.origin + upstream.pathname.replace(/\/$/, '');
  if (location === prefix || location.startsWith(prefix + '/') || location.startsWith(prefix + '?')) {
    headers.location = `http://${gatewayHost}${location.slice(prefix.length) || '/'}`;
  }
}
