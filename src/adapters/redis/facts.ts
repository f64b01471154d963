// One Redis command line as facts: which command it runs, the keys it reads and writes, the channels it names, and the
// argument-dependent forms a grant must name explicitly. Pure: no socket, no identity, no policy.

import type { Effect, Facts, Target } from '../../services/policy/facts.ts';
import { findChannels, type ChannelUse } from './commands/channels.ts';
import { findKeys, type KeyAccess, type ReachedPattern } from './commands/keys.ts';
import type { CommandSpec, CommandTable } from './commands/table.ts';
import { isWord, parseInteger, printable } from './codec/resp.ts';

export interface RedisFacts extends Facts {
  protocol: 'redis';
  /** The command or subcommand the line runs; undefined when the table does not place it (`error` says why). */
  command: CommandSpec | undefined;
  args: readonly Buffer[];
  keys: readonly KeyAccess[];
  /** Keys reached through SORT's BY/GET patterns. */
  reached: readonly ReachedPattern[];
  channels: ChannelUse | undefined;
  /** An argument-dependent form that needs the command named explicitly: `COPY ... DB`, `SELECT` of another database. */
  variant?: string;
  /** What Redis itself would answer (unknown command, wrong arity): returned as is, nothing is forwarded. */
  error?: string;
  /** Why the keys this line touches cannot all be located (incomplete key specs, arguments that do not fit them). */
  keysUnknown?: string;
}

export interface AnalysisContext {
  connection: string;
  table: CommandTable;
  /** The upstream database this connection is bound to. */
  db: number;
}

const MAX_SUMMARY_NAMES = 8;

export function analyse(args: readonly Buffer[], ctx: AnalysisContext): RedisFacts {
  const found = ctx.table.lookup(args);
  if (!('name' in found)) {
    // Not `unknown`: the policy answers with Redis's own error text (and the gate still audits it).
    return {
      protocol: 'redis', connection: ctx.connection, command: undefined, effect: 'unknown', summary: printable(args[0]).toUpperCase(),
      targets: [], args, keys: [], reached: [], channels: undefined, error: found.error,
    };
  }
  const command = found;
  const keyed = findKeys(command, args);
  const channels = findChannels(command.name, args);
  const keys = keyed.ok ? keyed.keys : [];
  const reached = keyed.ok ? keyed.reached : [];
  // Plain loops: this runs for every command, and spreads of mapped arrays cost more than the rest of the analysis.
  const targets: Target[] = [];
  for (const k of keys) targets.push({ kind: 'key', name: printable(k.key), access: k.write ? (k.read ? 'read+write' : 'write') : 'read' });
  for (const r of reached) targets.push({ kind: 'key', name: printable(r.pattern), access: 'read' });
  if (channels) for (const c of channels.names) targets.push({ kind: 'channel', name: printable(c), access: channels.verb });
  return {
    protocol: 'redis',
    connection: ctx.connection,
    command,
    effect: effectOf(command, keys),
    summary: summarise(command, targets),
    targets,
    args,
    keys,
    reached,
    channels,
    variant: variantOf(command, args, ctx.db),
    // Judged by the policy after the command itself, so a refused command is refused as such whatever its keys.
    keysUnknown: keyed.ok ? undefined : keyed.reason,
  };
}

/** `DEL doc:1 doc:2`, `CLIENT KILL`: the command and the names it touches, never argument values. */
function summarise(command: CommandSpec, targets: Target[]): string {
  let out = command.display;
  for (let i = 0; i < targets.length && i < MAX_SUMMARY_NAMES; i++) out += ` ${targets[i].name}`;
  return targets.length > MAX_SUMMARY_NAMES ? `${out} (+${targets.length - MAX_SUMMARY_NAMES} more)` : out;
}

function effectOf(command: CommandSpec, keys: readonly KeyAccess[]): Effect {
  const c = command.categories;
  if (c.has('scripting')) return 'call';
  if (c.has('admin') || c.has('dangerous')) return keys.length ? (keys.some((k) => k.write) ? 'write' : 'read') : 'ddl';
  if (command.flags.has('write') || keys.some((k) => k.write) || command.name === 'publish' || command.name === 'spublish') return 'write';
  if (command.flags.has('readonly') || keys.length || c.has('pubsub')) return 'read';
  return 'session';
}

function variantOf(command: CommandSpec, args: readonly Buffer[], db: number): string | undefined {
  if (command.name === 'copy' && args.slice(3).some((a) => isWord(a, 'db'))) return 'COPY ... DB';
  if (command.name === 'select' && parseInteger(args[1]) !== db) return 'SELECT of another database';
  return undefined;
}
