// Which addresses the egress proxy may connect to: the public internet only, unless `allow_private` says otherwise — and
// never the gateway itself nor a cloud metadata endpoint (smokescreen's model, with IPv6 translation forms unwrapped).
import ipaddr from 'ipaddr.js';
import { networkInterfaces } from 'node:os';
import { canonicalIp, parseAuthority, type Ip } from './host.ts';

type Cidr = [Ip, number];

interface Range {
  cidr: Cidr;
  what: string;
}

const range = (text: string, what: string): Range => ({ cidr: ipaddr.parseCIDR(text), what });

/** Refused whatever `allow_private` says: a credential-bearing endpoint one hop away from every cloud VM. */
const METADATA = [
  '169.254.169.254', // AWS, GCP, Azure, OpenStack...
  '169.254.170.2', // AWS ECS task credentials
  '100.100.100.200', // Alibaba Cloud
  'fd00:ec2::254', // AWS over IPv6
].map((a) => ipaddr.parse(a).toString());

/** Names that reach a metadata service through the platform's resolver. */
export const METADATA_NAMES = new Set(['metadata.google.internal', 'metadata.goog', 'metadata.azure.internal', 'instance-data.ec2.internal']);

/**
 * The IANA special-purpose ranges an agent has no business reaching. The documentation ranges (192.0.2.0/24,
 * 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32) are not here: nothing routes them, so dialling one reaches nobody.
 */
const SPECIAL: Range[] = [
  range('0.0.0.0/8', 'unspecified ("this network")'),
  range('10.0.0.0/8', 'private (RFC 1918)'),
  range('100.64.0.0/10', 'shared carrier-grade NAT (RFC 6598)'),
  range('127.0.0.0/8', 'loopback'),
  range('169.254.0.0/16', 'link-local'),
  range('172.16.0.0/12', 'private (RFC 1918)'),
  range('192.0.0.0/24', 'reserved (IETF protocol assignments)'),
  range('192.88.99.0/24', 'reserved (6to4 relay anycast)'),
  range('192.168.0.0/16', 'private (RFC 1918)'),
  range('198.18.0.0/15', 'reserved (benchmarking)'),
  range('224.0.0.0/4', 'multicast'),
  range('255.255.255.255/32', 'broadcast'),
  range('240.0.0.0/4', 'reserved (class E)'),
  range('::/128', 'unspecified'),
  range('::1/128', 'loopback'),
  range('::/96', 'IPv4-compatible IPv6 (deprecated)'),
  range('100::/64', 'reserved (discard-only)'),
  range('2001:2::/48', 'reserved (benchmarking)'),
  range('2001:10::/28', 'reserved (ORCHID)'),
  range('2001:20::/28', 'reserved (ORCHIDv2)'),
  range('fc00::/7', 'unique local (ULA)'),
  range('fec0::/10', 'site-local (deprecated)'),
  range('fe80::/10', 'link-local'),
  range('ff00::/8', 'multicast'),
];
const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR('2000::/3');

/** IPv6 forms that carry an IPv4 address a translator or relay will reach: that address is judged too. */
const EMBEDDING: { cidr: Cidr; what: string; ipv4(b: number[]): number[][] }[] = [
  { cidr: ipaddr.parseCIDR('64:ff9b::/96'), what: 'NAT64', ipv4: (b) => [b.slice(12, 16)] },
  // RFC 8215 local-use prefix, RFC 6052 /48 layout: octets 6-7 and 9-10 (octet 8 is the reserved "u" octet).
  { cidr: ipaddr.parseCIDR('64:ff9b:1::/48'), what: 'NAT64 (local use)', ipv4: (b) => [[b[6], b[7], b[9], b[10]]] },
  { cidr: ipaddr.parseCIDR('::ffff:0:0:0/96'), what: 'IPv4-translated (SIIT)', ipv4: (b) => [b.slice(12, 16)] },
  { cidr: ipaddr.parseCIDR('2002::/16'), what: '6to4', ipv4: (b) => [b.slice(2, 6)] },
  // Teredo: the server address in octets 4-7, the client's (obfuscated: every bit flipped) in octets 12-15.
  { cidr: ipaddr.parseCIDR('2001::/32'), what: 'Teredo', ipv4: (b) => [b.slice(4, 8), b.slice(12, 16).map((x) => x ^ 0xff)] },
];

export interface AddressRules {
  /** `allow_private`: ranges reachable although special-purpose. */
  allowPrivate: readonly Cidr[];
  /** Whether `ip:port` is one of the gateway's own listeners: refused always. */
  isSelf(ip: Ip, port: number): boolean;
}

export type AddressVerdict =
  | { ok: true; /** Set when only `allow_private` let it through: the audit says so. */ allowedPrivate?: string }
  | { ok: false; reason: string };

/** Parses `allow_private` entries (a bare address is a one-address range); throws on a malformed one. */
export function parseCidrs(list: readonly string[]): Cidr[] {
  return list.map((text) => {
    const [addr, bits] = text.split('/');
    // IPv4 ranges in their plain four-part form only: `10.1/8` would read as 10.0.0.1/8.
    const valid = addr.includes(':') ? ipaddr.IPv6.isValid(addr) && !addr.includes('%') : ipaddr.IPv4.isValidFourPartDecimal(addr);
    if (!valid || (bits !== undefined && !ipaddr.isValidCIDR(text))) throw new Error(`allow_private: "${text}" is not an address or CIDR range`);
    const ip = ipaddr.parse(addr);
    return [ip, bits === undefined ? (ip.kind() === 'ipv4' ? 32 : 128) : Number(bits)] as Cidr;
  });
}

/**
 * Whether `ip:port` reaches one of the gateway's own listeners (`host:port` strings, read at each check since they
 * start one after another). A listener on 0.0.0.0 or :: answers on every local address; a named host is taken the same way.
 */
export function selfMatcher(listening: () => readonly string[]): AddressRules['isSelf'] {
  return (ip, port) => {
    const text = canonicalIp(ip).toString();
    for (const listen of listening()) {
      const at = parseAuthority(listen);
      if (!at.ok || at.value.port !== port) continue;
      const host = at.value.host;
      if (host.kind === 'ip' && !host.ip.range().startsWith('unspecified')) {
        if (host.name === text) return true;
      } else if (isLocal(ip)) return true;
    }
    return false;
  };
}

function isLocal(ip: Ip): boolean {
  if (ip.range() === 'loopback' || ip.range() === 'unspecified') return true;
  const text = ip.toString();
  return Object.values(networkInterfaces()).some((list) => list?.some((i) => canonicalIp(ipaddr.parse(i.address.split('%')[0])).toString() === text));
}

/** Judges one resolved (or literal) address and port. */
export function checkAddress(address: Ip, port: number, rules: AddressRules): AddressVerdict {
  const ip = canonicalIp(address);
  const text = ip.toString();
  // The gateway itself and metadata endpoints stay refused whatever `allow_private` says, also behind a translation prefix.
  for (const [inner, via] of [[ip, ''], ...embedded(ip).map((e) => [e.ipv4, ` (${e.what}, embedding ${e.ipv4})`] as const)] as const) {
    if (rules.isSelf(inner, port)) return refuse(text, `is this gateway's own listener${via}`);
    if (METADATA.includes(inner.toString())) return refuse(text, `is a cloud metadata endpoint${via}`);
  }
  const special = specialPurpose(ip);
  if (!special) return { ok: true };
  const exception = rules.allowPrivate.find((c) => sameKind(ip, c) && ip.match(c));
  if (exception) return { ok: true, allowedPrivate: `${text} (${special}) allowed by allow_private ${exception[0]}/${exception[1]}` };
  return refuse(text, `is ${special}`);
}

/** Why an address is special-purpose (refused by default), or undefined for a public address. */
function specialPurpose(ip: Ip): string | undefined {
  for (const r of SPECIAL) if (sameKind(ip, r.cidr) && ip.match(r.cidr)) return `${r.what}: ${r.cidr[0]}/${r.cidr[1]}`;
  if (ip.kind() === 'ipv4') return undefined;
  const inner = embedded(ip);
  if (inner.length) {
    for (const e of inner) {
      const why = specialPurpose(e.ipv4);
      if (why) return `${e.what}, embedding ${e.ipv4} (${why})`;
    }
    return undefined;
  }
  return ip.match(GLOBAL_UNICAST_V6) ? undefined : 'outside IPv6 global unicast (2000::/3)';
}

/** The IPv4 addresses an IPv6 translation or tunnelling form carries. */
function embedded(ip: Ip): { what: string; ipv4: ipaddr.IPv4 }[] {
  if (ip.kind() === 'ipv4') return [];
  const form = EMBEDDING.find((e) => ip.match(e.cidr));
  return form ? form.ipv4(ip.toByteArray()).map((octets) => ({ what: form.what, ipv4: new ipaddr.IPv4(octets) })) : [];
}

const sameKind = (ip: Ip, c: Cidr) => ip.kind() === c[0].kind();

const refuse = (text: string, why: string): AddressVerdict => ({ ok: false, reason: `${text} ${why}` });
