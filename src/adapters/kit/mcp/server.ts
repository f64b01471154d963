// The agent-facing MCP endpoint any adapter serves tools on: `http://<listen>/mcp`, streamable HTTP, a bearer token on every request.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest, type Implementation } from '@modelcontextprotocol/sdk/types.js';
import type { Grant } from '../../../config/schema.ts';
import type { AdapterServices } from '../../../pipeline/adapter.ts';
import { correlationFromHeaders } from '../../../pipeline/correlation.ts';
import type { AdmissionFailure, GateSession } from '../../../pipeline/gate.ts';
import { auditHeaderTimeout, bodyDeadline } from '../http/deadline.ts';
import { BodyCut, BodyTooLarge, readBody, sendJson } from '../http/reply.ts';
import { startServer } from '../http/server.ts';
import { Cutoff } from '../http/upstream.ts';
import type { Listener } from '../../../services/services.ts';
import type { TokenRecord } from '../../../services/store/store.ts';
import { coalesceWrites } from './coalesce.ts';
import { attachHost, type HostSession, type SessionLimits } from './session.ts';

export const MCP_PATH = '/mcp';
/** The most a single JSON-RPC message from an agent may weigh. */
const MAX_REQUEST_BYTES = 4 * 1024 * 1024;

/** What an adapter gets for each new agent session, to build what that session may reach. */
export interface OpenSession<G> {
  token: TokenRecord;
  grant: G;
  gate: GateSession;
  /** The agent-facing server: for requests to the agent (sampling, elicitation) and list-changed notifications. */
  agent: Server;
}

export interface McpServing<G extends Grant> extends SessionLimits {
  connection: string;
  kind: string;
  listen: string;
  /** An agent session with no request for this long is closed. */
  idleTimeoutMs: number;
  /** Sessions one token may hold (clients rarely end theirs); the least recently used goes when another opens. */
  maxSessionsPerToken: number;
  /** Deadlines for a request's headers and, after them, its body. */
  headerTimeoutMs: number;
  bodyTimeoutMs: number;
  info: Implementation;
  open(session: OpenSession<G>): Promise<HostSession>;
}

interface Live {
  tokenId: string;
  /** Aborted when the session is cut: requests in flight are answered with why, before the streams close. */
  cut: AbortController;
  transport: StreamableHTTPServerTransport;
  agent: Server;
  gate: GateSession;
  host: HostSession;
  idle?: NodeJS.Timeout;
  lastUsed: number;
  ended: boolean;
}

const STATUS: Record<AdmissionFailure, number> = { missing: 401, unknown: 401, expired: 401, revoked: 401, throttled: 429, 'no-grant': 403, 'store-unreachable': 503 };

/** A JSON-RPC error as the HTTP answer itself (before any MCP session exists to carry it). */
function rpcError(res: ServerResponse, status: number, rule: string, message: string, headers: Record<string, string> = {}) {
  sendJson(res, status, { jsonrpc: '2.0', id: null, error: { code: -32000, message: `Gatehouse: ${message}`, data: { rule } } }, headers);
}

export async function serveMcp<G extends Grant>(services: AdapterServices, opts: McpServing<G>): Promise<Listener> {
  const { gate } = services;
  const sessions = new Map<string, Live>();

  const end = async (live: Live, reason: string) => {
    if (live.ended) return;
    live.ended = true;
    clearTimeout(live.idle);
    if (live.transport.sessionId) sessions.delete(live.transport.sessionId);
    live.cut.abort(reason);
    // The answers to requests in flight are written in the next turns; then the transport ends every open stream.
    await new Promise((resolve) => setTimeout(resolve, 0));
    await live.transport.close().catch(() => {});
    await live.host.close(reason).catch((err: Error) => services.log.warn({ err, connection: opts.connection }, 'closing an MCP session failed'));
    live.gate.close(reason);
  };
  const touch = (live: Live) => {
    live.lastUsed = performance.now();
    clearTimeout(live.idle);
    live.idle = setTimeout(() => void end(live, 'idle'), opts.idleTimeoutMs);
    live.idle.unref();
  };

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = req.url ?? '';
    if (url !== MCP_PATH && !url.startsWith(`${MCP_PATH}?`)) return rpcError(res, 404, 'request.path', `MCP is served at ${MCP_PATH}`);
    const address = req.socket.remoteAddress ?? 'unknown';
    const auth = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '');
    const admission = await gate.admit<G>(opts.connection, { secret: auth?.[1], address });
    if (!admission.ok) {
      const message = admission.reason === 'missing' ? 'missing Gatehouse token: send "Authorization: Bearer <token>"' : admission.message;
      return rpcError(res, STATUS[admission.reason], `token.${admission.reason}`, message, STATUS[admission.reason] === 401 ? { 'www-authenticate': 'Bearer realm="gatehouse"' } : {});
    }
    let body: unknown;
    if (req.method === 'POST') {
      const cutoff = new Cutoff();
      const clear = bodyDeadline(req, opts.bodyTimeoutMs, cutoff);
      let text: string;
      try {
        text = (await readBody(req, MAX_REQUEST_BYTES, cutoff)).toString('utf8');
      } catch (err) {
        if (err instanceof BodyTooLarge) return rpcError(res, 413, 'request.size', `a message may weigh at most ${MAX_REQUEST_BYTES} bytes`, { connection: 'close' });
        if (err instanceof BodyCut) return rpcError(res, 408, 'request.timeout', String(cutoff.reason), { connection: 'close' });
        throw err;
      } finally {
        clear();
      }
      try {
        body = JSON.parse(text);
      } catch {
        return sendJson(res, 400, { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error: the body is not JSON' } });
      }
    }
    const id = req.headers['mcp-session-id'];
    if (id !== undefined) {
      const live = typeof id === 'string' ? sessions.get(id) : undefined;
      // Another token's session is as unknown as a made-up id: sessions are not shared, nor their existence revealed.
      if (!live || live.tokenId !== admission.token.id) return rpcError(res, 404, 'session.unknown', 'no such MCP session (it ended, or belongs to another token); initialize a new one');
      touch(live);
      return live.transport.handleRequest(req, req.method === 'POST' ? coalesceWrites(res) : res, body);
    }
    if (req.method !== 'POST' || !isInitializeRequest(body)) return rpcError(res, 400, 'session.missing', 'send initialize first, then the mcp-session-id it returns with every request');
    return initialize(req, res, body, admission.token, admission.grant, address);
  }

  async function initialize(req: IncomingMessage, res: ServerResponse, body: unknown, token: TokenRecord, grant: G, address: string) {
    const correlation = correlationFromHeaders(req.headers);
    const mine = [...sessions.values()].filter((l) => l.tokenId === token.id);
    if (mine.length >= opts.maxSessionsPerToken) {
      const idlest = mine.reduce((a, b) => (a.lastUsed <= b.lastUsed ? a : b));
      await end(idlest, `the token opened more than ${opts.maxSessionsPerToken} sessions; its least recently used one was closed`);
    }
    let live: Live | undefined;
    let cut: string | undefined;
    let session: GateSession;
    try {
      session = await gate.open(
        { token, connection: opts.connection, protocol: opts.kind, client: `${address}:${req.socket.remotePort ?? 0}`, runId: correlation.runId, step: correlation.step },
        (reason) => { if (live) void end(live, reason); else cut = reason; },
      );
    } catch (err) {
      return rpcError(res, 503, 'audit.unavailable', (err as Error).message);
    }
    const agent = new Server(opts.info, { capabilities: {} });
    let host: HostSession;
    try {
      host = await opts.open({ token, grant, gate: session, agent });
    } catch (err) {
      session.close('the session could not start');
      throw err;
    }
    const cutter = new AbortController();
    attachHost(agent, host, session, services.guards, opts, cutter.signal);
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (sid) => { sessions.set(sid, live!); touch(live!); },
    });
    live = { tokenId: token.id, cut: cutter, transport, agent, gate: session, host, lastUsed: performance.now(), ended: false };
    transport.onclose = () => void end(live!, 'the agent closed the session');
    await agent.connect(transport);
    // Revoked while the session was being set up: it ends before it begins.
    if (cut !== undefined) return void end(live, cut).then(() => rpcError(res, 401, 'token.revoked', `the session was cut: ${cut}`));
    await transport.handleRequest(req, coalesceWrites(res), body);
    if (!transport.sessionId) await end(live, 'initialize failed');
  }

  const server = await startServer(opts.listen, handle, (err) => services.log.error({ err, connection: opts.connection }, 'mcp request failed'), {
    headerTimeoutMs: opts.headerTimeoutMs, onHeaderTimeout: auditHeaderTimeout(services.gate, opts.connection, opts.headerTimeoutMs),
  });
  return {
    name: opts.connection,
    kind: opts.kind,
    address: server.address,
    async close() {
      await Promise.all([...sessions.values()].map((live) => end(live, 'gateway shutting down')));
      await server.close();
    },
  };
}
