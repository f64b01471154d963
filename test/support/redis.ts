// Redis test support: keys of this run only (the server on 127.0.0.1:6379 is shared), raw RESP over a socket, and a
// private redis-server for what must not touch the shared one.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

/** A key prefix no other run shares; `cleanup` deletes every key under it. */
export function keyspace(name: string) {
  const prefix = `gh_redis:${name}:${randomUUID().slice(0, 8)}:`;
  return {
    prefix,
    key: (suffix: string) => prefix + suffix,
    async cleanup(direct: Redis) {
      let cursor = '0';
      do {
        const [next, keys] = await direct.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        if (keys.length) await direct.del(...keys);
        cursor = next;
      } while (cursor !== '0');
    },
  };
}

/** A client straight to the shared server (to set up and check what the gateway did); fails loudly if it is down. */
export async function directRedis(port = 6379): Promise<Redis> {
  const r = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  await r.connect();
  return r;
}

/** A raw TCP client: what it sends is bytes, what it reads is Latin-1 text. */
export class RawClient {
  readonly socket: Socket;
  data = '';
  closed = false;
  private readonly waiters: (() => void)[] = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => { this.data += d.toString('latin1'); this.wake(); });
    socket.on('close', () => { this.closed = true; this.wake(); });
    socket.on('error', () => undefined);
  }

  static open(address: string): Promise<RawClient> {
    const i = address.lastIndexOf(':');
    return new Promise((resolve, reject) => {
      const s = connect(Number(address.slice(i + 1)), address.slice(0, i), () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  send(bytes: string | Buffer) {
    this.socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  }

  /** Waits until the text read so far satisfies `done` (or the socket closes, or `ms` pass) and returns it. */
  async until(done: (data: string) => boolean, ms = 3000): Promise<string> {
    const end = Date.now() + ms;
    while (!done(this.data) && !this.closed && Date.now() < end) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, end - Date.now()));
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
    return this.data;
  }

  /** Waits for the connection to close. */
  async closedWithin(ms = 3000): Promise<boolean> {
    await this.until(() => false, ms);
    return this.closed;
  }

  close() {
    this.socket.destroy();
  }

  private wake() {
    for (const w of this.waiters.splice(0)) w();
  }
}

/** RESP for a command, as a client library would send it. */
export const resp = (...args: (string | Buffer)[]) =>
  Buffer.concat([Buffer.from(`*${args.length}\r\n`), ...args.flatMap((a) => { const b = Buffer.from(a); return [Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n')]; })]);

/** A redis-server of its own on a free port, in a temp dir, persisting nothing; `stop` ends it. */
export async function privateRedis(args: string[] = []): Promise<{ port: number; stop(): Promise<void> }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-redis-'));
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...args], { stdio: 'ignore' });
  for (let i = 0; !(await RawClient.open(`127.0.0.1:${port}`).then((c) => { c.close(); return true; }, () => false)); i++) {
    if (i > 100) throw new Error('private redis-server did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    stop: () => new Promise<void>((resolve) => {
      child.once('exit', () => { rmSync(dir, { recursive: true, force: true }); resolve(); });
      child.kill('SIGTERM');
    }),
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.once('error', reject);
  });
}
