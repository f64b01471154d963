// Raw PostgreSQL wire frames on an authenticated connection: a real client (pg) logs in, then the test speaks bytes.
import { connect, type Socket } from 'node:net';
import pg from 'pg';
import { parseErrorResponse, type Notice } from '../../src/adapters/postgres/codec/backend.ts';
import { Backend } from '../../src/adapters/postgres/codec/messages.ts';
import { FrameReader } from '../../src/adapters/postgres/codec/reader.ts';
import type { PgGateway } from './pg.ts';

export interface WireFrame { type: number; body: Buffer }

/** An authenticated socket the test writes frames to, with everything the gateway answered so far. */
export interface RawSession {
  socket: Socket;
  /** Frames received so far (copies). */
  frames: WireFrame[];
  /** Resolves with all frames once the gateway closed the connection. */
  closed: Promise<WireFrame[]>;
  /** Resolves once `count` ReadyForQuery frames have arrived in all (or the connection closed). */
  ready(count: number): Promise<WireFrame[]>;
  errors(): Notice[];
}

/** Logs in with pg, then takes the socket over: pg stops reading it, the test reads frames itself. */
export async function rawSession(gw: PgGateway, t: { token: string; label: string }): Promise<RawSession> {
  const client = new pg.Client({ host: gw.host, port: gw.port, user: t.label, password: t.token, database: gw.database, ssl: false });
  client.on('error', () => undefined);
  await client.connect();
  const socket = (client as unknown as { connection: { stream: Socket } }).connection.stream;
  socket.removeAllListeners('data');
  return watchSocket(socket);
}

/** A plain TCP connection to the gateway, before any handshake. */
export function rawSocket(gw: PgGateway): Promise<RawSession> {
  return new Promise((resolve, reject) => {
    const socket = connect(gw.port, gw.host, () => resolve(watchSocket(socket, true)));
    socket.once('error', reject);
  });
}

/** Reads frames off a socket the test owns (after taking it over from a client, or fresh with `startup`). */
export function watchSocket(socket: Socket, startup = false): RawSession {
  const frames: WireFrame[] = [];
  const reader = new FrameReader({ source: 'backend' });
  let waiters: (() => void)[] = [];
  let done = false;
  const wake = () => { const w = waiters; waiters = []; for (const f of w) f(); };
  socket.on('data', (chunk: Buffer) => {
    // Before a startup message is answered the server may send a bare byte (the SSLRequest answer).
    if (startup && chunk.length === 1 && (chunk[0] === 0x53 || chunk[0] === 0x4e)) {
      frames.push({ type: chunk[0], body: Buffer.alloc(0) });
      return wake();
    }
    try {
      reader.push(chunk);
      for (let f = reader.next(); f; f = reader.next()) frames.push({ type: f.type, body: Buffer.from(f.body) });
    } catch {
      socket.destroy();
    }
    wake();
  });
  socket.on('error', () => undefined);
  const closed = new Promise<WireFrame[]>((resolve) => socket.once('close', () => { done = true; wake(); resolve(frames); }));
  return {
    socket,
    frames,
    closed,
    ready: (count) => new Promise((resolve) => {
      const check = () => {
        if (done || frames.filter((f) => f.type === Backend.ReadyForQuery).length >= count) resolve(frames);
        else waiters.push(check);
      };
      check();
    }),
    errors: () => frames.filter((f) => f.type === Backend.ErrorResponse).map((f) => parseErrorResponse(f.body)),
  };
}

/** A typed frame: type byte, length, body. */
export function frame(type: string | number, ...parts: (string | number[] | Buffer)[]): Buffer {
  const body = Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(`${p}\0`) : Buffer.from(p))));
  const head = Buffer.alloc(5);
  head[0] = typeof type === 'string' ? type.charCodeAt(0) : type;
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

export const int16 = (n: number) => { const b = Buffer.alloc(2); b.writeInt16BE(n); return b; };
export const int32 = (n: number) => { const b = Buffer.alloc(4); b.writeInt32BE(n); return b; };
