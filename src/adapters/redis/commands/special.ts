// The commands the gateway treats apart from their categories: housekeeping every grant allows, commands only an explicit
// name grants, and commands nothing grants because the gateway could not keep its guarantees behind them.

/** Connection housekeeping every grant allows: none touches data (WATCH's keys are still judged as reads). */
const HOUSEKEEPING = new Set(['ping', 'echo', 'multi', 'exec', 'discard', 'watch', 'unwatch', 'client|setname', 'client|getname', 'client|id']);

/**
 * Refused unless a grant's `commands` names them (`+flushdb`, `+client|kill`, or the container `+client`): a category,
 * even `+@all`, does not grant them. Scripts touch keys nobody declared; the others reach past one agent's keys (other
 * databases, other clients, the server itself) or list names outside the grant.
 */
const NAMED_ONLY = new Set([
  'eval', 'evalsha', 'eval_ro', 'evalsha_ro', 'fcall', 'fcall_ro', 'function', 'script',
  'config', 'debug', 'module', 'shutdown', 'flushall', 'flushdb', 'monitor', 'migrate', 'move', 'swapdb', 'keys',
  'client|kill', 'client|tracking', 'client|list', 'client|unblock', 'client|pause', 'client|no-evict',
  // Names or values outside the grant: a random key name, other clients' arguments, channel names, ACL users.
  'randomkey', 'slowlog', 'pubsub', 'acl',
  // Replication: a replica gets the whole dataset.
  'replicaof', 'slaveof', 'failover',
]);

/** Never forwarded, whatever the grant says, and why. */
const NEVER: Record<string, string> = {
  'client|reply': 'replies switched off or skipped would no longer line up with commands',
  sync: 'it streams the whole dataset outside RESP',
  psync: 'it streams the whole dataset outside RESP',
  replconf: 'it is part of replication',
};

export const isHousekeeping = (name: string) => HOUSEKEEPING.has(name);

/** Whether only an explicit name grants the command (a subcommand is covered by its container's entry too). */
export function isNamedOnly(name: string): boolean {
  if (NAMED_ONLY.has(name)) return true;
  const bar = name.indexOf('|');
  return bar > 0 && NAMED_ONLY.has(name.slice(0, bar));
}

export const neverReason = (name: string): string | undefined => NEVER[name];
