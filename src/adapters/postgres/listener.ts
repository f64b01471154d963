// The PostgreSQL listener: admits agents (caps, one deadline), authenticates their token, opens the upstream, starts a session.
//
// Each connection runs inside its own error boundary (boundary.ts): whatever goes wrong while serving it ends that
// connection with a FATAL, and the process keeps serving everyone else.
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { parseDurationMs } from '../../config/duration.ts';
import type { PostgresConnection, SqlGrant } from '../../config/schema.ts';
import { correlationFromApplicationName } from '../../pipeline/correlation.ts';
import type { AdapterServices } from '../../pipeline/adapter.ts';
import type { Listener } from '../../services/services.ts';
import type { TokenRecord } from '../../services/store/store.ts';
import { HandshakeSlots } from '../kit/handshake-slots.ts';
import { SessionSlots, type SessionCaps } from './admission.ts';
import { ConnectionBoundary } from './boundary.ts';
import { authenticationOk, backendKeyData, errorResponse, readyForQuery } from './codec/backend.ts';
import { cancelRequest } from './codec/frontend.ts';
import { CatalogCache } from './catalog-cache.ts';
import { fatalOf, Refusal } from './errors.ts';
import { authenticate, readStartup, type AuthContext, type ClientHello } from './handshake.ts';
import { PostgresSession } from './session.ts';
import { serverTlsContext } from '../kit/tls.ts';
import { connectUpstream, openSocket, parseUpstreamUrl } from './upstream.ts';
import { listenOn } from '../kit/listen.ts';

interface CancelTarget { pid: number; key: Buffer; session?: PostgresSession }

/** How often an idle session's peer is probed: a client that vanished without a FIN is noticed and its descriptor freed. */
const KEEPALIVE_MS = 60_000;

/** One client connection as the listener knows it, from accept to session. */
interface Client {
  /** The raw socket, then the TLS socket over it. */
  socket: Socket;
  address: string;
  /** `address:port`. */
  name: string;
  /** Set once the startup message named a user. */
  user?: string;
  session?: PostgresSession;
}

export async function startPostgresListener(name: string, conn: PostgresConnection, services: AdapterServices): Promise<Listener> {
  const tlsContext = await serverTlsContext(conn.tls);
  const upstream = parseUpstreamUrl(conn.upstream, conn.upstream_tls);
  const catalogs = new CatalogCache(upstream, services, name);
  /** Our (pid, key) handed to each client → the upstream backend's, so CancelRequest reaches the right query. */
  const cancels = new Map<string, CancelTarget>();
  const sockets = new Set<Socket>();
  const handshakes = new HandshakeSlots(conn.max_handshakes, conn.max_handshakes_per_client);
  const slots = new SessionSlots();
  /** Sessions past authentication, so a graceful shutdown can end each once it is idle. */
  const running = new Set<PostgresSession>();
  let draining = false;
  const handshakeMs = parseDurationMs(conn.handshake_timeout);

  const server: Server = createServer({ noDelay: true }, serve);

  function serve(raw: Socket) {
    sockets.add(raw);
    raw.once('close', () => sockets.delete(raw));
    raw.on('error', () => raw.destroy());
    raw.setKeepAlive(true, KEEPALIVE_MS);
    const client: Client = { socket: raw, address: raw.remoteAddress ?? 'unknown', name: `${raw.remoteAddress}:${raw.remotePort}` };
    const slot = handshakes.admit(raw, client.address);
    if (!slot) {
      raw.end(errorResponse({ severity: 'FATAL', code: '53300', message: 'Gatehouse: too many connections are authenticating; try again later' }));
      return;
    }
    raw.once('close', () => handshakes.release(slot));
    const boundary = new ConnectionBoundary(
      (err) => (client.session ? client.session.fail(err) : refuse(client, err)),
      () => { client.socket.destroy(); raw.destroy(); },
    );
    const deadline = setTimeout(boundary.wrap(() => {
      throw new Refusal('08P01', `Gatehouse: the connection did not authenticate within ${conn.handshake_timeout}`);
    }), handshakeMs);
    boundary.watch(open(client, boundary, {
      named: (user) => {
        if (!handshakes.named(slot, client.address, user)) {
          throw new Refusal('53300', `Gatehouse: too many connections are authenticating as "${user}" from ${client.address} (max_handshakes_per_client: ${handshakes.maxPerClient})`);
        }
      },
      authenticated: () => { clearTimeout(deadline); handshakes.release(slot); },
    }).finally(() => clearTimeout(deadline)));
  }

  /** A connection that failed before its session existed: a FATAL and, for a protocol violation, one log line. */
  function refuse(client: Client, err: unknown) {
    const fatal = fatalOf(err);
    if (fatal.internal) services.log.error({ err, connection: name, client: client.name }, 'postgres connection failed');
    // A violation counts against the client like a failed login; once it is throttled the log stops repeating it.
    if (fatal.violation) {
      void services.gate.violation(name, { address: client.address, user: client.user }).then((throttled) => {
        if (!throttled) services.log.warn({ connection: name, client: client.name, code: fatal.code }, fatal.message);
      }, () => undefined);
    }
    if (!client.socket.destroyed) client.socket.end(errorResponse({ severity: 'FATAL', code: fatal.code, message: fatal.message }));
  }

  const authContext = (client: Client): AuthContext => ({ services, connection: name, address: client.address });

  async function open(client: Client, boundary: ConnectionBoundary, steps: { named(user: string): void; authenticated(): void }) {
    const hello = await readStartup(client.socket, tlsContext);
    if ('kind' in hello) return forwardCancel(hello.pid, hello.key, client.socket);
    client.socket = hello.socket;
    client.user = hello.user;
    steps.named(hello.user);
    const { token, grant } = await authenticate(hello, authContext(client));
    steps.authenticated();
    const database = hello.params.get('database') ?? hello.user;
    if (database !== upstream.database && database !== name) {
      throw new Refusal('3D000', `Gatehouse: database "${database}" is not served here; connect to "${upstream.database}"`);
    }
    // The slot is the client connection's: whatever happens from here, it is given back when that connection closes.
    client.socket.once('close', slots.take(token.id, token.label, capsFor(token.role, grant)));
    const catalog = await catalogs.get(grant);
    const up = await connectUpstream(upstream, upstreamParams(token, grant, hello.params));
    if (boundary.ended || client.socket.destroyed) {
      up.socket.destroy(); // the client left (or its deadline passed) while the upstream was connecting
      return;
    }
    await startSession(client, boundary, hello, token, grant, catalog, up);
  }

  async function startSession(
    client: Client, boundary: ConnectionBoundary, hello: ClientHello, token: TokenRecord, grant: SqlGrant,
    catalog: Awaited<ReturnType<CatalogCache['get']>>, up: Awaited<ReturnType<typeof connectUpstream>>,
  ) {
    const { socket, frames } = hello;
    const cancelKey = randomBytes(4);
    const cancelPid = randomBytes(4).readInt32BE() & 0x7fffffff;
    const cancelId = `${cancelPid}:${cancelKey.toString('hex')}`;
    // LangChain correlation travels in application_name as `... run=<id> step=<name>` (set by packages/langchain).
    const { runId, step } = correlationFromApplicationName(hello.params.get('application_name') ?? '');
    let session: PostgresSession | undefined;
    const gate = await services.gate.open(
      { token, connection: name, protocol: 'postgres', client: client.name, runId, step },
      (reason) => session?.terminate(reason),
    );
    if (boundary.ended || socket.destroyed) {
      up.socket.destroy();
      return gate.close('the client left before its session started');
    }
    const cancelTarget: CancelTarget = { pid: up.pid, key: up.key };
    cancels.set(cancelId, cancelTarget);
    socket.once('close', () => cancels.delete(cancelId));
    frames.detach();
    // Authenticated: from now on the client may send messages as large as any PostgreSQL client does.
    frames.reader.limit();
    socket.write(Buffer.concat([authenticationOk(), ...up.parameterFrames, backendKeyData(cancelPid, cancelKey), readyForQuery('I')]));
    session = new PostgresSession({
      services,
      gate,
      grant,
      catalog: catalog.sql,
      masks: catalog.masks,
      maskedViews: catalog.maskedViews,
      client: socket,
      upstream: up.socket,
      clientReader: frames.reader,
      upstreamReader: up.reader,
      boundary,
      cancelUpstream: () => cancelUpstream(up.pid, up.key),
    });
    client.session = session;
    cancelTarget.session = session;
    running.add(session);
    socket.once('close', () => running.delete(session!));
    if (draining) session.drain();
  }

  /** The caps that apply to a token of `role` (its grant's own, else the connection's), each with the key that set it. */
  function capsFor(role: string, grant: SqlGrant): SessionCaps {
    const perToken = grant.max_sessions_per_token !== undefined
      ? { max: grant.max_sessions_per_token, key: `roles.${role}.${name}.max_sessions_per_token` }
      : { max: conn.max_sessions_per_token, key: `connections.${name}.max_sessions_per_token` };
    return { connection: name, role, total: conn.max_sessions, perRole: grant.max_sessions, perToken };
  }

  async function forwardCancel(pid: number, key: Buffer, socket: Socket) {
    socket.end();
    const target = cancels.get(`${pid}:${key.toString('hex')}`);
    if (!target) return; // PostgreSQL, too, ignores cancels it cannot match
    if (target.session?.cancelHeld()) return; // the statement was waiting for approval, never sent upstream
    cancelUpstream(target.pid, target.key);
  }

  /** Sends the upstream a CancelRequest for one backend, on a connection of its own; best effort, never throws. */
  function cancelUpstream(pid: number, key: Buffer) {
    openSocket(upstream).then(
      (s) => { s.on('error', () => s.destroy()); s.end(cancelRequest(pid, key)); },
      (err: Error) => services.log.warn({ err, connection: name }, 'could not send a cancel request upstream'),
    );
  }

  const address = await listenOn(server, conn.listen);
  return {
    name,
    kind: 'postgres',
    address,
    drain: () => new Promise<void>((resolve) => {
      draining = true;
      server.close(() => resolve());
      for (const s of running) s.drain();
    }),
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

/**
 * The startup parameters of the gateway's upstream session: the agent's formatting preferences, UTF-8 always (what
 * Gatehouse inspects must be exactly what PostgreSQL runs), read-only for a role without write grants, and the grant's
 * statement timeout — as session defaults, so RESET returns to them.
 */
function upstreamParams(token: TokenRecord, grant: SqlGrant, params: Map<string, string>): Record<string, string> {
  const application = params.get('application_name') ?? '';
  const readOnly = grant.write.length + grant.insert.length + grant.update.length + grant.delete.length === 0;
  const options = [
    ...(readOnly ? ['-c default_transaction_read_only=on'] : []),
    ...(grant.timeout !== undefined ? [`-c statement_timeout=${parseDurationMs(grant.timeout)}`] : []),
  ];
  const out: Record<string, string> = {
    application_name: `gatehouse:${token.label}${application ? ` ${application}` : ''}`.slice(0, 63),
    ...(options.length ? { options: options.join(' ') } : {}),
    client_encoding: 'UTF8',
  };
  for (const n of ['DateStyle', 'TimeZone', 'extra_float_digits', 'IntervalStyle']) {
    const v = params.get(n);
    if (v !== undefined) out[n] = v;
  }
  return out;
}
