// PostgreSQL correlation: application_name is fixed per connection, so each (run, step) gets its own small pool, closed when the run ends.
import pg from 'pg';
import type { GatehouseCallbackHandler } from './handler.ts';

export interface CorrelatedPoolOptions {
  /** The step name to send, whatever run is current (default: the tool or retriever being run). */
  step?: string;
}

type ConnectCallback = (err: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void;

/**
 * A `pg.Pool` whose connections say which LangChain run and step opened them: inside a run, a query goes to a pool of its
 * own whose `application_name` is `<application_name or "langchain"> run=<id> step=<name>`; outside any run, to this pool
 * as configured. Give it to anything that takes a pool, e.g. `new PGVectorStore(embeddings, { pool, ... })`.
 */
export function correlatedPool(handler: GatehouseCallbackHandler, config: pg.PoolConfig = {}, opts: CorrelatedPoolOptions = {}): pg.Pool {
  const Pool = correlatedPoolClass(handler, opts);
  return new Pool(config);
}

/**
 * The `pg` module with `Pool` replaced by a correlated one, for libraries that build their own pool from a driver module:
 * TypeORM takes it as `new DataSource({ type: 'postgres', driver: correlatedPg(handler), ... })`.
 */
export function correlatedPg(handler: GatehouseCallbackHandler, opts: CorrelatedPoolOptions = {}): typeof pg {
  return Object.assign(Object.create(pg) as typeof pg, { Pool: correlatedPoolClass(handler, opts) });
}

function correlatedPoolClass(handler: GatehouseCallbackHandler, opts: CorrelatedPoolOptions) {
  return class CorrelatedPool extends pg.Pool {
    readonly #config: pg.PoolConfig;
    readonly #byRun = new Map<string, Map<string, pg.Pool>>();
    readonly #stopListening: () => void;

    constructor(config: pg.PoolConfig = {}) {
      super(config);
      this.#config = config;
      this.#stopListening = handler.onRunEnd((runId) => {
        const pools = this.#byRun.get(runId);
        this.#byRun.delete(runId);
        for (const p of pools?.values() ?? []) p.end().catch(() => undefined);
      });
    }

    // pg.Pool#query goes through connect(), so routing connect() routes queries too.
    override connect(): Promise<pg.PoolClient>;
    override connect(callback: ConnectCallback): void;
    override connect(callback?: ConnectCallback): Promise<pg.PoolClient> | void {
      const pool = this.#poolForCurrentStep();
      if (!pool) return callback ? super.connect(callback) : super.connect();
      return callback ? pool.connect(callback) : pool.connect();
    }

    override end(): Promise<void>;
    override end(callback: () => void): void;
    override end(callback?: () => void): Promise<void> | void {
      this.#stopListening();
      const inner = [...this.#byRun.values()].flatMap((m) => [...m.values()]);
      this.#byRun.clear();
      const done = Promise.all([...inner.map((p) => p.end().catch(() => undefined)), super.end()]).then(() => undefined);
      if (!callback) return done;
      done.then(() => callback(), () => callback());
    }

    #poolForCurrentStep(): pg.Pool | undefined {
      const c = handler.correlation({ step: opts.step });
      if (!c) return undefined;
      let pools = this.#byRun.get(c.runId);
      if (!pools) this.#byRun.set(c.runId, (pools = new Map()));
      let pool = pools.get(c.step);
      if (!pool) {
        const name = `${this.#config.application_name ?? 'langchain'} run=${c.runId} step=${c.step}`;
        pool = new pg.Pool({ ...this.#config, application_name: name, connectionString: withApplicationName(this.#config.connectionString, name) });
        // An idle connection the gateway closes (revoked token, shutdown) must not crash the agent.
        pool.on('error', (err) => { if (this.listenerCount('error') > 0) this.emit('error', err); });
        pools.set(c.step, pool);
      }
      return pool;
    }
  };
}

/** A connection string's own application_name would win over the config's, so it is replaced there too. */
function withApplicationName(connectionString: string | undefined, name: string): string | undefined {
  if (!connectionString) return connectionString;
  try {
    const url = new URL(connectionString);
    if (!url.searchParams.has('application_name')) return connectionString;
    url.searchParams.set('application_name', name);
    return url.toString();
  } catch {
    return connectionString;
  }
}
