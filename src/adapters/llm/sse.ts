// Server-sent events, incrementally: events split at any byte boundary are reassembled; untouched events go out byte-for-byte.

export interface SseEvent {
  event?: string;
  data: string;
  /** The event's original text, terminator included; dropped once the event is rewritten. */
  raw?: string;
}

const TERMINATOR = /\r\n\r\n|\n\n|\r\r/;

export class SseParser {
  private buf = '';

  /** Feeds decoded text; returns the events it completes. */
  push(text: string): SseEvent[] {
    this.buf += text;
    const out: SseEvent[] = [];
    for (let m = TERMINATOR.exec(this.buf); m; m = TERMINATOR.exec(this.buf)) {
      const end = m.index + m[0].length;
      const block = this.buf.slice(0, end);
      this.buf = this.buf.slice(end);
      const ev = parseBlock(block);
      if (ev) out.push(ev);
    }
    return out;
  }

  /** The stream ended: a last event without its blank line still counts (and is terminated properly on the way out). */
  end(): SseEvent[] {
    const rest = this.buf;
    this.buf = '';
    if (!rest.trim()) return [];
    const ev = parseBlock(rest);
    return ev ? [{ ...ev, raw: undefined }] : [];
  }
}

function parseBlock(block: string): SseEvent {
  let event: string | undefined;
  const data: string[] = [];
  for (const line of block.split(/\r\n|\n|\r/)) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  // Comment-only blocks (keep-alives) come out with empty data and pass through as they came.
  return { ...(event !== undefined ? { event } : {}), data: data.join('\n'), raw: block };
}

export function serialize(ev: SseEvent): string {
  if (ev.raw !== undefined) return ev.raw;
  return `${ev.event !== undefined ? `event: ${ev.event}\n` : ''}${ev.data.split('\n').map((l) => `data: ${l}`).join('\n')}\n\n`;
}

/** A rewritten event (its raw text no longer applies). */
export const rewritten = (ev: SseEvent, data: unknown): SseEvent => ({ ...(ev.event !== undefined ? { event: ev.event } : {}), data: JSON.stringify(data) });
