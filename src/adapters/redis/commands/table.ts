// The upstream's own command table (COMMAND, Redis 7): arity, flags, ACL categories and key specifications of every
// command and subcommand, learned at start-up so the gateway judges what this server actually runs.

import { asciiLower, type Line, type RespValue } from '../codec/resp.ts';

/** Where a key specification's keys begin: a fixed index, after a keyword, or not statically known. */
export type BeginSearch =
  | { type: 'index'; index: number }
  | { type: 'keyword'; keyword: string; startfrom: number }
  | { type: 'unknown' };

/** How many keys follow, and how far apart. */
export type FindKeys =
  | { type: 'range'; lastkey: number; keystep: number; limit: number }
  | { type: 'keynum'; keynumidx: number; firstkey: number; keystep: number }
  | { type: 'unknown' };

export interface KeySpec {
  /** The key's value is read or returned (RO, or any spec flagged `access`). */
  readonly read: boolean;
  /** The key is changed (RW, OW, RM, or flagged insert / delete / update). */
  readonly write: boolean;
  /** A shard channel, not a key (SPUBLISH, SSUBSCRIBE). */
  readonly notKey: boolean;
  /** Redis itself says the spec may miss keys. */
  readonly incomplete: boolean;
  /** The access depends on the arguments (SET ... GET, BITFIELD); the flags above are the widest case. */
  readonly variableFlags: boolean;
  readonly begin: BeginSearch;
  readonly find: FindKeys;
}

export interface CommandSpec {
  /** Lower case; a subcommand is `container|sub` (`client|kill`), as Redis's ACL names it. */
  readonly name: string;
  /** As people write it: `GET`, `CLIENT KILL`. */
  readonly display: string;
  /** Redis's arity: n exactly, or at least -n arguments, the command name (and subcommand) included. */
  readonly arity: number;
  readonly flags: ReadonlySet<string>;
  /** ACL categories without the `@`: `read`, `write`, `keyspace`, `dangerous`... */
  readonly categories: ReadonlySet<string>;
  readonly keySpecs: readonly KeySpec[];
  /** For a container command (CLIENT, CONFIG, OBJECT...), its subcommands by lower-case name. */
  readonly subcommands?: ReadonlyMap<string, CommandSpec>;
}

/** A command line the table cannot place: what Redis itself would answer for it. */
export interface Unplaced {
  readonly error: string;
}

export class CommandTable {
  private readonly byName: ReadonlyMap<string, CommandSpec>;
  /** Every category the upstream knows (so a grant naming `@reed` fails at start-up). */
  readonly categories: ReadonlySet<string>;

  /** Names as clients send them (lower and upper case), to skip folding the case of every command line. */
  private readonly bySpelling: ReadonlyMap<string, CommandSpec>;

  constructor(commands: Iterable<CommandSpec>) {
    this.byName = new Map([...commands].map((c) => [c.name, c]));
    this.bySpelling = new Map([...this.byName.values()].flatMap((c) => [[c.name, c], [c.name.toUpperCase(), c]]));
    const categories = new Set<string>();
    for (const c of this.all()) for (const cat of c.categories) categories.add(cat);
    this.categories = categories;
  }

  /** The command or subcommand by its ACL name (`get`, `client|kill`), for compiling grants. */
  get(name: string): CommandSpec | undefined {
    const [base, sub] = name.split('|', 2);
    const command = this.byName.get(base);
    return sub === undefined ? command : command?.subcommands?.get(sub);
  }

  /** Every command and subcommand. */
  *all(): Iterable<CommandSpec> {
    for (const c of this.byName.values()) {
      yield c;
      if (c.subcommands) yield* c.subcommands.values();
    }
  }

  /** The spec a command line runs, checked for arity, or what Redis would answer instead. */
  lookup(args: readonly Buffer[]): CommandSpec | Unplaced {
    let command = this.bySpelling.get(args[0].toString('latin1'));
    if (!command) {
      const name = asciiLower(args[0]);
      command = this.byName.get(name);
      if (!command) return { error: `ERR unknown command '${shown(name)}'` };
    }
    const name = command.name;
    if (command.subcommands && args.length > 1) {
      const sub = asciiLower(args[1]);
      const found = command.subcommands.get(sub);
      if (!found) return { error: `ERR unknown subcommand '${shown(sub)}'. Try ${name.toUpperCase()} HELP.` };
      command = found;
    }
    const arity = command.arity;
    if ((arity > 0 && args.length !== arity) || args.length < -arity) {
      return { error: `ERR wrong number of arguments for '${command.name}' command` };
    }
    return command;
  }
}

const shown = (name: string) => (name.length > 128 ? `${name.slice(0, 128)}...` : name).replace(/[^\x20-\x7e]/g, '?');

// ---- reading the COMMAND reply ------------------------------------------------------------------------------------

/** Thrown when the upstream's COMMAND reply is not what Redis 7 sends. */
export class CommandTableError extends Error {}

/** Builds the table from the reply to `COMMAND`. Refuses a server without key specifications (Redis < 7). */
export function parseCommandTable(reply: RespValue): CommandTable {
  if (!Array.isArray(reply) || reply.length === 0) throw new CommandTableError('COMMAND returned no commands');
  return new CommandTable(reply.map((entry) => parseCommand(entry)));
}

function parseCommand(entry: RespValue, container?: string): CommandSpec {
  if (!Array.isArray(entry) || entry.length < 7) throw new CommandTableError('a COMMAND entry is not an array of at least 7 fields');
  const name = asciiLower(Buffer.from(text(entry[0]), 'latin1'));
  if (entry.length < 10) {
    throw new CommandTableError(`the upstream does not describe key specifications (command '${name}'): Redis 7 or later is required`);
  }
  const keySpecs = list(entry[8]).map((spec) => parseKeySpec(spec, name));
  const subs = list(entry[9]).map((sub) => parseCommand(sub, name));
  if (container && !name.startsWith(`${container}|`)) throw new CommandTableError(`subcommand '${name}' of '${container}' is not named '${container}|...'`);
  return {
    name,
    display: name.replace('|', ' ').toUpperCase(),
    arity: int(entry[1]),
    flags: new Set(list(entry[2]).map((f) => text(f).toLowerCase())),
    categories: new Set(list(entry[6]).map((c) => text(c).replace(/^@/, '').toLowerCase())),
    keySpecs,
    subcommands: subs.length ? new Map(subs.map((s) => [s.name.slice(name.length + 1), s])) : undefined,
  };
}

function parseKeySpec(value: RespValue, command: string): KeySpec {
  const spec = fields(value);
  const flags = new Set(list(spec.get('flags')).map((f) => text(f).toLowerCase()));
  const begin = fields(spec.get('begin_search'));
  const find = fields(spec.get('find_keys'));
  const beginSpec = fields(begin.get('spec'));
  const findSpec = fields(find.get('spec'));
  const beginType = text(begin.get('type'));
  const findType = text(find.get('type'));
  const known = (type: string, allowed: string[]) => {
    if (!allowed.includes(type)) throw new CommandTableError(`command '${command}': unknown key spec type '${type}'`);
  };
  known(beginType, ['index', 'keyword', 'unknown']);
  known(findType, ['range', 'keynum', 'unknown']);
  return {
    read: flags.has('ro') || flags.has('access'),
    write: flags.has('rw') || flags.has('ow') || flags.has('rm') || flags.has('insert') || flags.has('delete') || flags.has('update'),
    notKey: flags.has('not_key'),
    incomplete: flags.has('incomplete'),
    variableFlags: flags.has('variable_flags'),
    begin: beginType === 'index' ? { type: 'index', index: int(beginSpec.get('index')) }
      : beginType === 'keyword' ? { type: 'keyword', keyword: text(beginSpec.get('keyword')).toLowerCase(), startfrom: int(beginSpec.get('startfrom')) }
      : { type: 'unknown' },
    find: findType === 'range' ? { type: 'range', lastkey: int(findSpec.get('lastkey')), keystep: int(findSpec.get('keystep')), limit: int(findSpec.get('limit')) }
      : findType === 'keynum' ? { type: 'keynum', keynumidx: int(findSpec.get('keynumidx')), firstkey: int(findSpec.get('firstkey')), keystep: int(findSpec.get('keystep')) }
      : { type: 'unknown' },
  };
}

function text(value: RespValue | undefined): string {
  if (Buffer.isBuffer(value)) return value.toString('latin1');
  if (value && typeof value === 'object' && 'text' in value) return (value as Line).text;
  throw new CommandTableError(`expected a string in the COMMAND reply, got ${describe(value)}`);
}

function int(value: RespValue | undefined): number {
  const n = value && typeof value === 'object' && 'text' in value ? Number((value as Line).text) : NaN;
  if (!Number.isInteger(n)) throw new CommandTableError(`expected an integer in the COMMAND reply, got ${describe(value)}`);
  return n;
}

function list(value: RespValue | undefined): RespValue[] {
  if (!Array.isArray(value)) throw new CommandTableError(`expected an array in the COMMAND reply, got ${describe(value)}`);
  return value;
}

/** A RESP2 map: a flat array of name, value, name, value. */
function fields(value: RespValue | undefined): Map<string, RespValue> {
  const items = list(value);
  const out = new Map<string, RespValue>();
  for (let i = 0; i + 1 < items.length; i += 2) out.set(text(items[i]).toLowerCase(), items[i + 1]);
  return out;
}

const describe = (value: RespValue | undefined) => (value === undefined ? 'nothing' : Array.isArray(value) ? 'an array' : Buffer.isBuffer(value) ? 'a string' : value === null ? 'nil' : typeof value === 'object' && 'type' in value ? `'${String.fromCharCode(value.type)}${value.text}'` : 'a nil array');
