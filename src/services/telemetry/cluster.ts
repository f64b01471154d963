// `serve --workers N`: whichever worker a scrape reaches answers for all of them. The worker asks the primary; the primary
// collects every worker's registries over prom-client's cluster protocol and aggregates them (counters summed, the
// revocation lag's maximum).
import cluster from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';

const ASK = 'gatehouse:metrics?';
const ANSWER = 'gatehouse:metrics';
const TIMEOUT_MS = 5_000;

interface Answer { type: string; id: number; text?: string; error?: string }

/** In the primary: answers the workers' requests for everyone's metrics. */
export function aggregateWorkers() {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, message: { type?: string; id?: number }) => {
    if (message?.type !== ASK) return;
    aggregator.clusterMetrics().then(
      (text) => worker.send({ type: ANSWER, id: message.id, text }),
      (err: Error) => worker.send({ type: ANSWER, id: message.id, error: err.message }),
    );
  });
}

/**
 * In a worker: offers `registries` to the primary and returns how to read every worker's metrics. Undefined outside a
 * cluster worker (the process's own registries are the whole story).
 */
export function clusterMetrics(registries: Registry[]): (() => Promise<string>) | undefined {
  if (!cluster.isWorker) return undefined;
  AggregatorRegistry.setRegistries(registries);
  // Constructing one registers the worker's side of prom-client's protocol (it answers the primary's collection requests).
  new AggregatorRegistry();
  const waiting = new Map<number, { resolve: (text: string) => void; reject: (err: Error) => void }>();
  let next = 0;
  process.on('message', (message: Answer) => {
    const waiter = message?.type === ANSWER ? waiting.get(message.id) : undefined;
    if (!waiter) return;
    waiting.delete(message.id);
    if (message.error !== undefined) waiter.reject(new Error(message.error));
    else waiter.resolve(message.text ?? '');
  });
  return () => new Promise<string>((resolve, reject) => {
    const id = next++;
    const timer = setTimeout(() => {
      waiting.delete(id);
      reject(new Error('the primary process did not answer with the workers\' metrics'));
    }, TIMEOUT_MS);
    waiting.set(id, { resolve: (text) => { clearTimeout(timer); resolve(text); }, reject: (err) => { clearTimeout(timer); reject(err); } });
    process.send!({ type: ASK, id });
  });
}
