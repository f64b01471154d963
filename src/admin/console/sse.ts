// Server-sent event streams: open one per console, broadcast to the ones allowed to see an event, heartbeat, clean up.
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface StreamInfo {
  /** Console session handle, when opened with a cookie (its streams close when the session ends). */
  session?: string;
  /** What this caller may see: audit records and decisions need the admin role; approvals need admin or approver. */
  admin: boolean;
}

export interface HubOptions {
  /** A comment line this often keeps proxies from closing an idle stream and finds dead peers. */
  heartbeatMs?: number;
  /** A console this far behind (bytes not yet taken by the socket) is dropped; its EventSource reconnects and reloads. */
  maxBufferedBytes?: number;
  /**
   * Asked at every heartbeat whether a console session is still signed in (in the store: a sign-out on another node
   * ends this node's streams by the next heartbeat). An error keeps the stream: the store may be back by the next one.
   */
  sessionAlive?: (handle: string) => Promise<boolean>;
}

interface Stream extends StreamInfo {
  res: ServerResponse;
  close(): void;
}

export class EventHub {
  private readonly streams = new Set<Stream>();
  private readonly heartbeatMs: number;
  private readonly maxBuffered: number;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly opts: HubOptions = {}) {
    this.heartbeatMs = opts.heartbeatMs ?? 15_000;
    this.maxBuffered = opts.maxBufferedBytes ?? 4 << 20;
    // One timer for every stream: heartbeats cost nothing per connection.
    this.timer = setInterval(() => this.heartbeat(), this.heartbeatMs);
    this.timer.unref();
  }

  /** Turns a response into an event stream; it ends when the client goes away, the session ends, or the hub closes. */
  open(req: IncomingMessage, res: ServerResponse, info: StreamInfo, hello: Record<string, unknown> = {}) {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      // Tells nginx-style proxies not to buffer the stream.
      'x-accel-buffering': 'no',
    });
    req.socket.setNoDelay(true);
    req.socket.setKeepAlive(true);
    const stream: Stream = {
      ...info,
      res,
      close: () => {
        if (!this.streams.delete(stream)) return;
        res.end();
      },
    };
    this.streams.add(stream);
    res.on('close', () => this.streams.delete(stream));
    res.write(`retry: 2000\n${frame('hello', { ...hello, heartbeatMs: this.heartbeatMs })}`);
  }

  /** Sends an event to every stream `who` admits. */
  send(event: string, data: unknown, who: (s: StreamInfo) => boolean = () => true) {
    if (!this.streams.size) return;
    const text = frame(event, data);
    for (const s of this.streams) if (who(s)) this.write(s, text);
  }

  /** Ends the streams of a console session that signed out or expired. */
  closeSession(handle: string) {
    for (const s of [...this.streams]) if (s.session === handle) s.close();
  }

  get size() {
    return this.streams.size;
  }

  stop() {
    clearInterval(this.timer);
    for (const s of [...this.streams]) s.close();
  }

  private heartbeat() {
    const line = `: ${Date.now()}\n\n`;
    const alive = this.opts.sessionAlive;
    for (const s of [...this.streams]) {
      this.write(s, line);
      if (s.session && alive) alive(s.session).then((yes) => { if (!yes) s.close(); }, () => undefined);
    }
  }

  private write(s: Stream, text: string) {
    if (s.res.writableLength > this.maxBuffered) return s.close();
    s.res.write(text);
  }
}

/** One SSE message; JSON never contains a raw newline, so one `data:` line suffices. */
const frame = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
