// An egress grant compiled once at start-up: which hosts and ports a role may reach, and which it may never (deny wins).
import type { EgressGrant } from '../../config/schema.ts';
import { compileApprovals, nameGlob, type ApproveMatcher } from '../../pipeline/approve.ts';
import { METHODS } from '../kit/http/server.ts';
import { parseAuthority, type Endpoint } from './host.ts';

/** Ports a host without `:port` means in `hosts` (plain HTTP and HTTPS). */
const DEFAULT_PORTS: readonly number[] = [80, 443];

export interface HostRule {
  /** As written in the config, for messages and the audit. */
  text: string;
  /** `exact` name, `subdomains` of a name (`*.x`), or one IP address (canonical spelling). */
  kind: 'exact' | 'subdomains' | 'ip';
  name: string;
  /** Ports the rule covers; undefined means every port (a `deny` entry without one). */
  ports?: readonly number[];
}

export interface CompiledEgressGrant {
  hosts: HostRule[];
  deny: HostRule[];
  /** The `approve:` entry a tunnel (`CONNECT`) or plain request (its method) to `host:port` (formatEndpoint) waits on. */
  approve: ApproveMatcher;
}

/** Compiles a grant; throws naming the first entry that cannot mean anything. */
export function compileEgressGrant(grant: Pick<EgressGrant, 'hosts' | 'deny'> & Partial<Pick<EgressGrant, 'approve'>>): CompiledEgressGrant {
  return {
    hosts: grant.hosts.map((h) => compileHostRule(h, DEFAULT_PORTS)),
    deny: grant.deny.map((h) => compileHostRule(h, undefined)),
    approve: compileApprovals(grant.approve ?? [], { verbs: ['CONNECT', ...METHODS], bare: 'target', glob: hostGlob }),
  };
}

/** `approve:` targets: a glob over the host, or over `host:port` when the entry names a port; case-insensitive. */
const hostGlob = (glob: string) => {
  const withPort = /:(\d+|\*)$/.test(glob);
  const test = nameGlob(glob.toLowerCase());
  return (target: string) => test(withPort ? target : target.slice(0, target.lastIndexOf(':')).replace(/^\[|\]$/g, ''));
};

export function compileHostRule(text: string, portless: readonly number[] | undefined): HostRule {
  const wildcard = text.startsWith('*.');
  const authority = parseAuthority(wildcard ? text.slice(2) : text, 0);
  if (!authority.ok) throw new Error(`"${text}": ${authority.reason}`);
  const { host, port } = authority.value;
  if (wildcard && host.kind === 'ip') throw new Error(`"${text}": a wildcard applies to names, not to IP addresses`);
  return { text, kind: host.kind === 'ip' ? 'ip' : wildcard ? 'subdomains' : 'exact', name: host.name, ports: port === 0 ? portless : [port] };
}

export function nameMatches(rule: HostRule, target: Endpoint): boolean {
  const { host } = target;
  if (rule.kind === 'ip') return host.kind === 'ip' && host.name === rule.name;
  if (host.kind === 'ip') return false; // an IP literal is reached only when a grant names that address
  return rule.kind === 'exact' ? host.name === rule.name : host.name.endsWith('.' + rule.name);
}

const portMatches = (rule: HostRule, port: number) => rule.ports === undefined || rule.ports.includes(port);

export type HostMatch =
  | { ok: true; rule: HostRule }
  | { ok: false; denied?: HostRule; /** Rules naming the host on other ports, for a message that says which port is missing. */ otherPorts: HostRule[] };

/** The rule that lets `target` through, or why none does. */
export function matchHost(grant: CompiledEgressGrant, target: Endpoint): HostMatch {
  const denied = grant.deny.find((r) => nameMatches(r, target) && portMatches(r, target.port));
  if (denied) return { ok: false, denied, otherPorts: [] };
  const named = grant.hosts.filter((r) => nameMatches(r, target));
  const rule = named.find((r) => portMatches(r, target.port));
  return rule ? { ok: true, rule } : { ok: false, otherPorts: named };
}
