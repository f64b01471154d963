// Assembles the web console for the admin server: sign-in sessions, authentication, live events, decisions, static files.
import type { Listener, Services } from '../../services/services.ts';
import { AdminAuth } from '../auth.ts';
import { ConsoleAssets } from './assets.ts';
import { DecisionFeed } from './decisions.ts';
import { wireEvents } from './events.ts';
import { consoleRoutes } from './routes.ts';
import { ConsoleSessions, type ConsoleSessionOptions } from './sign-ins.ts';
import { EventHub, type HubOptions } from './sse.ts';

export interface ConsoleOptions {
  sessions?: ConsoleSessionOptions;
  events?: Omit<HubOptions, 'sessionAlive'>;
}

export function createConsole(services: Services, listeners: Listener[], opts: ConsoleOptions = {}) {
  const sessions = new ConsoleSessions(services.store, services.config.admin.keys, opts.sessions);
  const auth = new AdminAuth(services.config.admin.keys, sessions, services, services.config.approvals.console_url);
  const hub = new EventHub({ ...opts.events, sessionAlive: (handle) => sessions.keepAlive(handle) });
  const offEnd = sessions.onEnd((handle) => hub.closeSession(handle));
  const feed = new DecisionFeed(services.store, services.config);
  const unwire = wireEvents(services, hub, feed);
  return {
    auth,
    hub,
    routes: consoleRoutes({ services, listeners, auth, hub, feed }),
    assets: new ConsoleAssets(services.log),
    close() {
      unwire();
      offEnd();
      hub.stop();
      sessions.stop();
    },
  };
}
