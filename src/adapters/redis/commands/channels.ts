// Which pub/sub channels a command names, after Redis's own table of commands with channels (db.c).

export type ChannelVerb = 'subscribe' | 'unsubscribe' | 'publish';

export interface ChannelUse {
  readonly verb: ChannelVerb;
  /** PSUBSCRIBE / PUNSUBSCRIBE name patterns, not channels. */
  readonly pattern: boolean;
  readonly names: Buffer[];
}

const CHANNEL_COMMANDS: Record<string, { verb: ChannelVerb; pattern: boolean; count: number }> = {
  subscribe: { verb: 'subscribe', pattern: false, count: -1 },
  ssubscribe: { verb: 'subscribe', pattern: false, count: -1 },
  psubscribe: { verb: 'subscribe', pattern: true, count: -1 },
  unsubscribe: { verb: 'unsubscribe', pattern: false, count: -1 },
  sunsubscribe: { verb: 'unsubscribe', pattern: false, count: -1 },
  punsubscribe: { verb: 'unsubscribe', pattern: true, count: -1 },
  publish: { verb: 'publish', pattern: false, count: 1 },
  spublish: { verb: 'publish', pattern: false, count: 1 },
};

/** The channels (or patterns) a command names, or undefined when it names none. */
export function findChannels(name: string, args: readonly Buffer[]): ChannelUse | undefined {
  const entry = CHANNEL_COMMANDS[name];
  if (!entry) return undefined;
  const stop = entry.count < 0 ? args.length : Math.min(args.length, 1 + entry.count);
  return { verb: entry.verb, pattern: entry.pattern, names: args.slice(1, stop) };
}

/** Commands that change the connection's subscriptions: their replies are one per channel, not one per command. */
export const isSubscription = (name: string) => CHANNEL_COMMANDS[name] !== undefined && CHANNEL_COMMANDS[name].verb !== 'publish';
