// One agent connection: AUTH, HELLO, QUIT and RESET answered here; every other command judged through the gate in the
// order it came and forwarded on an upstream connection of this client's own; replies relayed in order, a refusal in the
// place of the command it refuses.

import type { Socket } from 'node:net';
import type { RedisGrant } from '../../config/schema.ts';
import type { AdapterServices } from '../../pipeline/adapter.ts';
import { correlationFromClientName } from '../../pipeline/correlation.ts';
import { AUDIT_UNAVAILABLE, type Forward, type GateSession, type Outcome, type Refuse } from '../../pipeline/gate.ts';
import type { TokenRecord } from '../../services/store/store.ts';
import { OK, ProtocolError, asciiLower, encodeCommand, errorReply, parseInteger, printable, simpleReply } from './codec/resp.ts';
import { RequestReader, UNAUTHENTICATED, type Command, type RequestLimits } from './codec/request.ts';
import { ReplyReader, type ReplyLimits } from './codec/reply.ts';
import { isSubscription } from './commands/channels.ts';
import type { CommandTable } from './commands/table.ts';
import { analyse, type AnalysisContext, type RedisFacts } from './facts.ts';
import type { CompiledGrant } from './grant.ts';
import { helloReply, parseAuth, parseHello, type Handshake } from './hello.ts';
import { decideRedis, RULE } from './policy.ts';
import { Outbox } from './outbox.ts';
import { ReplyQueue, type SubscriptionKind } from './replies.ts';
import { chain, execTransform, guardTransform, keysFilter, scanFilter, type Transform } from './transforms.ts';
import { UpstreamError, connectUpstream, type UpstreamTarget } from './upstream.ts';

export interface SessionOptions {
  connection: string;
  services: AdapterServices;
  table: CommandTable;
  target: UpstreamTarget;
  serverVersion: string;
  requestLimits: RequestLimits;
  replyLimits: ReplyLimits;
  maxPipeline: number;
  connectTimeoutMs: number;
  /** The grant compiled at start-up for this config object. */
  compiled(grant: RedisGrant): CompiledGrant;
}

/** A client that has not authenticated after this long is disconnected. */
const AUTH_TIMEOUT_MS = 10_000;
/** Commands judged in one turn (their audit records share one commit). */
const MAX_BATCH = 512;
/** Unread bytes held while the connection is busy before its socket is paused (a command still arriving is never paused). */
const PAUSE_AT = { unauthenticated: 64 * 1024, authenticated: 1024 * 1024 };

const EXECABORT = errorReply('EXECABORT Transaction discarded because of previous errors.');
const NOAUTH = errorReply('NOAUTH Authentication required.');
const SUBSCRIPTIONS: Record<string, [SubscriptionKind, boolean]> = {
  subscribe: ['channel', true], psubscribe: ['pattern', true], ssubscribe: ['shard', true],
  unsubscribe: ['channel', false], punsubscribe: ['pattern', false], sunsubscribe: ['shard', false],
};

/** A command judged by the gate, waiting for its outcome. */
interface Judged {
  cmd: Command;
  facts: RedisFacts;
  outcome: Promise<Outcome>;
  /** Inside MULTI when it was sent: its reply is QUEUED, the real one comes in EXEC's. */
  inMulti: boolean;
}
type Step = Judged | { local: () => void | Promise<void> };

let connectionIds = 0;

export class RedisSession {
  private readonly reader = new RequestReader(UNAUTHENTICATED);
  private readonly queue: ReplyQueue;
  private readonly address: string;
  private readonly id = ++connectionIds;
  private upstream?: { socket: Socket; reader: ReplyReader; out: Outbox };
  private readonly out: Outbox;
  private admitted?: { token: TokenRecord; grant: CompiledGrant; policy: (f: RedisFacts) => ReturnType<typeof decideRedis>; guards?: Transform; scan: Transform; keys: Transform };
  private gate?: GateSession;
  private clientName?: string;
  private readonly analysis: AnalysisContext;
  private pumping = false;
  private closed = false;
  private upstreamFull = false;
  private clientPaused = false;
  /** The reader failed: what is left of the stream cannot be trusted. */
  private broken = false;
  // Transaction state. `inMulti` is as the commands are judged; the rest as their outcomes are applied, in order.
  private inMulti = false;
  private multiDirty = false;
  private queuedTransforms: (Transform | undefined)[] = [];
  private monitoring = false;
  /** A SELECT of another database went upstream: SELECT of ours is no longer a no-op to answer here. */
  private dbMoved = false;
  private readonly authTimer: NodeJS.Timeout;
  private draining = false;

  constructor(private readonly client: Socket, private readonly opts: SessionOptions) {
    this.address = client.remoteAddress ?? 'unknown';
    this.analysis = { connection: opts.connection, table: opts.table, db: opts.target.db };
    // Replies wait for the end of the turn to leave together; a slow agent pauses the upstream until it drains.
    this.out = new Outbox(client, () => this.upstream?.socket.pause());
    this.queue = new ReplyQueue((bytes) => this.out.push(bytes), (why) => this.abort(why));
    client.on('data', (chunk: Buffer) => this.guard(() => this.onData(chunk)));
    client.on('drain', () => this.upstream?.socket.resume());
    client.on('close', () => this.close('client disconnected'));
    client.on('error', () => this.close('client connection error'));
    this.authTimer = setTimeout(() => this.end(errorReply('ERR Gatehouse: authentication timed out')), AUTH_TIMEOUT_MS);
  }

  /** Graceful shutdown: what is in flight (a transaction, a pipeline) may finish; then the connection ends. */
  drain(): void {
    this.draining = true;
    this.endIfIdle();
  }

  private endIfIdle(): void {
    if (this.draining && !this.pumping && !this.inMulti && this.queue.quiet && this.reader.buffered === 0) {
      this.end(errorReply('ERR Gatehouse: the gateway is shutting down'));
    }
  }

  // ---- request side ------------------------------------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    this.reader.push(chunk);
    if (this.pumping) this.flowControl();
    else this.kick();
  }

  private kick(): void {
    if (this.pumping || this.closed) return;
    this.pumping = true;
    this.pump().catch((err: Error) => this.crash(err));
  }

  /** Takes whole commands in batches and runs each batch to its end before the next: replies stay in command order. */
  private async pump(): Promise<void> {
    try {
      while (!this.closed && !this.upstreamFull && this.queue.size < this.opts.maxPipeline) {
        const batch = this.take();
        if (!batch.length) break;
        await this.run(batch);
      }
    } finally {
      this.pumping = false;
      this.flowControl();
      this.endIfIdle();
    }
  }

  /** Pauses reading while this connection cannot take more (busy, pipeline full, upstream slow), resumes after. */
  private flowControl(): void {
    if (this.closed) return;
    const busy = this.pumping || this.upstreamFull || this.queue.size >= this.opts.maxPipeline;
    const pause = busy && this.reader.buffered > (this.admitted ? PAUSE_AT.authenticated : PAUSE_AT.unauthenticated);
    if (pause === this.clientPaused) return;
    this.clientPaused = pause;
    if (pause) this.client.pause();
    else this.client.resume();
  }

  /** Whole commands up to one that must run alone (AUTH, HELLO, QUIT, RESET), a protocol error, or the pipeline's limit. */
  private take(): (Command | ProtocolError)[] {
    const out: (Command | ProtocolError)[] = [];
    const max = Math.min(MAX_BATCH, this.opts.maxPipeline - this.queue.size);
    while (!this.broken && out.length < max) {
      let cmd: Command | undefined;
      try {
        cmd = this.reader.next();
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
        this.broken = true;
        out.push(err); // answered in its place, after the commands before it
        break;
      }
      if (!cmd) break;
      out.push(cmd);
      if (BARRIERS.has(answeredHere(cmd.args[0]))) break;
    }
    this.flowControl();
    return out;
  }

  private async run(batch: (Command | ProtocolError)[]): Promise<void> {
    if (this.admitted && !this.gate && !(batch[0] instanceof ProtocolError) && !(await this.openSession(batch[0]))) return;
    // All of a batch is judged in this one turn, so the gate commits their audit records together; their outcomes are
    // then applied in one synchronous stretch, so what they forward leaves in one write.
    const steps = batch.map((cmd) => this.plan(cmd));
    const outcomes = await Promise.all(steps.map((step) => ('local' in step ? undefined : step.outcome)));
    for (let i = 0; i < steps.length; i++) {
      if (this.closed) return;
      const step = steps[i];
      if ('local' in step) await step.local();
      else {
        let outcome = outcomes[i]!;
        // A held command holds the ones after it; those before it have gone on.
        if (outcome.kind === 'held') outcome = await outcome.settled;
        if (this.closed) return;
        this.act(step, outcome);
      }
    }
  }

  private plan(cmd: Command | ProtocolError): Step {
    if (cmd instanceof ProtocolError) return { local: () => this.queue.local(errorReply(`ERR ${cmd.message}`), () => this.end()) };
    const args = cmd.args;
    const name = answeredHere(args[0]);
    if (name === 'auth' || name === 'hello') return { local: () => this.handshake(name === 'auth' ? parseAuth(args) : parseHello(args), name === 'hello') };
    if (name === 'quit') return { local: () => this.queue.local(OK, () => this.end()) };
    if (!this.admitted) return { local: () => this.queue.local(NOAUTH) };
    if (name === 'reset') return { local: () => this.reset() };
    if (this.monitoring) return { local: () => this.queue.local(errorReply('ERR Gatehouse: only QUIT and RESET are accepted after MONITOR')) };
    if (name === 'select' && !this.dbMoved && args.length === 2 && parseInteger(args[1]) === this.opts.target.db) return { local: () => this.queue.local(OK) };

    const facts = analyse(args, this.analysis);
    const command = facts.command?.name;
    const inMulti = this.inMulti;
    if (inMulti && command && (isSubscription(command) || command === 'monitor')) {
      facts.unknown = `'${command}' inside MULTI is not supported by the gateway (its replies could not be matched)`;
    }
    if (command === 'multi') this.inMulti = true;
    else if (command === 'exec' || command === 'discard') this.inMulti = false;
    const { grant, policy } = this.admitted;
    const outcome = this.gate!.pass({
      facts,
      policy,
      // An approval binds the exact arguments; computed only when the grant can hold anything.
      exact: grant.approves ? exactOf(args) : undefined,
      detail: grant.values ? { args: args.map((a) => printable(a)) } : undefined,
    });
    return { cmd, facts, outcome, inMulti };
  }

  /** Applies one outcome, in command order. */
  private act(step: Judged, outcome: Forward | Refuse): void {
    const command = step.facts.command?.name;
    if (outcome.kind === 'refuse') {
      if (command === 'multi') return this.end(errorReply(render(outcome))); // the commands after it would not be queued
      if (command === 'exec' || command === 'discard') this.discardTransaction();
      else if (step.inMulti) this.multiDirty = true; // as Redis does when a command is rejected while queueing
      this.queue.local(errorReply(render(outcome)));
      return;
    }
    if (command === 'exec' && this.multiDirty) {
      this.discardTransaction();
      this.queue.local(EXECABORT);
      outcome.done({ ok: false, aborted: 'a command in the transaction was refused' });
      return;
    }
    let transform = this.transformFor(command);
    if (step.inMulti && command !== 'exec' && command !== 'discard' && command !== 'multi') {
      this.queuedTransforms.push(transform);
      transform = undefined; // its reply now is QUEUED; the real one is inside EXEC's
    } else if (command === 'exec' || command === 'discard' || command === 'multi') {
      if (command === 'exec') transform = execTransform(this.queuedTransforms);
      this.queuedTransforms = [];
      this.multiDirty = false;
    }
    const args = step.cmd.args;
    const subscription = command ? SUBSCRIPTIONS[command] : undefined;
    this.send(step.cmd.raw ?? encodeCommand(args));
    this.queue.expect({
      count: subscription ? (args.length > 1 ? args.length - 1 : subscription[1] ? 1 : 'all') : 1,
      subscription: subscription?.[0],
      transform,
      monitor: command === 'monitor',
      done: outcome.done,
    });
    if (command === 'monitor') this.monitoring = true;
    if (step.facts.variant && command === 'select') this.dbMoved = true;
  }

  private transformFor(command: string | undefined): Transform | undefined {
    const a = this.admitted!;
    return chain(command === 'scan' ? a.scan : command === 'keys' ? a.keys : undefined, a.guards);
  }

  /** Leaves the transaction upstream (the agent's EXEC or DISCARD was refused, or EXEC must abort). */
  private discardTransaction(): void {
    this.send(encodeCommand(['DISCARD']));
    this.queue.expect({ count: 1, swallow: true });
    this.queuedTransforms = [];
    this.multiDirty = false;
  }

  /** Judged commands leave at the end of the turn, a pipeline's usually as one write. */
  private send(bytes: Buffer): void {
    this.upstream?.out.push(bytes);
  }

  // ---- the commands answered here ----------------------------------------------------------------------------------

  /** AUTH or HELLO: the token checked through the gate; HELLO also answers with the server's description. */
  private async handshake(parsed: Handshake, hello: boolean): Promise<void> {
    if (!parsed.ok) return this.queue.local(errorReply(parsed.error));
    if (parsed.credentials) {
      const error = await this.authenticate(parsed.credentials);
      if (error) return this.queue.local(errorReply(error));
    } else if (!this.admitted) {
      return this.queue.local(errorReply(hello
        ? 'NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time'
        : "ERR wrong number of arguments for 'auth' command"));
    }
    if (parsed.name) {
      this.clientName = parsed.name.toString('utf8');
      this.send(encodeCommand(['CLIENT', 'SETNAME', parsed.name]));
      this.queue.expect({ count: 1, swallow: true });
    }
    this.queue.local(hello ? helloReply(this.opts.serverVersion, this.id) : OK);
  }

  /** Checks a token; on success the connection gets its grant and its upstream. Returns an error reply's text otherwise. */
  private async authenticate(presented: { user?: string; secret: string }): Promise<string | undefined> {
    const { services, connection } = this.opts;
    const admission = await services.gate.admit<RedisGrant>(connection, { secret: presented.secret, user: presented.user, address: this.address });
    // WRONGPASS would tell the client its credentials are wrong; an outage of the gateway's store is not.
    if (!admission.ok) return `${admission.reason === 'store-unreachable' ? 'ERR' : 'WRONGPASS'} Gatehouse: ${admission.message}`;
    if (this.admitted) {
      return admission.token.id === this.admitted.token.id ? undefined : 'ERR Gatehouse: this connection is already authenticated with another token; open a new connection to use it';
    }
    try {
      await this.connect();
    } catch (err) {
      if (!(err instanceof UpstreamError)) throw err;
      services.log.warn({ err, connection }, 'redis upstream unavailable');
      return 'ERR Gatehouse: the upstream Redis is unavailable';
    }
    const grant = this.opts.compiled(admission.grant);
    const guards = guardTransform(services.guards, grant.guards);
    this.admitted = {
      token: admission.token, grant, guards,
      policy: (facts) => decideRedis(facts, grant),
      scan: scanFilter(grant.read),
      keys: keysFilter(grant.read),
    };
    this.queue.messages = guards; // pub/sub messages go through the same guards as replies
    this.reader.limits = this.opts.requestLimits;
    clearTimeout(this.authTimer);
    return undefined;
  }

  /** The gate's session opens with the first command, so a first `CLIENT SETNAME ...;run=...;step=...` can tag it. */
  private async openSession(first: Command): Promise<boolean> {
    let name = this.clientName;
    const a = first.args;
    if (name === undefined && a.length === 3 && asciiLower(a[0]) === 'client' && asciiLower(a[1]) === 'setname') name = a[2].toString('utf8');
    const { runId, step } = correlationFromClientName(name);
    try {
      this.gate = await this.opts.services.gate.open(
        { token: this.admitted!.token, connection: this.opts.connection, protocol: 'redis', client: `${this.address}:${this.client.remotePort}`, runId, step },
        (reason) => this.cut(reason),
      );
      return true;
    } catch (err) {
      this.end(errorReply(`ERR Gatehouse: ${(err as Error).message}`));
      return false;
    }
  }

  /** RESET: once every reply owed is out, a fresh upstream connection replaces this one (transaction, subscriptions, MONITOR, database all reset). */
  private async reset(): Promise<void> {
    await this.queue.drained();
    this.upstream?.socket.destroy();
    this.upstream = undefined;
    this.queue.reset();
    this.inMulti = this.multiDirty = this.monitoring = this.dbMoved = false;
    this.queuedTransforms = [];
    this.upstreamFull = false;
    try {
      await this.connect();
    } catch (err) {
      if (!(err instanceof UpstreamError)) throw err;
      return this.end(errorReply('ERR Gatehouse: the upstream Redis is unavailable'));
    }
    this.queue.local(RESET);
  }

  // ---- upstream side -------------------------------------------------------------------------------------------------

  private async connect(): Promise<void> {
    const { socket, reader } = await connectUpstream(this.opts.target, this.opts.replyLimits, this.opts.connectTimeoutMs);
    if (this.closed) {
      socket.destroy();
      return;
    }
    const upstream = { socket, reader, out: new Outbox(socket, () => { this.upstreamFull = true; }) };
    this.upstream = upstream;
    socket.on('data', (chunk: Buffer) => this.guard(() => this.onUpstream(upstream, chunk)));
    socket.on('drain', () => {
      this.upstreamFull = false;
      this.kick();
    });
    socket.on('close', () => { if (this.upstream === upstream) this.abort('the upstream connection closed'); });
    socket.on('error', () => { if (this.upstream === upstream) this.abort('the upstream connection failed'); });
    socket.resume();
  }

  private onUpstream(upstream: { socket: Socket; reader: ReplyReader }, chunk: Buffer): void {
    if (this.upstream !== upstream) return;
    upstream.reader.push(chunk);
    try {
      for (let frame = upstream.reader.next(); frame; frame = upstream.reader.next()) this.queue.receive(frame);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      this.abort(`the upstream broke RESP (${err.message})`);
    }
    if (!this.pumping && this.reader.buffered) this.kick();
    this.endIfIdle();
  }

  // ---- ends ---------------------------------------------------------------------------------------------------------

  /** Revocation or shutdown: the agent is told why and both connections end now, even mid-BLPOP. */
  private cut(reason: string): void {
    if (this.closed) return;
    this.out.flush();
    this.client.end(errorReply(`ERR Gatehouse: session ended: ${reason}`));
    this.close(reason);
  }

  /** Ends the connection after `last` (and everything already written) reaches the agent. */
  private end(last?: Buffer): void {
    if (this.closed) return;
    this.out.flush();
    if (last) this.client.end(last);
    else this.client.end();
    this.close('closed by the gateway');
  }

  /** The upstream failed or desynchronised: the agent cannot be answered in order any more. */
  private abort(why: string): void {
    if (this.closed) return;
    this.opts.services.log.warn({ connection: this.opts.connection, sessionId: this.gate?.ctx.sessionId, reason: why }, 'redis connection aborted');
    this.end(errorReply(`ERR Gatehouse: ${why}`));
  }

  private crash(err: Error): void {
    this.opts.services.log.error({ err, connection: this.opts.connection, sessionId: this.gate?.ctx.sessionId }, 'redis session failed');
    if (!this.closed) this.end(errorReply('ERR Gatehouse internal error'));
  }

  /** The error boundary around every event handler: one connection's failure never reaches the others. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.crash(err as Error);
    }
  }

  private close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.authTimer);
    this.gate?.close(reason);
    this.upstream?.socket.destroy();
    this.upstream = undefined;
    if (!this.client.writableEnded) this.client.destroy();
    else this.client.destroySoon();
  }
}

const BARRIERS = new Set(['auth', 'hello', 'quit', 'reset']);
const ANSWERED_HERE = new Set([...BARRIERS, 'select']);
const ANSWERED_LENGTHS = new Set([...ANSWERED_HERE].map((n) => n.length));

/** The lower-case name of a command the gateway may answer itself, or '' (most commands, without folding their case). */
const answeredHere = (name: Buffer) => (ANSWERED_LENGTHS.has(name.length) ? asciiLower(name) : '');
const RESET = simpleReply('RESET');

/** What binds an approval to this command: every argument, length-prefixed so no two lines share it. */
const exactOf = (args: readonly Buffer[]) => args.map((a) => `${a.length}:${a.toString('latin1')}`).join(' ');

/** A refusal in RESP: Redis's own error for what Redis would refuse, NOPERM for a missing grant, ERR otherwise. */
function render(o: Refuse): string {
  if (o.rule === RULE.syntax) return o.message;
  if (o.rule === AUDIT_UNAVAILABLE || o.rule === 'unknown' || o.rule === 'policy.error' || o.rule === RULE.keys) return `ERR Gatehouse: ${o.message}`;
  return `NOPERM Gatehouse: ${o.message}`;
}
