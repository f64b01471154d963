// What operators watch: the Prometheus metrics of one gateway process, and each request's id and debug line. Labels are
// bounded by the config (connection names, adapter kinds, rule names): never token ids, summaries or addresses.
import { randomUUID } from 'node:crypto';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { clusterMetrics } from './cluster.ts';
import type { Logger } from './logger.ts';

/** How a request left the gate: forwarded, refused (with its rule), or held for a human. */
export type RequestVerdict = 'forward' | 'refuse' | 'held';

/** One request being judged: its id (in its audit record and its log line), and how it ended. */
export interface SeenRequest {
  readonly id: string;
  /** Counts the outcome, times it from when the request was seen, and writes the request's debug line. */
  end(verdict: RequestVerdict, rule?: string): void;
}

/** Where the gauges read the gateway's state, at each scrape. */
export interface GatewayState {
  auditQueue(): number;
  heldApprovals(): number;
  liveSessions(): Iterable<{ connection: string; protocol: string }>;
  revocationLagSeconds(): number;
}

/** Rule names are identifiers from code; anything else (a future adapter's free text) is not a label value. */
const RULE = /^[a-z][a-z0-9_.-]{0,63}$/;
/** The gateway's own latency is tens of microseconds to milliseconds; a slow audit commit shows in the upper buckets. */
const SECONDS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

/** CPU, memory, event-loop delay and GC belong to the process, whatever number of gateways it runs (tests run many). */
let processRegistry: Registry | undefined;

export class Metrics {
  private readonly registry = new Registry();
  private readonly requests: Counter<'connection' | 'kind' | 'verdict' | 'rule'>;
  private readonly decisions: Histogram<'connection' | 'kind'>;
  private readonly commits: Histogram;
  private readonly committed: Counter;
  private readonly storeErrors: Counter<'operation'>;
  /** Label children by key: a request costs a map lookup, not prom-client's label hashing. */
  private readonly counted = new Map<string, Counter.Internal>();
  private readonly timed = new Map<string, Histogram.Internal<'connection' | 'kind'>>();
  private state?: GatewayState;
  private readonly read: () => Promise<string>;

  constructor(private readonly log: Logger) {
    if (!processRegistry) collectDefaultMetrics({ register: (processRegistry = new Registry()) });
    const registers = [this.registry];
    this.requests = new Counter({ name: 'gatehouse_requests_total', help: 'Requests judged, by connection, adapter kind, verdict (forward, refuse, held) and refusal rule', labelNames: ['connection', 'kind', 'verdict', 'rule'], registers });
    this.decisions = new Histogram({ name: 'gatehouse_decision_seconds', help: 'Time from a request being judged to its outcome (policy, approval lookup, audit commit), by connection and adapter kind', labelNames: ['connection', 'kind'], buckets: SECONDS, registers });
    this.commits = new Histogram({ name: 'gatehouse_audit_commit_seconds', help: 'Duration of each audit group commit', buckets: SECONDS, registers });
    this.committed = new Counter({ name: 'gatehouse_audit_records_total', help: 'Audit records committed', registers });
    this.storeErrors = new Counter({ name: 'gatehouse_store_errors_total', help: 'Store operations that failed, by operation (audit commit, revocation poll, readiness check)', labelNames: ['operation'], registers });
    // Gauges are read from the gateway when scraped, so nothing on the request path keeps them up to date.
    const gauge = (name: string, help: string, read: (g: Gauge, state: GatewayState) => void, opts: { labelNames?: string[]; aggregator?: 'sum' | 'max' } = {}) => {
      const g: Gauge = new Gauge({ name, help, registers, labelNames: opts.labelNames ?? [], aggregator: opts.aggregator ?? 'sum', collect: () => { if (this.state) read(g, this.state); } });
    };
    gauge('gatehouse_audit_queue_depth', 'Audit records chained but not yet committed', (g, s) => g.set(s.auditQueue()));
    gauge('gatehouse_approvals_held', 'Requests waiting for a human decision', (g, s) => g.set(s.heldApprovals()));
    gauge('gatehouse_revocation_lag_seconds', 'Age of the last revocation check: revocations made by other processes before it are applied', (g, s) => g.set(s.revocationLagSeconds()), { aggregator: 'max' });
    gauge('gatehouse_sessions_live', 'Agent sessions open now, by connection and adapter kind', (g, s) => {
      const live = new Map<string, { connection: string; kind: string; n: number }>();
      for (const { connection, protocol } of s.liveSessions()) {
        const key = `${connection}\n${protocol}`;
        const entry = live.get(key) ?? live.set(key, { connection, kind: protocol, n: 0 }).get(key)!;
        entry.n++;
      }
      g.reset();
      for (const { connection, kind, n } of live.values()) g.set({ connection, kind }, n);
    }, { labelNames: ['connection', 'kind'] });
    const registries = [processRegistry!, this.registry];
    this.read = clusterMetrics(registries) ?? (() => Registry.merge(registries).metrics());
  }

  /** Connects the gauges to the running gateway (once its services exist). */
  observe(state: GatewayState) {
    this.state = state;
  }

  /** A request is being judged now. */
  request(connection: string, kind: string, sessionId: string): SeenRequest {
    const id = 'req_' + randomUUID().replace(/-/g, '').slice(0, 16);
    const started = performance.now();
    return {
      id,
      end: (verdict, rule = '') => {
        const seconds = (performance.now() - started) / 1000;
        const label = RULE.test(rule) ? rule : rule && 'other';
        const key = `${connection}\n${kind}\n${verdict}\n${label}`;
        let counter = this.counted.get(key);
        if (!counter) this.counted.set(key, (counter = this.requests.labels(connection, kind, verdict, label)));
        counter.inc();
        const timeKey = `${connection}\n${kind}`;
        let histogram = this.timed.get(timeKey);
        if (!histogram) this.timed.set(timeKey, (histogram = this.decisions.labels(connection, kind)));
        histogram.observe(seconds);
        if (this.log.isLevelEnabled('debug')) this.log.debug({ requestId: id, sessionId, connection, kind, verdict, ...(rule ? { rule } : {}), ms: Math.round(seconds * 1e6) / 1e3 }, 'request');
      },
    };
  }

  /** An audit group commit landed: how long it took and how many records it carried. */
  auditCommitted(seconds: number, records: number) {
    this.commits.observe(seconds);
    this.committed.inc(records);
  }

  storeError(operation: 'audit' | 'revocations' | 'readiness') {
    this.storeErrors.inc({ operation });
  }

  /** The exposition text: this process's metrics, or, in a worker of `serve --workers`, every worker's, aggregated. */
  text(): Promise<string> {
    return this.read();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
