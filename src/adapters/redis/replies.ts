// Replies back to the agent in command order: upstream replies matched to the commands that asked for them, the gateway's
// own replies (refusals, AUTH, QUIT) slotted in their place, pub/sub messages relayed as they come.

import { Type, encodeReply, type Line } from './codec/resp.ts';
import { decodeReply } from './codec/reply.ts';
import { newNotes, summariseNotes, type Transform } from './transforms.ts';

/** Which subscriptions a command changes: SUBSCRIBE/UNSUBSCRIBE, PSUBSCRIBE/PUNSUBSCRIBE, SSUBSCRIBE/SUNSUBSCRIBE. */
export type SubscriptionKind = 'channel' | 'pattern' | 'shard';

export interface Expect {
  /**
   * Upstream replies this command gets: one, or one per channel for a subscription change. `all`: an UNSUBSCRIBE without
   * arguments, one reply per subscription of that kind held when the server runs it (at least one).
   */
  count: number | 'all';
  subscription?: SubscriptionKind;
  transform?: Transform;
  /** The gateway's own command (DISCARD of an aborted transaction): its reply is not the agent's. */
  swallow?: boolean;
  /** MONITOR: once it is acknowledged, everything the upstream sends is relayed as it comes. */
  monitor?: boolean;
  /**
   * Called with the result record's fields once the last reply went out, when there is something to record: an error
   * reply, keys withheld, guard findings. A plain success adds nothing the request record does not say.
   */
  done?: (result: Record<string, unknown>) => void;
}

/** One reply owed, from the upstream or made here. One class, one shape: the queue's hot path stays monomorphic. */
class Entry {
  /** Upstream reply bytes relayed so far. */
  bytes = 0;
  notes: Record<string, unknown> | undefined;

  constructor(
    readonly expect: Expect | undefined,
    public count: number | 'all',
    /** A reply made here, written in its turn; undefined for an upstream one. */
    readonly local: Buffer | undefined,
    readonly after: (() => void) | undefined,
  ) {}
}

/** Frames that are pub/sub messages, not replies (RESP2): `*3 message`, `*4 pmessage`, `*3 smessage`. */
const PUSH_PREFIXES = ['*3\r\n$7\r\nmessage\r\n', '*4\r\n$8\r\npmessage\r\n', '*3\r\n$8\r\nsmessage\r\n'].map((s) => Buffer.from(s));
const CONFIRMATIONS: Record<string, [SubscriptionKind, boolean]> = {
  subscribe: ['channel', true], unsubscribe: ['channel', false],
  psubscribe: ['pattern', true], punsubscribe: ['pattern', false],
  ssubscribe: ['shard', true], sunsubscribe: ['shard', false],
};

export class ReplyQueue {
  private readonly entries: Entry[] = [];
  private head = 0;
  private readonly subscriptions: Record<SubscriptionKind, Set<string>> = { channel: new Set(), pattern: new Set(), shard: new Set() };
  /** The server's count of this connection's subscriptions after its last confirmation: messages can only come when > 0. */
  private subscribed = 0;
  private monitoring = false;
  private idle: (() => void)[] = [];

  /** What pub/sub messages go through before they are relayed (the grant's guards), once the agent is known. */
  messages: Transform | undefined;

  /**
   * `write` sends bytes to the agent. `desync` is called when the upstream sends what no command asked for: the
   * connection cannot go on.
   */
  constructor(private readonly write: (bytes: Buffer) => void, private readonly desync: (why: string) => void) {}

  /** Commands whose replies are still owed to the agent. */
  get size(): number {
    return this.entries.length - this.head;
  }

  /** Nothing owed and nothing streaming (no subscription, no MONITOR): the connection may end without losing a reply. */
  get quiet(): boolean {
    return this.size === 0 && this.subscribed === 0 && !this.monitoring;
  }

  expect(e: Expect): void {
    this.entries.push(new Entry(e, e.count, undefined, undefined));
  }

  /** A reply the gateway makes itself, written as soon as everything before it has been. */
  local(bytes: Buffer, after?: () => void): void {
    if (this.size === 0) {
      this.write(bytes);
      after?.();
    } else this.entries.push(new Entry(undefined, 0, bytes, after));
  }

  /** Resolves once every reply owed so far has been written. */
  drained(): Promise<void> {
    return this.size === 0 ? Promise.resolve() : new Promise((resolve) => this.idle.push(resolve));
  }

  /** Forgets the upstream connection's state (after RESET replaced it). */
  reset(): void {
    for (const set of Object.values(this.subscriptions)) set.clear();
    this.subscribed = 0;
    this.monitoring = false;
  }

  /** One whole reply from the upstream. */
  receive(frame: Buffer): void {
    if (this.monitoring || (this.subscribed > 0 && PUSH_PREFIXES.some((p) => startsWith(frame, p)))) {
      this.write(this.messages && !this.monitoring ? encodeReply(this.messages(decodeReply(frame), newNotes())) : frame);
      return;
    }
    const entry = this.entries[this.head];
    const e = entry?.expect;
    if (!e) return this.desync('the upstream sent a reply no command asked for');
    const isError = frame[0] === Type.Error;
    // Counted before this confirmation is applied: the server answers once per subscription it held, or once if none.
    if (entry.count === 'all') entry.count = Math.max(1, this.subscriptions[e.subscription!].size);
    if (e.subscription && !isError) this.confirm(frame);
    entry.bytes += frame.length;
    if (!e.swallow) {
      if (e.transform && !isError) {
        const notes = newNotes();
        this.write(encodeReply(e.transform(decodeReply(frame), notes)));
        entry.notes = summariseNotes(notes);
      } else this.write(frame);
    }
    if (e.monitor && !isError) this.monitoring = true;
    // An error ends a multi-reply command (SUBSCRIBE with a wrong argument count answers once).
    if (isError || --(entry.count as number) <= 0) this.complete(entry, e, isError ? frame : undefined);
  }

  private complete(entry: Entry, e: Expect, error: Buffer | undefined): void {
    this.head++;
    if (e.done && (error || (entry.notes && Object.keys(entry.notes).length))) {
      e.done({
        ok: !error,
        bytes: entry.bytes,
        ...(error ? { error: error.toString('utf8', 1, Math.min(error.length - 2, 201)) } : {}),
        ...entry.notes,
      });
    }
    this.flushLocals();
  }

  private flushLocals(): void {
    while (this.head < this.entries.length && this.entries[this.head].local) {
      const local = this.entries[this.head++];
      this.write(local.local!);
      local.after?.();
    }
    if (this.head === this.entries.length) {
      this.entries.length = this.head = 0;
      const waiting = this.idle;
      this.idle = [];
      for (const resolve of waiting) resolve();
    } else if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries.splice(0, this.head);
      this.head = 0;
    }
  }

  /** Tracks subscriptions from the server's confirmations: `[kind, name, count]`. */
  private confirm(frame: Buffer): void {
    const value = decodeReply(frame);
    if (!Array.isArray(value) || value.length !== 3 || !Buffer.isBuffer(value[0])) return;
    const [kind, adds] = CONFIRMATIONS[value[0].toString('latin1')] ?? [];
    if (!kind) return;
    const name = value[1];
    if (Buffer.isBuffer(name)) {
      if (adds) this.subscriptions[kind].add(name.toString('latin1'));
      else this.subscriptions[kind].delete(name.toString('latin1'));
    }
    this.subscribed = Number((value[2] as Line).text) || 0;
  }
}

const startsWith = (frame: Buffer, prefix: Buffer) => frame.length >= prefix.length && prefix.compare(frame, 0, prefix.length) === 0;
