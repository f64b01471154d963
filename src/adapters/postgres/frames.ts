// Awaitable frames from a socket, for the handshakes; the query phase reads the same reader from 'data' events.
//
// A peer may send more than the handshake asks for; beyond `maxBuffered` unread bytes the socket stops being read until
// frames are taken, so a handshake never holds more than that.
import type { Socket } from 'node:net';
import { ProtocolError } from './codec/cursor.ts';
import type { Frame, FrameReader } from './codec/reader.ts';

export class SocketFrames {
  private waiter?: { resolve: (f: Frame) => void; reject: (e: Error) => void };
  private failure?: Error;
  private readonly onData = (chunk: Buffer) => {
    this.reader.push(chunk);
    if (this.reader.buffered > this.maxBuffered) this.socket.pause();
    this.wake();
  };
  private readonly onEnd = () => this.fail(new ProtocolError('connection closed during the handshake'));
  private readonly onError = (err: Error) => this.fail(err);

  constructor(readonly socket: Socket, readonly reader: FrameReader, private readonly maxBuffered = Infinity, private readonly timeoutMs = 15_000) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onError);
  }

  /** The next frame. Its buffers are only valid until the next call: copy what you keep. */
  next(): Promise<Frame> {
    if (this.failure) return Promise.reject(this.failure);
    let frame: Frame | undefined;
    try {
      frame = this.reader.next();
    } catch (err) {
      return Promise.reject(err as Error);
    }
    if (this.socket.isPaused() && this.reader.buffered <= this.maxBuffered) this.socket.resume();
    if (frame) return Promise.resolve(frame);
    return new Promise<Frame>((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new ProtocolError('handshake timed out')), this.timeoutMs);
      this.waiter = {
        resolve: (f) => { clearTimeout(timer); resolve(f); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
    });
  }

  /** Stops listening; the reader keeps any bytes that arrived beyond the handshake. The new owner resumes the socket. */
  detach() {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    this.socket.off('error', this.onError);
  }

  private wake() {
    const waiter = this.waiter;
    if (!waiter) return;
    let frame: Frame | undefined;
    try {
      frame = this.reader.next();
    } catch (err) {
      this.waiter = undefined;
      waiter.reject(err as Error);
      return;
    }
    if (frame) {
      this.waiter = undefined;
      waiter.resolve(frame);
    }
  }

  private fail(err: Error) {
    this.failure ??= err;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(err);
  }
}
