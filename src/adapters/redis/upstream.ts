// Connects to the real Redis as a client with the gateway's own credentials (the agent never sees them), and learns its
// command table once at start-up.

import { connect, type Socket } from 'node:net';
import { encodeCommand, Type } from './codec/resp.ts';
import { ReplyReader, decodeReply, type ReplyLimits } from './codec/reply.ts';
import { parseCommandTable, type CommandTable } from './commands/table.ts';

export interface UpstreamTarget {
  host: string;
  port: number;
  user?: string;
  password?: string;
  db: number;
}

/** The upstream refused or failed us. The message names the server, never its credentials. */
export class UpstreamError extends Error {}

export function parseRedisUrl(url: string): UpstreamTarget {
  const u = new URL(url);
  const db = u.pathname.replace(/^\/|\/$/g, '');
  return {
    host: u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: Number(u.port || 6379),
    user: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: db ? Number(db) : 0,
  };
}

export interface UpstreamConnection {
  socket: Socket;
  /** Replies after the handshake; it may already hold bytes the server sent right behind it. */
  reader: ReplyReader;
}

/** The commands that bind a fresh upstream connection to the gateway's identity and database. */
export function handshake(target: UpstreamTarget): Buffer[][] {
  const steps: Buffer[][] = [];
  if (target.password !== undefined) steps.push(['AUTH', ...(target.user ? [target.user] : []), target.password].map((s) => Buffer.from(s)));
  if (target.db !== 0) steps.push([Buffer.from('SELECT'), Buffer.from(String(target.db))]);
  return steps;
}

/** Opens a connection, authenticated and on the configured database. */
export async function connectUpstream(target: UpstreamTarget, limits: ReplyLimits, timeoutMs: number): Promise<UpstreamConnection> {
  const socket = await openSocket(target, timeoutMs);
  const reader = new ReplyReader(limits);
  try {
    const steps = handshake(target);
    if (steps.length) {
      const replies = await exchange(socket, reader, steps.map((s) => encodeCommand(s)), timeoutMs);
      replies.forEach((reply, i) => {
        if (reply[0] === Type.Error) {
          const what = i === 0 && target.password !== undefined ? 'authentication' : `SELECT ${target.db}`;
          throw new UpstreamError(`upstream ${target.host}:${target.port} refused the gateway's ${what}: ${reply.toString('utf8', 1, reply.length - 2)}`);
        }
      });
    }
    return { socket, reader };
  } catch (err) {
    socket.destroy();
    throw err;
  }
}

export interface ServerInfo {
  table: CommandTable;
  /** The upstream's version, which HELLO reports to agents. */
  version: string;
}

/** Learns the command table (`COMMAND`) and the server version (`HELLO`) on a connection of its own. */
export async function learnServer(target: UpstreamTarget, limits: ReplyLimits, timeoutMs: number): Promise<ServerInfo> {
  const { socket, reader } = await connectUpstream(target, limits, timeoutMs);
  try {
    const [hello, command] = await exchange(socket, reader, [encodeCommand(['HELLO']), encodeCommand(['COMMAND'])], timeoutMs);
    for (const [what, reply] of [['HELLO', hello], ['COMMAND', command]] as const) {
      if (reply[0] === Type.Error) throw new UpstreamError(`upstream ${target.host}:${target.port} refused ${what}: ${reply.toString('utf8', 1, reply.length - 2)}`);
    }
    const fields = decodeReply(hello);
    const at = Array.isArray(fields) ? fields.findIndex((f) => Buffer.isBuffer(f) && f.toString() === 'version') : -1;
    const version = at >= 0 && Buffer.isBuffer((fields as Buffer[])[at + 1]) ? (fields as Buffer[])[at + 1].toString() : 'unknown';
    return { table: parseCommandTable(decodeReply(command)), version };
  } finally {
    socket.destroy();
  }
}

function openSocket(target: UpstreamTarget, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: target.host, port: target.port, noDelay: true });
    const timer = setTimeout(() => socket.destroy(new Error('timed out')), timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(new UpstreamError(`upstream ${target.host}:${target.port} is unreachable (${err.message})`));
    });
  });
}

/** Writes the requests and reads exactly one reply for each. */
function exchange(socket: Socket, reader: ReplyReader, requests: Buffer[], timeoutMs: number): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const replies: Buffer[] = [];
    const done = (err?: Error) => {
      clearTimeout(timer);
      // Paused, not just unlistened: whoever takes the socket over must not lose a byte before it listens.
      socket.pause();
      socket.off('data', onData).off('error', done).off('close', onClose);
      if (err) reject(err instanceof UpstreamError ? err : new UpstreamError(`upstream: ${err.message}`));
      else resolve(replies);
    };
    const onClose = () => done(new UpstreamError('upstream closed the connection during the handshake'));
    const onData = (chunk: Buffer) => {
      try {
        reader.push(chunk);
        for (let r = reader.next(); r; r = replies.length < requests.length ? reader.next() : undefined) replies.push(r);
        if (replies.length === requests.length) done();
      } catch (err) {
        done(err as Error);
      }
    };
    const timer = setTimeout(() => done(new UpstreamError('upstream did not answer the handshake in time')), timeoutMs);
    socket.on('data', onData).on('error', done).on('close', onClose);
    socket.resume();
    socket.write(Buffer.concat(requests));
  });
}
