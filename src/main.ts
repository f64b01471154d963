// Composition root: config → store → services → one listener per connection → admin API.
import { randomBytes } from 'node:crypto';
import { dirname, isAbsolute, resolve } from 'node:path';
import { startAdmin } from './admin/api.ts';
import type { Config, Connection } from './config/schema.ts';
import { startPostgresListener } from './adapters/postgres/listener.ts';
import { startHttpListener } from './adapters/http/listener.ts';
import { startLlmListener } from './adapters/llm/listener.ts';
import type { AdapterServices, StartListener } from './pipeline/adapter.ts';
import { Gate } from './pipeline/gate.ts';
import { createContentGuards } from './pipeline/content-guards.ts';
import { Approvals } from './services/approvals/approvals.ts';
import { notifyWebhooks } from './services/approvals/webhooks.ts';
import { AuditLog } from './services/audit/log.ts';
import { AuthThrottle } from './services/identity/throttle.ts';
import { Tokens } from './services/identity/tokens.ts';
import type { Listener, Services } from './services/services.ts';
import { Sessions } from './services/sessions/sessions.ts';
import { openSqliteStore } from './services/store/sqlite.ts';

export interface GatewayOptions {
  /** Directory relative store paths are resolved against (the config file's). */
  baseDir?: string;
  log?: (line: string) => void;
}

export interface Gateway {
  services: AdapterServices;
  listeners: Listener[];
  adminUrl: string;
  close(): Promise<void>;
}

/** One line per connection kind: how its listener starts. */
const LISTENERS: { [K in Connection['kind']]: StartListener<Extract<Connection, { kind: K }>> } = {
  postgres: startPostgresListener,
  http: startHttpListener,
  llm: startLlmListener,
};

export function openStore(config: Config, baseDir = process.cwd()) {
  if (!config.store.startsWith('sqlite:')) throw new Error(`store ${config.store}: only sqlite: is supported in this release`);
  const path = config.store.slice('sqlite:'.length);
  return openSqliteStore(path === ':memory:' || isAbsolute(path) ? path : resolve(baseDir, path));
}

export async function startGateway(config: Config, opts: GatewayOptions = {}): Promise<Gateway> {
  const log = opts.log ?? ((line: string) => console.error(line));
  const store = openStore(config, opts.baseDir);
  const secret = Buffer.from(config.secret ?? store.getMeta('secret') ?? createSecret(store), 'utf8');
  const audit = new AuditLog(store);
  const tokens = new Tokens(store, new Set(Object.keys(config.roles)));
  const sessions = new Sessions(store, audit, tokens);
  const approvals = new Approvals(store, audit, config.approvals, secret);
  const consoleUrl = config.approvals.console_url ?? `http://${config.admin.listen}`;
  approvals.onChange((record) => { if (record.status === 'pending' && record.decisions.length === 0) void notifyWebhooks(config.approvals, consoleUrl, record, log); });
  const shared: Services = { config, store, audit, tokens, sessions, approvals, throttle: new AuthThrottle(), secret, log };
  const services: AdapterServices = { ...shared, gate: new Gate(shared), guards: createContentGuards(secret) };
  tokens.watch();
  audit.append({ kind: 'gateway.start', data: { connections: Object.keys(config.connections) } });

  const listeners: Listener[] = [];
  try {
    for (const [name, connection] of Object.entries(config.connections)) {
      const start = LISTENERS[connection.kind] as StartListener;
      listeners.push(await start(name, connection, services));
    }
    const admin = await startAdmin(services, listeners);
    log(`gatehouse: admin API and console on ${admin.url}`);
    for (const l of listeners) log(`gatehouse: ${l.kind} connection "${l.name}" on ${l.address}`);
    return {
      services,
      listeners,
      adminUrl: admin.url,
      async close() {
        sessions.terminateAll('gateway shutting down');
        await Promise.all([...listeners.map((l) => l.close()), admin.close()]);
        tokens.stop();
        approvals.stop();
        audit.append({ kind: 'gateway.stop' });
        store.close();
      },
    };
  } catch (err) {
    await Promise.all(listeners.map((l) => l.close()));
    tokens.stop();
    store.close();
    throw err;
  }
}

function createSecret(store: ReturnType<typeof openSqliteStore>) {
  const secret = randomBytes(32).toString('base64url');
  store.setMeta('secret', secret);
  return secret;
}

export const configDir = (file: string) => dirname(resolve(file));
