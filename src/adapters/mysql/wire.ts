// One socket as a sequence of packets during the connection phase: awaited one at a time, sequence ids checked, a deadline on each.
import type { Socket } from 'node:net';
import { ProtocolError } from './codec/bytes.ts';
import { frame, packetCount, PacketReader, type Packet } from './codec/packets.ts';

/** The peer took too long (a client stalled mid-handshake, an upstream that does not answer). */
export class DeadlineError extends Error {
  override readonly name = 'DeadlineError';
}

/** Until authentication is done no peer may send more than this in one packet. */
const HANDSHAKE_MAX_PAYLOAD = 64 * 1024;

export class PacketChannel {
  readonly reader: PacketReader;
  /** The sequence id the next packet received must carry, and the next one sent carries. */
  seq = 0;
  private waiter?: { resolve: (p: Packet) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };
  private failure?: Error;
  private readonly onData = (chunk: Buffer) => {
    try {
      this.reader.push(chunk);
      this.deliver();
    } catch (err) {
      this.fail(err as Error);
    }
  };
  private readonly onEnd = () => this.fail(new ProtocolError(`${this.what} closed the connection`));
  private readonly onError = (err: Error) => this.fail(new ProtocolError(`${this.what} connection failed: ${err.message}`));

  constructor(readonly socket: Socket, private readonly what: string, maxPayload = HANDSHAKE_MAX_PAYLOAD, reader?: PacketReader) {
    this.reader = reader ?? new PacketReader(maxPayload, `${what} packet`);
    socket.on('data', this.onData);
    socket.on('close', this.onEnd);
    socket.on('error', this.onError);
  }

  /** The next packet (its payload copied, so it outlives later reads), or a rejection after `timeoutMs`. */
  receive(timeoutMs: number): Promise<Packet> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.waiter) return Promise.reject(new Error('one receive at a time'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new DeadlineError(`${this.what} sent nothing for ${timeoutMs} ms`)), timeoutMs);
      this.waiter = { resolve, reject, timer };
      try {
        this.deliver();
      } catch (err) {
        this.fail(err as Error);
      }
    });
  }

  send(payload: Buffer): void {
    this.socket.write(frame(payload, this.seq));
    this.seq = (this.seq + packetCount(payload.length)) & 0xff;
  }

  /** Stops listening; the reader keeps any bytes that arrived after the last packet received. */
  detach(): PacketReader {
    this.socket.off('data', this.onData);
    this.socket.off('close', this.onEnd);
    this.socket.off('error', this.onError);
    if (this.waiter) clearTimeout(this.waiter.timer);
    this.waiter = undefined;
    return this.reader;
  }

  private deliver(): void {
    if (!this.waiter) return;
    const packet = this.reader.next();
    if (!packet) return;
    if (packet.seq !== this.seq) throw new ProtocolError(`${this.what} packet out of order (sequence id ${packet.seq}, expected ${this.seq})`);
    this.seq = (packet.lastSeq + 1) & 0xff;
    const { resolve, timer } = this.waiter;
    clearTimeout(timer);
    this.waiter = undefined;
    resolve({ ...packet, payload: Buffer.from(packet.payload), raw: Buffer.from(packet.raw) });
  }

  private fail(err: Error): void {
    this.failure ??= err;
    if (!this.waiter) return;
    const { reject, timer } = this.waiter;
    clearTimeout(timer);
    this.waiter = undefined;
    reject(this.failure);
  }
}
