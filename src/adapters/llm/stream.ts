// Streams an upstream SSE body to the agent event by event through a dialect's handler; never buffers the whole stream.
import type { RelayStep } from '../kit/http/relay.ts';
import type { StreamHandler } from './dialect.ts';
import { SseParser, serialize, type SseEvent } from './sse.ts';

export class SseRewriter implements RelayStep {
  private readonly parser = new SseParser();
  private readonly decoder = new TextDecoder('utf-8');
  private stopped = false;

  constructor(private readonly handler: StreamHandler) {}

  /** Stops forwarding (the stream is being cut): later upstream bytes are dropped. */
  stop() {
    this.stopped = true;
  }

  /**
   * The events an upstream chunk completes, rewritten, as one write: they arrived together, so joining them delays
   * nothing, and the agent's stream stays as live as the provider's at a write per chunk rather than per event.
   */
  push(chunk: Buffer): string {
    return this.stopped ? '' : this.rewrite(this.parser.push(this.decoder.decode(chunk, { stream: true })));
  }

  end(): string {
    if (this.stopped) return '';
    return this.rewrite([...this.parser.push(this.decoder.decode()), ...this.parser.end()]) + this.handler.end().map(serialize).join('');
  }

  private rewrite(events: SseEvent[]): string {
    let out = '';
    for (const ev of events) for (const rewritten of this.handler.event(ev)) out += serialize(rewritten);
    return out;
  }
}
