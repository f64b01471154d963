// Bytes bound for one socket, gathered through a turn of the event loop and written at once: a pipeline's replies, which
// usually sit side by side in the buffer they arrived in, leave as one view in one write instead of one write each.

import type { Socket } from 'node:net';

export class Outbox {
  private parts: Buffer[] = [];
  private scheduled = false;

  /** `full` is told when the socket's buffer is over its high-water mark (stop producing until it drains). */
  constructor(private readonly socket: Socket, private readonly full: () => void) {}

  push(bytes: Buffer): void {
    const last = this.parts.at(-1);
    if (last && last.buffer === bytes.buffer && last.byteOffset + last.length === bytes.byteOffset) {
      this.parts[this.parts.length - 1] = Buffer.from(last.buffer, last.byteOffset, last.length + bytes.length);
    } else {
      this.parts.push(bytes);
    }
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.flush);
    }
  }

  /** Writes what is gathered now (before the socket is ended, so nothing is written after its end). */
  readonly flush = (): void => {
    this.scheduled = false;
    const parts = this.parts;
    if (!parts.length || this.socket.destroyed || this.socket.writableEnded) {
      this.parts = [];
      return;
    }
    this.parts = [];
    let ok: boolean;
    if (parts.length === 1) ok = this.socket.write(parts[0]);
    else {
      this.socket.cork();
      ok = true;
      for (const p of parts) ok = this.socket.write(p);
      this.socket.uncork();
    }
    if (!ok) this.full();
  };
}
