// What orchestrators and Prometheus ask the admin listener, without a session: /healthz (the process answers), /readyz
// (send it traffic: listeners up and not draining, store reachable, revocations caught up) and /metrics. The probes say
// nothing secret: no names, addresses or error messages, only which check failed.
import type { IncomingMessage } from 'node:http';
import type { Services } from '../services/services.ts';
import { sendJson, type Handler } from './http.ts';

/** Revocations made by another process must reach this one within about a second; two means the watch is stuck. */
export const READY_REVOCATION_LAG_MS = 2_000;
/** A store that takes longer than this to answer one read is not one to send traffic to. */
const STORE_TIMEOUT_MS = 1_000;

export interface Readiness {
  ready: boolean;
  checks: {
    listeners: { ok: boolean; draining: boolean };
    store: { ok: boolean };
    revocations: { ok: boolean; lagSeconds: number };
  };
}

export interface ProbeOptions {
  /** True once a graceful shutdown began: the listeners accept nothing new. */
  draining(): boolean;
  /** Throws (401/403) unless the request carries an admin key; used for /metrics unless `admin.metrics: public`. */
  authenticate(req: IncomingMessage): Promise<unknown>;
}

export async function readiness(services: Pick<Services, 'store' | 'tokens' | 'metrics' | 'log'>, draining: boolean): Promise<Readiness> {
  const lag = services.tokens.revocationLag();
  const store = await storeReachable(services);
  const checks = {
    listeners: { ok: !draining, draining },
    store: { ok: store },
    revocations: { ok: lag <= READY_REVOCATION_LAG_MS && !services.tokens.revocationsStale(), lagSeconds: Math.round(lag) / 1000 },
  };
  return { ready: checks.listeners.ok && checks.store.ok && checks.revocations.ok, checks };
}

/** One read, bounded in time; written for a store whose calls may return promises. */
async function storeReachable({ store, metrics, log }: Pick<Services, 'store' | 'metrics' | 'log'>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${STORE_TIMEOUT_MS} ms`)), STORE_TIMEOUT_MS); });
  try {
    await Promise.race([(async () => store.getMeta('readiness'))(), timeout]);
    return true;
  } catch (err) {
    metrics.storeError('readiness');
    log.warn({ err }, 'readiness: the store did not answer');
    return false;
  } finally {
    clearTimeout(timer);
  }
}

export function probeRoutes(services: Services, opts: ProbeOptions): Record<string, Handler> {
  return {
    'GET /healthz': (_req, res) => sendJson(res, 200, { ok: true }),
    'GET /readyz': async (_req, res) => {
      const r = await readiness(services, opts.draining());
      sendJson(res, r.ready ? 200 : 503, r);
    },
    'GET /metrics': async (req, res) => {
      if (services.config.admin.metrics !== 'public') await opts.authenticate(req);
      const text = await services.metrics.text();
      res.writeHead(200, { 'content-type': services.metrics.contentType, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
      res.end(text);
    },
  };
}
