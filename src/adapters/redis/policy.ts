// The Redis policy: a pure function of one command's facts and a compiled grant. Every refusal names the missing grant.

import { allow, deny, hold, type Verdict } from '../../services/policy/verdict.ts';
import { isHousekeeping, isNamedOnly, neverReason } from './commands/special.ts';
import { printable } from './codec/resp.ts';
import type { RedisFacts } from './facts.ts';
import type { CompiledGrant } from './grant.ts';
import { compileGlob, reachable, type GlobSet } from './glob.ts';

/** Refusal rules; `redis.syntax` carries Redis's own error text (unknown command, arity), the others are NOPERM. */
export const RULE = {
  syntax: 'redis.syntax',
  never: 'redis.never',
  command: 'redis.command',
  read: 'redis.key.read',
  write: 'redis.key.write',
  channel: 'redis.channel',
  keys: 'redis.keys',
} as const;

const MAX_LISTED = 6;
// A PSUBSCRIBE pattern longer than this is not worth proving narrow: it is refused.
const MAX_PATTERN = 1024;

export function decideRedis(facts: RedisFacts, grant: CompiledGrant): Verdict {
  if (facts.error || !facts.command) return deny(RULE.syntax, facts.error ?? 'ERR unknown command');
  const command = facts.command;
  const name = command.name;
  const never = neverReason(name);
  if (never) return deny(RULE.never, `'${name}' cannot pass through Gatehouse: ${never}`);
  if (!isHousekeeping(name)) {
    const namedOnly = facts.variant !== undefined || isNamedOnly(name);
    if (!grant.permits(command, namedOnly)) {
      const what = facts.variant ?? `'${name}'`;
      return deny(RULE.command, namedOnly
        ? `${what} is refused unless ${grant.label}.commands names it explicitly ("+${name}"); categories such as +@all do not grant it`
        : `this token may not run '${name}' (${grant.label}.commands: ${grant.commands.join(' ') || 'none'})`);
    }
  }
  if (facts.keysUnknown) return deny(RULE.keys, `Gatehouse cannot tell which keys this '${name}' touches: ${facts.keysUnknown}`);
  for (const k of facts.keys) {
    if (k.read && !grant.read.matches(k.key)) return deny(RULE.read, `no read access to key '${printable(k.key)}' (${listed(grant, 'read')})`);
    if (k.write && !grant.write.matches(k.key)) return deny(RULE.write, `no write access to key '${printable(k.key)}' (${listed(grant, 'write')})`);
  }
  for (const r of facts.reached) {
    if (!grant.read.covers(reachable(r.prefix, r.suffix))) {
      return deny(RULE.read, `the pattern '${printable(r.pattern)}' can reach keys outside ${listed(grant, 'read')}`);
    }
  }
  const channels = facts.channels;
  if (channels && channels.verb !== 'unsubscribe') {
    for (const c of channels.names) {
      const ok = channels.pattern ? c.length <= MAX_PATTERN && grant.channels.covers(compileGlob(c)) : grant.channels.matches(c);
      if (!ok) {
        return deny(RULE.channel, channels.pattern
          ? `the pattern '${printable(c)}' is broader than ${listed(grant, 'channels')}`
          : `no access to channel '${printable(c)}' (${listed(grant, 'channels')})`);
      }
    }
  }
  if (grant.approves) {
    const names = facts.keys.map((k) => k.key);
    if (channels) names.push(...channels.names);
    const approval = grant.approval(command, names);
    if (approval) return hold(grant.label, `approve: "${approval}" in ${grant.label}`);
  }
  return allow(grant.label);
}

/** `roles.r.c.read: session:*, doc:*` (the first few), or `roles.r.c.read is empty`. */
function listed(grant: CompiledGrant, which: 'read' | 'write' | 'channels'): string {
  const set: GlobSet = grant[which];
  if (!set.size) return `${grant.label}.${which} is empty`;
  const names = set.globs.slice(0, MAX_LISTED).map((g) => printable(g.source));
  return `${grant.label}.${which}: ${names.join(', ')}${set.size > MAX_LISTED ? ', ...' : ''}`;
}
