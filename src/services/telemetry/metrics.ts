// What operators watch: the Prometheus metrics of one gateway process, and each request's id and debug line. Labels are
// bounded by the config (connection names, adapter kinds, rule names): never token ids, summaries or addresses.
import { randomBytes } from 'node:crypto';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type Metric } from 'prom-client';
import { clusterMetrics } from './cluster.ts';
import type { Logger } from './logger.ts';

/** How a request left the gate: forwarded, refused (with its rule), or held for a human. */
export type RequestVerdict = 'forward' | 'refuse' | 'held';

/** One request being judged: its id (in its audit record and its log line), and how it ended. */
export class SeenRequest {
  readonly id = nextRequestId();
  private readonly started = performance.now();

  constructor(private readonly metrics: Metrics, readonly connection: string, readonly kind: string, readonly sessionId: string) {}

  /** Counts the outcome, times it from when the request was seen, and writes the request's debug line. */
  end(verdict: RequestVerdict, rule = '') {
    this.metrics.ended(this, verdict, rule, (performance.now() - this.started) / 1000);
  }
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

/**
 * Request ids: unique without a random draw per request — a random prefix per process, then a counter (16 hex digits in
 * all). They correlate a log line with an audit record; they are not secrets.
 */
const ID_PREFIX = randomBytes(4).toString('hex');
let idCounter = 0;
const nextRequestId = () => `req_${ID_PREFIX}${((idCounter = (idCounter + 1) >>> 0)).toString(16).padStart(8, '0')}`;

/**
 * One connection and adapter kind's requests, kept as plain numbers: prom-client's labelled counters and histograms hash
 * their labels on every update (~1 µs each on a busy 2-core VM, next to a request's 50-130 µs), so the request path
 * counts here and the metrics read these when scraped.
 */
interface Series {
  connection: string;
  kind: string;
  /** `verdict\nrule` → the count, with the rule as a label value ('other' for one that is not an identifier). */
  verdicts: Map<string, { verdict: RequestVerdict; rule: string; n: number }>;
  /** Observations per bucket of SECONDS (not cumulative), then the total and the sum. */
  buckets: number[];
  count: number;
  sum: number;
}

export class Metrics {
  private readonly registry = new Registry();
  private readonly commits: Histogram;
  private readonly committed: Counter;
  private readonly storeErrors: Counter<'operation'>;
  /** connection → kind → its requests. */
  private readonly series = new Map<string, Map<string, Series>>();
  private state?: GatewayState;
  private readonly read: () => Promise<string>;

  constructor(private readonly log: Logger) {
    if (!processRegistry) collectDefaultMetrics({ register: (processRegistry = new Registry()) });
    const registers = [this.registry];
    const all = () => [...this.series.values()].flatMap((byKind) => [...byKind.values()]);
    const requests: Counter = new Counter({
      name: 'gatehouse_requests_total', help: 'Requests judged, by connection, adapter kind, verdict (forward, refuse, held) and refusal rule',
      labelNames: ['connection', 'kind', 'verdict', 'rule'], registers,
      collect: () => {
        requests.reset();
        for (const s of all()) for (const v of s.verdicts.values()) requests.inc({ connection: s.connection, kind: s.kind, verdict: v.verdict, rule: v.rule }, v.n);
      },
    });
    this.registry.registerMetric(decisionHistogram(all) as unknown as Metric);
    this.commits = new Histogram({ name: 'gatehouse_audit_commit_seconds', help: 'Duration of each audit group commit', buckets: SECONDS, registers });
    this.committed = new Counter({ name: 'gatehouse_audit_records_total', help: 'Audit records committed', registers });
    this.storeErrors = new Counter({ name: 'gatehouse_store_errors_total', help: 'Store operations that failed, by operation (audit commit, revocation read or listener, readiness check)', labelNames: ['operation'], registers });
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
    return new SeenRequest(this, connection, kind, sessionId);
  }

  /** Counts a request that ended (SeenRequest.end) and writes its debug line. */
  ended({ id, connection, kind, sessionId }: SeenRequest, verdict: RequestVerdict, rule: string, seconds: number) {
    let byKind = this.series.get(connection);
    if (!byKind) this.series.set(connection, (byKind = new Map()));
    let s = byKind.get(kind);
    if (!s) byKind.set(kind, (s = { connection, kind, verdicts: new Map(), buckets: SECONDS.map(() => 0), count: 0, sum: 0 }));
    const key = `${verdict}\n${rule}`;
    const v = s.verdicts.get(key);
    if (v) v.n++;
    else s.verdicts.set(key, { verdict, rule: RULE.test(rule) ? rule : rule && 'other', n: 1 });
    const bucket = SECONDS.findIndex((le) => seconds <= le);
    if (bucket >= 0) s.buckets[bucket]++;
    s.count++;
    s.sum += seconds;
    if (this.log.isLevelEnabled('debug')) this.log.debug({ requestId: id, sessionId, connection, kind, verdict, ...(rule ? { rule } : {}), ms: Math.round(seconds * 1e6) / 1e3 }, 'request');
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

/** `gatehouse_decision_seconds` in prom-client's histogram shape (cumulative buckets, +Inf, sum, count), read from the series. */
function decisionHistogram(all: () => Series[]) {
  const name = 'gatehouse_decision_seconds';
  const help = 'Time from a request being judged to its outcome (policy, approval lookup, audit commit), by connection and adapter kind';
  const shape = { name, help, type: 'histogram', aggregator: 'sum' } as const;
  return {
    ...shape,
    reset: () => undefined,
    get: () => ({
      ...shape,
      values: all().flatMap((s) => {
        const labels = { connection: s.connection, kind: s.kind };
        let cumulative = 0;
        return [
          ...SECONDS.map((le, i) => ({ metricName: `${name}_bucket`, labels: { ...labels, le }, value: (cumulative += s.buckets[i]) })),
          { metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: s.count },
          { metricName: `${name}_sum`, labels, value: s.sum },
          { metricName: `${name}_count`, labels, value: s.count },
        ];
      }),
    }),
  };
}
