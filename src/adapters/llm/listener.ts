// The LLM listener (`kind: llm`): an OpenAI- or Anthropic-compatible endpoint. The call is read and judged by the gate
// (model, tools, caps, content, budget), then forwarded with the real key and its completion relayed through the guards.
import type { LlmConnection, LlmGrant } from '../../config/schema.ts';
import type { AdapterServices } from '../../pipeline/adapter.ts';
import type { Listener } from '../../services/services.ts';
import { startHttpShaped } from '../kit/http/listener.ts';
import { settle } from '../kit/http/outcome.ts';
import { llmRequests } from './request.ts';
import { llmError, llmResponses, refuse } from './respond.ts';

export async function startLlmListener(name: string, conn: LlmConnection, services: AdapterServices): Promise<Listener> {
  const read = llmRequests(name, conn, services);
  const respond = llmResponses(name, conn, services.guards, services.store);
  const error = llmError(conn.flavor);
  return startHttpShaped<LlmGrant>(name, conn, services, {
    protocol: 'llm',
    error,
    async serve(req, res, call) {
      const exchange = await read(req, res, call);
      if (!exchange) return;
      try {
        const forward = await settle(await call.session.pass(exchange.ask), res, (refusal) => refuse(res, refusal, exchange, error));
        if (forward) await respond(req, res, call, exchange, forward);
      } finally {
        exchange.release();
      }
    },
  });
}
