// The egress decision for one tunnel or plain request: deny list, host grant, every resolved address, then the token's
// request and byte budgets. Pure but for the budgets it charges.
import type { EgressGrant } from '../../config/schema.ts';
import type { RateLimiter } from '../../pipeline/rate.ts';
import { allow, deny, hold, type Verdict } from '../../services/policy/verdict.ts';
import { egressFacts, type EgressFacts } from './facts.ts';
import { compileEgressGrant, matchHost, type CompiledEgressGrant } from './grant.ts';
import { formatEndpoint, parseAuthority } from './host.ts';
import { checkAddress, METADATA_NAMES, type AddressRules } from './ranges.ts';

/** One role's egress rules on one connection, compiled at start-up. */
export interface EgressRules {
  role: string;
  connection: string;
  raw: EgressGrant;
  grant: CompiledEgressGrant;
  addresses: AddressRules;
  rate?: RateLimiter;
  bytes?: RateLimiter;
}

/** A verdict that can refuse with a wait: rate and byte budgets say how long. */
export type EgressVerdict = Verdict & { retryAfter?: number };

/**
 * The host-level part: deny list, metadata names, host grant. It needs no lookup, so a host no grant names is refused
 * before its name is ever resolved (a lookup of an attacker's name would already leak data through DNS).
 */
export function decideHost(facts: EgressFacts, rules: EgressRules): Verdict {
  const { target } = facts;
  const at = `roles.${rules.role}.${rules.connection}`;
  const shown = formatEndpoint(target);
  if (target.host.kind === 'name' && METADATA_NAMES.has(target.host.name)) return deny('egress.address', `${target.host.name} is a cloud metadata endpoint, refused whatever the grant says`);
  const match = matchHost(rules.grant, target);
  if (match.ok) return allow(`hosts "${match.rule.text}"`);
  if (match.denied) return deny('egress.deny', `${shown} is refused: ${at}.deny names "${match.denied.text}"`);
  if (match.otherPorts.length) {
    const ports = [...new Set(match.otherPorts.flatMap((r) => r.ports ?? []))].sort((a, b) => a - b).join(', ');
    return deny('egress.hosts', `port ${target.port} of ${target.host.name} is not granted: ${at}.hosts allows it on port ${ports} only ("host" alone means 80 and 443; write "host:${target.port}" to grant this port)`);
  }
  if (target.host.kind === 'ip') return deny('egress.hosts', `no grant for ${shown}: an IP address is reached only when ${at}.hosts names that address`);
  return deny('egress.hosts', `no grant for ${shown}: ${at}.hosts does not name ${target.host.name}`);
}

/** The whole decision, once the name is resolved: every address must pass, then the token's budgets, then `approve:`. */
export function decideEgress(facts: EgressFacts, rules: EgressRules, tokenId: string, now = Date.now()): EgressVerdict {
  const host = decideHost(facts, rules);
  if (host.kind !== 'allow') return host;
  if (facts.unresolved !== undefined) return deny('egress.dns', facts.unresolved);
  if (!facts.addresses?.length) return deny('egress.dns', `${facts.target.host.name} was not resolved`);
  const exceptions: string[] = [];
  for (const address of facts.addresses) {
    const checked = checkAddress(address, facts.target.port, rules.addresses);
    if (!checked.ok) {
      const all = facts.addresses.length > 1 ? ` (it resolves to ${facts.addresses.join(', ')}; every address must be allowed)` : '';
      const named = facts.target.host.kind === 'name' ? `${facts.target.host.name} resolves to ` : '';
      return deny('egress.address', `${named}${checked.reason}: refused${all}`);
    }
    if (checked.allowedPrivate) exceptions.push(checked.allowedPrivate);
  }
  return budgetsThenApproval(facts, rules, tokenId, now, exceptions.length ? `${host.grant}; ${exceptions.join('; ')}` : host.grant);
}

/** What every allowed tunnel or request passes last: the token's byte and request budgets, then `approve:`. */
export function budgetsThenApproval(facts: EgressFacts, rules: EgressRules, tokenId: string, now: number, grant: string): EgressVerdict {
  const bytesWait = rules.bytes?.retryAfter(tokenId, now) ?? 0;
  if (bytesWait) return { ...deny('egress.max_bytes', `max_bytes ${rules.raw.max_bytes} used up for this token; retry in ${bytesWait}s`), retryAfter: bytesWait };
  const taken = rules.rate?.take(tokenId, now);
  if (taken && !taken.ok) return { ...deny('egress.rate', `rate limit ${rules.raw.rate} reached for this token; retry in ${taken.retryAfter}s`), retryAfter: taken.retryAfter };
  const waitsOn = rules.grant.approve(facts.method, formatEndpoint(facts.target));
  if (waitsOn) return hold(grant, `${facts.summary} waits for a human: roles.${rules.role}.${rules.connection}.approve has "${waitsOn}"`);
  return allow(grant);
}

/**
 * `gatehouse policy explain --host host[:port]` (443 without a port): the host-level decision; for an IP literal, its
 * address too. A name's addresses are only known when it is resolved at connect time, and budgets only at run time.
 */
export function explainEgress(host: string, grant: EgressGrant | undefined, role: string, connection: string, addresses: AddressRules): Verdict {
  if (!grant) return deny('grant.none', `role "${role}" has no grant on connection "${connection}"`);
  const target = parseAuthority(host, 443);
  if (!target.ok) return deny('unknown', `Gatehouse could not understand this target: ${target.reason}`);
  const rules: EgressRules = { role, connection, raw: grant, grant: compileEgressGrant(grant), addresses };
  const facts = egressFacts(connection, 'CONNECT', target.value);
  if (target.value.host.kind === 'name') return decideHost(facts, rules);
  return decideEgress({ ...facts, addresses: [target.value.host.ip] }, rules, '');
}
