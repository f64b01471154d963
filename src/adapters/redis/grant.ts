// A Redis grant from the config, compiled once at start-up against the upstream's command table: command rules checked
// for names the server knows, patterns compiled, approve entries parsed. A mistake stops the gateway with its key path.

import type { RedisGrant } from '../../config/schema.ts';
import { compileApprovals, type ApproveMatcher } from '../../pipeline/approve.ts';
import type { GuardPolicy } from '../../pipeline/content-guards.ts';
import type { CommandSpec, CommandTable } from './commands/table.ts';
import { isNamedOnly } from './commands/special.ts';
import { GlobSet, compileGlob, matchGlob } from './glob.ts';

/** One `commands` entry: `+@read`, `-@dangerous`, `+get`, `+client|kill`. */
interface Rule {
  readonly allow: boolean;
  /** A category (`all` for every command), or a command / container / subcommand name. */
  readonly category?: string;
  readonly command?: string;
}

export interface CompiledGrant {
  /** `roles.<role>.<connection>`: where the grant lives in the config, named in every refusal. */
  readonly label: string;
  readonly commands: readonly string[];
  readonly read: GlobSet;
  readonly write: GlobSet;
  readonly channels: GlobSet;
  /** Whether any `approve` entry exists (so requests need an exact fingerprint). */
  readonly approves: boolean;
  /** Record argument values in the audit, not only command and key names. */
  readonly values: boolean;
  readonly guards: GuardPolicy;
  /** Whether the rules grant the command; `namedOnly`: only an explicit `+name` counts. */
  permits(command: CommandSpec, namedOnly: boolean): boolean;
  /** The approve entry that holds `command` (by its name or one of its categories) on one of `targets` (key or channel names). */
  approval(command: CommandSpec, targets: readonly Buffer[]): string | undefined;
}

export class GrantError extends Error {
  constructor(readonly problems: { path: string; message: string }[]) {
    super(problems.map((p) => `${p.path}: ${p.message}`).join('\n'));
  }
}

/** Commands a non-empty `channels` list grants without a rule (rules may still take them away: `-publish`). */
const CHANNEL_COMMANDS = new Set(['subscribe', 'ssubscribe', 'psubscribe', 'unsubscribe', 'sunsubscribe', 'punsubscribe', 'publish', 'spublish']);

export function compileRedisGrant(grant: RedisGrant, table: CommandTable, role: string, connection: string): CompiledGrant {
  const label = `roles.${role}.${connection}`;
  const problems: { path: string; message: string }[] = [];
  const rules: Rule[] = [];
  grant.commands.forEach((text, i) => {
    const allow = text[0] === '+';
    const name = text.slice(1).toLowerCase();
    if (name.startsWith('@')) {
      const category = name.slice(1);
      if (category !== 'all' && !table.categories.has(category)) {
        problems.push({ path: `${label}.commands.${i}`, message: `unknown category "@${category}" (the upstream knows: @${[...table.categories].sort().join(', @')}, @all)` });
      }
      rules.push({ allow, category });
    } else {
      if (!table.get(name)) problems.push({ path: `${label}.commands.${i}`, message: `the upstream has no command "${name}"` });
      rules.push({ allow, command: name });
    }
  });

  const channelsGranted = grant.channels.length > 0;
  const memo = [new Map<CommandSpec, boolean>(), new Map<CommandSpec, boolean>()];
  const permits = (command: CommandSpec, namedOnly: boolean): boolean => {
    const cache = memo[namedOnly ? 1 : 0];
    let ok = cache.get(command);
    if (ok === undefined) {
      ok = channelsGranted && CHANNEL_COMMANDS.has(command.name);
      const container = command.name.split('|')[0];
      for (const rule of rules) {
        const matches = rule.category !== undefined
          ? rule.category === 'all' || command.categories.has(rule.category)
          : rule.command === command.name || rule.command === container;
        if (!matches) continue;
        if (rule.allow && rule.category !== undefined && namedOnly) continue; // a category never grants these
        ok = rule.allow;
      }
      cache.set(command, ok);
    }
    return ok;
  };

  let approvals: ApproveMatcher = () => undefined;
  try {
    // A verb is a command (`DEL doc:*`, `client|kill`) or a category (`@write doc:*` holds UNLINK, RENAME... as well).
    const verbs = [...[...table.all()].map((c) => c.name), ...[...table.categories].map((c) => `@${c}`)];
    approvals = compileApprovals(grant.approve, { verbs, bare: 'verb', glob: keyGlob });
  } catch (err) {
    problems.push({ path: `${label}.approve`, message: (err as Error).message });
  }
  grant.approve.forEach((text, i) => {
    const verb = text.trim().split(/\s+/)[0].toLowerCase();
    const command = table.get(verb);
    if (command && !permits(command, isNamedOnly(verb))) {
      problems.push({ path: `${label}.approve.${i}`, message: `"${text}" can never match: the grant's commands do not allow ${verb}` });
    }
  });
  if (problems.length) throw new GrantError(problems);

  const bytes = (list: string[]) => list.map((p) => Buffer.from(p, 'utf8'));
  return {
    label,
    commands: grant.commands,
    read: new GlobSet(bytes(grant.read)),
    write: new GlobSet(bytes(grant.write)),
    channels: new GlobSet(bytes(grant.channels)),
    approves: grant.approve.length > 0,
    values: grant.audit.values,
    guards: { ...grant.guards },
    permits,
    approval(command, targets) {
      if (!grant.approve.length) return undefined;
      const names = targets.length ? targets.map((t) => t.toString('latin1')) : [''];
      for (const verb of [command.name, ...[...command.categories].map((c) => `@${c}`)]) {
        for (const target of names) {
          const hit = approvals(verb, target);
          if (hit) return hit;
        }
      }
      return undefined;
    },
  };
}

/** Approve targets are Redis globs over key bytes (the config's text is UTF-8; targets arrive as Latin-1 of their bytes). */
const keyGlob = (glob: string) => {
  const compiled = compileGlob(Buffer.from(glob, 'utf8'));
  return (target: string) => matchGlob(compiled, Buffer.from(target, 'latin1'));
};
