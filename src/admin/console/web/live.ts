// One event stream per console (GET /v1/events): approval changes, audit records and decisions, pushed as they happen.
import type { ApprovalRecord, AuditRecord, Decision } from '../wire.ts';

export interface LiveEvents {
  approval: ApprovalRecord;
  audit: AuditRecord;
  decision: Decision;
  /** The stream (re)connected: views reload what they show, so nothing missed while away stays missing. */
  hello: { name: string; now: number };
}

export type LiveState = 'connecting' | 'live' | 'reconnecting' | 'closed';

type Handler<K extends keyof LiveEvents> = (data: LiveEvents[K]) => void;

export class Live {
  private source?: EventSource;
  private readonly handlers = new Map<string, Set<(data: unknown) => void>>();
  private readonly stateListeners = new Set<(s: LiveState) => void>();
  state: LiveState = 'closed';

  /** `onLost` runs when the browser gives up on the stream (e.g. the session ended: the server answered 401). */
  constructor(private readonly onLost: () => void) {}

  start() {
    this.stop();
    this.setState('connecting');
    const source = new EventSource('/v1/events');
    this.source = source;
    for (const name of ['approval', 'audit', 'decision', 'hello'] as const) {
      source.addEventListener(name, (e) => {
        if (name === 'hello') this.setState('live');
        let data: unknown;
        try { data = JSON.parse((e as MessageEvent<string>).data); } catch { return; }
        for (const fn of this.handlers.get(name) ?? []) fn(data);
      });
    }
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        this.setState('closed');
        this.onLost();
      } else this.setState('reconnecting');
    };
  }

  stop() {
    this.source?.close();
    this.source = undefined;
    this.setState('closed');
  }

  on<K extends keyof LiveEvents>(event: K, fn: Handler<K>): () => void {
    let set = this.handlers.get(event);
    if (!set) this.handlers.set(event, (set = new Set()));
    const f = fn as (data: unknown) => void;
    set.add(f);
    return () => set!.delete(f);
  }

  onState(fn: (s: LiveState) => void): () => void {
    this.stateListeners.add(fn);
    fn(this.state);
    return () => this.stateListeners.delete(fn);
  }

  private setState(s: LiveState) {
    if (s === this.state) return;
    this.state = s;
    for (const fn of this.stateListeners) fn(s);
  }
}
