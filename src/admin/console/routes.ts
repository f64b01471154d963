// The console's endpoints on the admin server: sign-in and sign-out, who am I, the event stream, decisions, roles.
import type { Listener, Services } from '../../services/services.ts';
import { clientAddress, type AdminAuth } from '../auth.ts';
import { HttpError, readJson, sendJson, type Handler } from '../http.ts';
import { clearSessionCookie, isHttps, sessionCookie, setSessionCookie } from './cookies.ts';
import { checkSameOrigin } from './csrf.ts';
import { DecisionFeed } from './decisions.ts';
import type { ConsoleSession } from './sign-ins.ts';
import type { EventHub } from './sse.ts';
import type { Me, RoleView } from './wire.ts';

export interface ConsoleDeps {
  services: Services;
  listeners: Listener[];
  auth: AdminAuth;
  hub: EventHub;
  feed: DecisionFeed;
}

const clientOf = clientAddress;

export function consoleRoutes({ services, listeners, auth, hub, feed }: ConsoleDeps): Record<string, Handler> {
  const { config, audit } = services;
  const consoleUrl = config.approvals.console_url;
  const me = (s: ConsoleSession | undefined, name: string, roles: Me['roles'], secure: boolean): Me =>
    ({ name, roles, csrf: s?.csrf ?? '', expiresAt: s?.expiresAt ?? 0, secure });

  return {
    'POST /v1/console/login': async (req, res) => {
      // A cross-site page must not be able to sign a victim's browser in as someone else (login CSRF).
      checkSameOrigin(req, consoleUrl);
      const client = clientOf(req);
      const body = await readJson(req, 4096);
      const key = typeof body.key === 'string' ? await auth.checkKey(body.key.trim(), client) : undefined;
      if (!key) {
        await audit.append({ kind: 'console.login.refused', data: { client } });
        throw new HttpError(401, 'that is not an admin key this gateway knows');
      }
      // A fresh id at every sign-in: a session id planted before it (fixation) is worthless.
      await auth.sessions.destroy(sessionCookie(req));
      await audit.append({ kind: 'console.login', data: { by: key.name, client } });
      const { id, session } = await auth.sessions.create(key);
      const secure = isHttps(req, consoleUrl);
      res.setHeader('set-cookie', setSessionCookie(id, (session.expiresAt - session.createdAt) / 1000, secure));
      sendJson(res, 200, me(session, key.name, key.roles, secure));
    },
    'POST /v1/console/logout': async (req, res) => {
      const { key, session } = await auth.authenticate(req, 'admin', 'approver');
      if (!session) throw new HttpError(400, 'sign-out ends a console session; bearer keys have none');
      await auth.sessions.destroy(sessionCookie(req));
      await audit.append({ kind: 'console.logout', data: { by: key.name, client: clientOf(req) } });
      res.setHeader('set-cookie', clearSessionCookie(isHttps(req, consoleUrl)));
      sendJson(res, 200, { ok: true });
    },
    'GET /v1/console/session': async (req, res) => {
      const { key, session } = await auth.authenticate(req, 'admin', 'approver');
      sendJson(res, 200, me(session, key.name, key.roles, isHttps(req, consoleUrl)));
    },
    'GET /v1/events': async (req, res) => {
      const { key, session } = await auth.authenticate(req, 'admin', 'approver');
      hub.open(req, res, { session: session?.handle, admin: key.roles.includes('admin') }, { name: key.name, now: Date.now() });
    },
    'GET /v1/decisions': async (req, res, _p, url) => {
      await auth.authenticate(req);
      const limit = Number(url.searchParams.get('limit') ?? 200);
      if (!Number.isInteger(limit) || limit < 1) throw new HttpError(400, 'query parameter limit must be a positive integer');
      sendJson(res, 200, { decisions: feed.list(limit) });
    },
    'GET /v1/sessions/{id}/decisions': async (req, res, { id }) => {
      await auth.authenticate(req);
      const session = await services.store.sessionById(id);
      if (!session) throw new HttpError(404, `no session ${id}`);
      // A feed of its own, over this session's records alone: the same verdicts the live feed shows, for every request.
      const events = await services.audit.read(0, 10_000, id);
      const replay = new DecisionFeed(services.store, config, events.length || 1);
      await replay.learn(events);
      for (const r of events) replay.ingest(r);
      sendJson(res, 200, { decisions: replay.list().reverse() });
    },
    'GET /v1/roles': async (req, res) => {
      await auth.authenticate(req);
      const roles: RoleView[] = Object.entries(config.roles).map(([name, grants]) => ({
        name,
        connections: Object.keys(grants).flatMap((c) => {
          const conn = config.connections[c];
          if (!conn) return [];
          const address = listeners.find((l) => l.name === c)?.address ?? conn.listen;
          return [{ name: c, kind: conn.kind, address, ...(conn.kind === 'llm' ? { flavor: conn.flavor } : {}) }];
        }),
      }));
      sendJson(res, 200, { roles });
    },
  };
}
