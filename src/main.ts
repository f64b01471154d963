// Composition root: config → store → services → one listener per connection → admin API.
import { parseDurationMs } from './config/duration.ts';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import { startAdmin } from './admin/api.ts';
import type { Config, Connection } from './config/schema.ts';
import { configSecrets } from './config/secrets.ts';
import { startPostgresListener } from './adapters/postgres/listener.ts';
import { startMysqlListener } from './adapters/mysql/listener.ts';
import { startHttpListener } from './adapters/http/listener.ts';
import { startLlmListener } from './adapters/llm/listener.ts';
import { startMcpListener } from './adapters/mcp/listener.ts';
import { startFilesystemListener } from './adapters/filesystem/listener.ts';
import { startRedisListener } from './adapters/redis/listener.ts';
import { startEgressListener } from './adapters/egress/listener.ts';
import type { AdapterServices, StartListener } from './pipeline/adapter.ts';
import { RateLedger } from './pipeline/rate-ledger.ts';
import { Gate } from './pipeline/gate.ts';
import { createContentGuards } from './pipeline/content-guards.ts';
import { Approvals } from './services/approvals/approvals.ts';
import { notifyWebhooks } from './services/approvals/webhooks.ts';
import { startCheckpoints } from './services/audit/checkpoints.ts';
import { AuditLog } from './services/audit/log.ts';
import { AuthThrottle } from './services/identity/throttle.ts';
import { Tokens } from './services/identity/tokens.ts';
import type { Listener, Services } from './services/services.ts';
import { systemNetwork, type Network } from './services/network/network.ts';
import { Sessions } from './services/sessions/sessions.ts';
import { openPostgresStore } from './services/store/postgres.ts';
import { openSqliteStore } from './services/store/sqlite.ts';
import type { Store } from './services/store/store.ts';
import { createLogger, type Logger } from './services/telemetry/logger.ts';
import { Metrics } from './services/telemetry/metrics.ts';

export interface GatewayOptions {
  /** Directory relative store paths are resolved against (the config file's). */
  baseDir?: string;
  /** Structured logs; by default JSON lines on standard error at `log_level`, scrubbed of the config's secrets. */
  log?: Logger;
  /** How agents' outbound connections (egress) resolve and dial: the system's, unless a test maps names itself. */
  network?: Network;
  /** Where signed audit checkpoints go when `audit.checkpoints.stdout` is on: standard output unless a test captures them. */
  checkpointOut?: (line: string) => void;
}

export interface Gateway {
  /** Everything the gateway runs on: what adapters get, and the services behind the gate (for the admin API, the CLI, tests). */
  services: Services & AdapterServices;
  listeners: Listener[];
  adminUrl: string;
  /**
   * Stops the gateway and flushes the audit. With `drainMs`, gracefully: the listeners stop accepting, requests in flight
   * may finish for up to that long (readiness says "draining" meanwhile), then whatever is left is cut.
   */
  close(drainMs?: number): Promise<void>;
}

/** One line per connection kind: how its listener starts. */
const LISTENERS: { [K in Connection['kind']]: StartListener<Extract<Connection, { kind: K }>> } = {
  postgres: startPostgresListener,
  mysql: startMysqlListener,
  http: startHttpListener,
  llm: startLlmListener,
  mcp: startMcpListener,
  filesystem: startFilesystemListener,
  redis: startRedisListener,
  egress: startEgressListener,
};

/** The configured store: `sqlite:PATH` (relative to the config file) or `postgres://...`, migrated and ready. */
export async function openStore(config: Config, baseDir = process.cwd()): Promise<Store> {
  if (/^postgres(ql)?:\/\//.test(config.store)) return openPostgresStore(config.store, { node: config.node.id ?? hostname() });
  const path = config.store.slice('sqlite:'.length);
  return openSqliteStore(path === ':memory:' || isAbsolute(path) ? path : resolve(baseDir, path));
}

export async function startGateway(config: Config, opts: GatewayOptions = {}): Promise<Gateway> {
  const log = opts.log ?? createLogger({ level: config.log_level, secrets: configSecrets(config) });
  const metrics = new Metrics(log);
  const store = await openStore(config, opts.baseDir);
  let audit: AuditLog;
  let secret: Buffer;
  try {
    secret = Buffer.from(config.secret ?? (await store.getMeta('secret')) ?? (await createSecret(store)), 'utf8');
    audit = await AuditLog.open(store, metrics);
  } catch (err) {
    await store.close();
    throw err;
  }
  let checkpoints: Awaited<ReturnType<typeof startCheckpoints>>['checkpointer'] | undefined;
  try {
    checkpoints = config.audit.checkpoints
      ? (await startCheckpoints(config.audit.checkpoints, { store, feed: audit, log, baseDir: opts.baseDir ?? process.cwd(), stdout: opts.checkpointOut })).checkpointer
      : undefined;
  } catch (err) {
    await store.close();
    throw err;
  }
  const tokens = new Tokens(store, new Set(Object.keys(config.roles)));
  const sessions = new Sessions(store, audit, tokens);
  const approvals = new Approvals(store, audit, config.approvals, secret);
  const consoleUrl = config.approvals.console_url ?? `http://${config.admin.listen}`;
  approvals.onChange((record) => { if (record.status === 'pending' && record.decisions.length === 0) void notifyWebhooks(config.approvals, consoleUrl, record, log); });
  const shared: Services = { config, store, audit, checkpoints, tokens, sessions, approvals, throttle: new AuthThrottle({}, store, (err) => log.warn({ err }, 'cannot count a failed authentication in the store; counting on this node alone')), secret, log, metrics };
  const listeners: Listener[] = [];
  let adminAddress: string | undefined;
  const services: Services & AdapterServices = {
    ...shared, gate: new Gate(shared), guards: createContentGuards(secret), network: opts.network ?? systemNetwork,
    rates: new RateLedger(store, (err) => log.warn({ err }, 'cannot share rate-limit spending through the store; limits count on this node meanwhile')),
    listening: () => [...listeners.map((l) => l.address), ...(adminAddress ? [adminAddress] : [])],
  };
  metrics.observe({
    auditQueue: () => audit.queued,
    heldApprovals: () => approvals.held,
    liveSessions: () => sessions.liveRecords(),
    revocationLagSeconds: () => tokens.revocationLag() / 1000,
  });
  approvals.watch();
  await tokens.watch({
    staleAfterMs: parseDurationMs(config.node.revocation_stale_after),
    onError: (err) => {
      metrics.storeError('revocations');
      log.warn({ err }, 'cannot read revocations from the store');
    },
  });

  try {
    await sessions.recover();
    await approvals.recover();
    // Budget reservations of calls this node had in flight when it last stopped (a crash): nothing will release them.
    const dropped = await store.dropReservations();
    if (dropped) log.info({ dropped }, 'dropped the budget reservations a crash left');
    await audit.append({ kind: 'gateway.start', data: { connections: Object.keys(config.connections) } });
    for (const [name, connection] of Object.entries(config.connections)) {
      const start = LISTENERS[connection.kind] as StartListener;
      listeners.push(await start(name, connection, services));
    }
    let draining = false;
    const admin = await startAdmin(services, listeners, { draining: () => draining });
    adminAddress = new URL(admin.url).host;
    for (const l of listeners) log.info({ connection: l.name, kind: l.kind, address: l.address }, 'connection listening');
    log.info({ url: admin.url }, 'admin API and console listening');
    const stop = async (drainMs: number) => {
      draining = true;
      if (drainMs > 0) {
        log.info({ drainMs, sessions: [...sessions.liveRecords()].length }, 'draining: accepting nothing new, letting requests in flight finish');
        const drained = await within(drainMs, Promise.all(listeners.map((l) => (l.drain ? l.drain() : l.close()))));
        if (!drained) log.warn({ sessions: [...sessions.liveRecords()].length }, 'drain deadline reached: cutting what is left');
      }
      const ended = sessions.terminateAll('gateway shutting down');
      await Promise.all([...listeners.map((l) => l.close()), admin.close()]);
      await tokens.stop();
      approvals.stop();
      services.rates.stop();
      await ended;
      await audit.append({ kind: 'gateway.stop' }).catch((err: Error) => log.error({ err }, 'cannot write the gateway.stop record'));
      await checkpoints?.stop();
      await store.close();
      log.info('stopped');
    };
    let stopped: Promise<void> | undefined;
    return {
      services,
      listeners,
      adminUrl: admin.url,
      close: (drainMs = 0) => (stopped ??= stop(drainMs)),
    };
  } catch (err) {
    await Promise.all(listeners.map((l) => l.close()));
    await tokens.stop();
    approvals.stop();
    services.rates.stop();
    await audit.flush().catch(() => undefined);
    await checkpoints?.stop();
    await store.close();
    throw err;
  }
}

/** Whether `work` settled within `ms` (it goes on either way). */
async function within(ms: number, work: Promise<unknown>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), ms); });
  try {
    return await Promise.race([work.then(() => true, () => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

async function createSecret(store: Store) {
  const secret = randomBytes(32).toString('base64url');
  await store.setMeta('secret', secret);
  return secret;
}

export const configDir = (file: string) => dirname(resolve(file));
