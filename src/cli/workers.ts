// `gatehouse serve --workers N`: N gateway processes share the listeners (node:cluster hands each new connection to one
// of them), so one machine's cores are used. Each worker is a whole gateway over the shared store, so the store must be
// one that several processes can write: PostgreSQL. The primary only forks, restarts, relays signals and aggregates metrics.
import cluster from 'node:cluster';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../services/telemetry/logger.ts';
import { aggregateWorkers } from '../services/telemetry/cluster.ts';
import { CliError } from './client.ts';

const READY = 'gatehouse:ready';

/** Refused at start-up, before anything listens: SQLite has one writer, and the audit chain one head. */
export function checkWorkersStore(config: Config, workers: number) {
  if (workers > 1 && !/^postgres(ql)?:\/\//.test(config.store)) {
    throw new CliError(`--workers needs store: postgres://...; SQLite is one process (store: ${config.store})`, 2);
  }
}

/** The environment variable that tells a worker which slot it fills. */
const WORKER_SLOT = 'GATEHOUSE_WORKER_SLOT';

/**
 * In a worker: its node id is the configured one (or the host name) with its slot, so every worker keeps its own audit
 * chain in the shared store, and a replacement continues its predecessor's. Unchanged outside a worker.
 */
export function workerNode(config: Config, host: string): Config {
  const slot = cluster.isWorker ? process.env[WORKER_SLOT] : undefined;
  return slot ? { ...config, node: { ...config.node, id: `${config.node.id ?? host}.w${slot}` } } : config;
}

/** In a worker, once its gateway listens: the primary counts it as started. */
export function workerReady() {
  process.send?.({ type: READY });
}

/**
 * The primary: forks `workers` processes running this same command, replaces one that dies after it started, and stops
 * them all on SIGTERM/SIGINT (each drains; a second signal makes them exit at once). Exits 0 when all stopped cleanly.
 */
export function superviseWorkers(workers: number, log: Logger) {
  aggregateWorkers();
  const started = new Set<number>();
  let stopping = false;
  let failed = false;
  /** Which slot each worker fills: a replacement takes its predecessor's, and with it its node id and audit chain. */
  const slots = new Map<number, number>();
  const fork = (slot: number) => {
    const worker = cluster.fork({ [WORKER_SLOT]: String(slot) });
    slots.set(worker.id, slot);
    worker.on('message', (m: { type?: string }) => {
      if (m?.type === READY) started.add(worker.id);
    });
  };
  cluster.on('exit', (worker, code, signal) => {
    const remaining = Object.keys(cluster.workers ?? {}).length;
    if (stopping) {
      failed ||= code !== 0;
      if (remaining === 0) process.exit(failed ? 1 : 0);
      return;
    }
    if (!started.has(worker.id)) {
      // It never listened (bad config, port taken, store unreachable): starting another would fail the same way.
      log.error({ worker: worker.process.pid, code, signal }, 'a worker failed to start; stopping');
      failed = true;
      stop();
      if (remaining === 0) process.exit(1);
      return;
    }
    log.warn({ worker: worker.process.pid, code, signal }, 'a worker stopped; starting another');
    fork(slots.get(worker.id) ?? 0);
  });
  const stop = () => {
    if (stopping) {
      // The second signal: each worker exits at once on its own second one; so does the primary.
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
      process.exit(1);
    }
    stopping = true;
    log.info({ workers: Object.keys(cluster.workers ?? {}).length }, 'stopping the workers');
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  for (let i = 1; i <= workers; i++) fork(i);
  log.info({ workers }, 'started the workers');
}
