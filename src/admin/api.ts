// The admin API and web console on admin.listen: tokens, sessions, approvals, audit — admin key or console session, JSON, described by openapi.ts.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { splitHostPort } from '../config/address.ts';
import { parseDuration } from '../config/duration.ts';
import { ApprovalError } from '../services/approvals/approvals.ts';
import { anchorChains, storeChains, type ChainAnchor } from '../services/audit/anchor.ts';
import { verifyAllChains } from '../services/audit/log.ts';
import type { Listener, Services } from '../services/services.ts';
import type { ApprovalStatus, TokenRecord } from '../services/store/store.ts';
import { createConsole, type ConsoleOptions } from './console/console.ts';
import { setSecurityHeaders } from './console/headers.ts';
import { HttpError, readJson, router, sendJson } from './http.ts';
import { openapi } from './openapi.ts';
import { probeRoutes } from './probes.ts';
import type { TokenView } from './console/wire.ts';

const approvalStatuses = new Set<string>(['pending', 'approved', 'denied', 'expired', 'withdrawn', 'failed', 'used']);

/** Public view of a token: never the hash or verifier. */
export const tokenView = (t: TokenRecord, now = Date.now()): TokenView => ({
  id: t.id, label: t.label, role: t.role, createdAt: t.createdAt, expiresAt: t.expiresAt, revokedAt: t.revokedAt,
  lastUsedAt: t.lastUsedAt, createdBy: t.createdBy,
  status: t.revokedAt !== null ? 'revoked' : t.expiresAt <= now ? 'expired' : 'active',
});

export interface AdminOptions extends ConsoleOptions {
  /** True once a graceful shutdown began (readiness then fails, so load balancers stop sending traffic). */
  draining?: () => boolean;
}

export async function startAdmin(services: Services, listeners: Listener[], opts: AdminOptions = {}) {
  const { config, tokens, store, audit } = services;
  const web = createConsole(services, listeners, opts);
  /** Bearer key (CLI) or console session (browser, with CSRF checks on state changes): see auth.ts. */
  const auth = async (req: IncomingMessage) => (await web.auth.authenticate(req)).key;
  const authApprover = async (req: IncomingMessage) => (await web.auth.authenticate(req, 'admin', 'approver')).key;
  const intParam = (url: URL, name: string, fallback: number) => {
    const v = url.searchParams.get(name);
    if (v === null) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new HttpError(400, `query parameter ${name} must be a non-negative integer`);
    return n;
  };

  const route = router({
    ...web.routes,
    ...probeRoutes(services, { draining: opts.draining ?? (() => false), authenticate: (req) => web.auth.authenticate(req, 'admin', 'approver') }),
    // Unauthenticated callers learn only that the gateway is up; listener names and addresses are for administrators.
    'GET /v1/health': async (req, res) => {
      let admin = true;
      try { await authApprover(req); } catch { admin = false; }
      sendJson(res, 200, admin ? { ok: true, listeners: listeners.map((l) => ({ name: l.name, kind: l.kind, address: l.address })) } : { ok: true });
    },
    'GET /v1/openapi.json': (_req, res) => sendJson(res, 200, openapi),
    'POST /v1/tokens': async (req, res) => {
      const admin = await auth(req);
      const body = await readJson(req);
      if (typeof body.role !== 'string') throw new HttpError(400, 'role is required');
      const label = typeof body.label === 'string' ? body.label : body.role;
      let ttlSeconds: number;
      try {
        ttlSeconds = parseDuration((body.ttl as string | number | undefined) ?? '15m');
      } catch (err) {
        throw new HttpError(400, (err as Error).message);
      }
      let minted;
      try {
        minted = await tokens.mint({ role: body.role, label, ttlSeconds, createdBy: admin.name });
      } catch (err) {
        throw new HttpError(400, (err as Error).message);
      }
      await audit.append({ kind: 'token.create', tokenId: minted.record.id, data: { by: admin.name, role: minted.record.role, label, expiresAt: minted.record.expiresAt } });
      sendJson(res, 201, { ...tokenView(minted.record), token: minted.token });
    },
    'GET /v1/tokens': async (req, res) => {
      await auth(req);
      sendJson(res, 200, { tokens: (await tokens.list()).map((t) => tokenView(t)) });
    },
    'POST /v1/tokens/{id}/revoke': async (req, res, { id }) => {
      const admin = await auth(req);
      const token = await tokens.byId(id);
      if (!token) throw new HttpError(404, `no token ${id}`);
      // The audit record comes first: a revocation the audit cannot show must not happen silently.
      await audit.append({ kind: 'token.revoke', tokenId: id, data: { by: admin.name } });
      const revoked = await tokens.revoke(id);
      sendJson(res, 200, { ...tokenView((await tokens.byId(id))!), alreadyRevoked: !revoked });
    },
    'GET /v1/sessions': async (req, res, _p, url) => {
      await auth(req);
      const sessions = await store.listSessions({
        tokenId: url.searchParams.get('token') ?? undefined,
        connection: url.searchParams.get('connection') ?? undefined,
        runId: url.searchParams.get('run') ?? undefined,
        live: url.searchParams.get('live') === 'true',
        limit: intParam(url, 'limit', 100),
      });
      sendJson(res, 200, { sessions });
    },
    'GET /v1/sessions/{id}': async (req, res, { id }, url) => {
      await auth(req);
      const session = await store.sessionById(id);
      if (!session) throw new HttpError(404, `no session ${id}`);
      sendJson(res, 200, { session, events: await audit.read(0, intParam(url, 'limit', 10_000), id) });
    },
    'GET /v1/approvals': async (req, res, _p, url) => {
      await authApprover(req);
      const status = url.searchParams.get('status') ?? 'pending';
      if (!approvalStatuses.has(status) && status !== 'all') throw new HttpError(400, `unknown status "${status}"`);
      sendJson(res, 200, { approvals: await services.approvals.list(status === 'all' ? undefined : (status as ApprovalStatus), intParam(url, 'limit', 200)) });
    },
    'GET /v1/approvals/{id}': async (req, res, { id }) => {
      await authApprover(req);
      const record = await services.approvals.get(id);
      if (!record) throw new HttpError(404, `no approval request ${id}`);
      sendJson(res, 200, record);
    },
    'POST /v1/approvals/{id}/approve': (req, res, params) => decide(req, res, params.id, 'approve'),
    'POST /v1/approvals/{id}/deny': (req, res, params) => decide(req, res, params.id, 'deny'),
    'GET /v1/audit': async (req, res, _p, url) => {
      await auth(req);
      sendJson(res, 200, { records: await audit.read(intParam(url, 'after', 0), Math.min(intParam(url, 'limit', 100), 10_000), url.searchParams.get('session') ?? undefined, url.searchParams.get('node') ?? undefined) });
    },
    'GET /v1/audit/verify': async (req, res) => {
      await auth(req);
      await audit.flush();
      const last = services.checkpoints?.last;
      // The head lets a verifier holding the public key compare the chain with its own copy of the checkpoints.
      const head = await store.lastAudit();
      sendJson(res, 200, {
        ...(await verifyAllChains(store)),
        head: head ? { seq: head.seq, hash: head.hash } : null,
        checkpoint: last ? { node: last.node, seq: last.seq, ts: last.ts, ...pick(await anchorChains([last], storeChains(store))) } : null,
      });
    },
  });

  async function decide(req: IncomingMessage, res: ServerResponse, id: string, decision: 'approve' | 'deny') {
    const approver = (await web.auth.authenticate(req, 'approver')).key;
    const body = await readJson(req);
    const reason = typeof body.reason === 'string' ? body.reason : undefined;
    let windowSeconds: number | undefined;
    try {
      windowSeconds = body.for === undefined ? undefined : parseDuration(body.for as string);
    } catch (err) {
      throw new HttpError(400, `for: ${(err as Error).message}`);
    }
    try {
      sendJson(res, 200, await services.approvals.decide(id, approver, decision, reason, windowSeconds));
    } catch (err) {
      if (err instanceof ApprovalError) throw new HttpError(err.status, err.message);
      throw err;
    }
  }

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    setSecurityHeaders(res);
    try {
      if (!url.pathname.startsWith('/v1/') && (req.method === 'GET' || req.method === 'HEAD') && (await web.assets.serve(req, res, url.pathname))) return;
      const { handler, params } = route(req, url);
      await handler(req, res, params, url);
    } catch (err) {
      if (res.headersSent) res.destroy();
      else if (err instanceof HttpError) {
        if (err.delayMs) await new Promise((resolve) => setTimeout(resolve, err.delayMs));
        if (!res.headersSent && !res.destroyed) sendJson(res, err.status, { error: err.message });
      }
      else {
        services.log.error({ err }, 'admin API request failed');
        sendJson(res, 500, { error: 'internal error' });
      }
    }
  });
  const [host, port] = splitHostPort(config.admin.listen);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => { web.close(); reject(err); });
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`,
    close: () => new Promise<void>((resolve) => {
      web.close();
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** Whether the stored chain reaches the gateway's last checkpoint, and what is wrong if not. */
const pick = ([a]: ChainAnchor[]) => ({ reaches: a.reaches, detail: a.detail });
