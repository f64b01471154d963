// Streams an upstream SSE body to the agent event by event through a dialect's handler; never buffers the whole stream.
import { Transform, type TransformCallback } from 'node:stream';
import type { StreamHandler } from './call.ts';
import { SseParser, serialize, type SseEvent } from './sse.ts';

export class SseRewriter extends Transform {
  private readonly parser = new SseParser();
  private readonly decoder = new TextDecoder('utf-8');
  private stopped = false;

  constructor(private readonly handler: StreamHandler) {
    super();
  }

  /** Stops forwarding (the stream is being cut): later upstream bytes are dropped. */
  stop() {
    this.stopped = true;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
    if (!this.stopped) this.emit_(this.parser.push(this.decoder.decode(chunk, { stream: true })));
    done();
  }

  override _flush(done: TransformCallback) {
    if (!this.stopped) {
      this.emit_([...this.parser.push(this.decoder.decode()), ...this.parser.end()]);
      this.send(this.handler.end());
    }
    done();
  }

  private emit_(events: SseEvent[]) {
    for (const ev of events) this.send(this.handler.event(ev));
  }

  private send(events: SseEvent[]) {
    // One write per upstream event keeps the agent's stream as live as the provider's.
    for (const ev of events) this.push(serialize(ev));
  }
}
