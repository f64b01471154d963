// Backpressure between a session's two sockets: a peer that stops reading stops the gateway reading from the other.
//
// Each frame is relayed as it is read, so what a session holds is bounded by one socket chunk plus the write buffers —
// whatever the size of a result — as long as reading stops while the other side cannot take more.
import type { Socket } from 'node:net';

/** Pauses a socket's reading while any reason to hold it stands. */
export class Valve {
  private readonly reasons = new Set<string>();

  constructor(private readonly socket: Socket) {}

  close(reason: string) {
    if (this.reasons.has(reason)) return;
    if (!this.reasons.size) this.socket.pause();
    this.reasons.add(reason);
  }

  open(reason: string) {
    if (this.reasons.delete(reason) && !this.reasons.size) this.socket.resume();
  }

  /** Writes `data` to `to`; if `to` cannot take more for now, this socket stops being read until `to` drains. */
  relay(to: Socket, data: Buffer) {
    if (to.write(data) || this.reasons.has('drain')) return;
    this.close('drain');
    to.once('drain', () => this.open('drain'));
  }
}
