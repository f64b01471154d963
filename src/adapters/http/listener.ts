// The HTTP API listener (`kind: http`): the request read and judged by the gate, then forwarded and its answer relayed.
import type { HttpConnection, HttpGrant } from '../../config/schema.ts';
import type { AdapterServices } from '../../pipeline/adapter.ts';
import type { Listener } from '../../services/services.ts';
import { startHttpShaped } from '../kit/http/listener.ts';
import { settle } from '../kit/http/outcome.ts';
import { httpRequests } from './request.ts';
import { errorBody, httpResponses, refuse } from './respond.ts';

export async function startHttpListener(name: string, conn: HttpConnection, services: AdapterServices): Promise<Listener> {
  const read = httpRequests(name, conn, services);
  const respond = httpResponses(name, conn, services.guards);
  return startHttpShaped<HttpGrant>(name, conn, services, {
    protocol: 'http',
    error: errorBody,
    async serve(req, res, call) {
      const request = await read(req, res, call);
      if (!request) return;
      const forward = await settle(await call.session.pass(request.ask), res, (refusal) => refuse(res, refusal, request));
      if (forward) await respond(req, res, call, request, forward);
    },
  });
}
