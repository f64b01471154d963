// The PostgreSQL listener: accepts agents, authenticates their token with SCRAM, opens the upstream, starts a session.
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import type { PostgresConnection, SqlGrant } from '../../config/schema.ts';
import { splitHostPort } from '../../config/address.ts';
import { correlationFromApplicationName } from '../../pipeline/correlation.ts';
import type { AdapterServices } from '../../pipeline/adapter.ts';
import type { Listener } from '../../services/services.ts';
import type { TokenRecord } from '../../services/store/store.ts';
import { serverFirst, verifyClientFinal } from './auth/scram.ts';
import {
  authenticationOk, authenticationSASL, authenticationSASLContinue, authenticationSASLFinal, backendKeyData, errorResponse,
  negotiateProtocolVersion, readyForQuery, sslResponse,
} from './codec/backend.ts';
import { ProtocolError } from './codec/cursor.ts';
import { cancelRequest, parseSASLInitialResponse, parseSASLResponse, parseStartup } from './codec/frontend.ts';
import { Frontend } from './codec/messages.ts';
import { FrameReader } from './codec/reader.ts';
import { SocketFrames } from './frames.ts';
import { CatalogCache } from './catalog-cache.ts';
import { PostgresSession } from './session.ts';
import { serverTlsContext } from '../kit/tls.ts';
import { connectUpstream, openSocket, parseUpstreamUrl, UpstreamError } from './upstream.ts';

/** A FATAL the client sees before its session exists. */
class Refusal extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

interface CancelTarget { pid: number; key: Buffer; session?: PostgresSession }

export async function startPostgresListener(name: string, conn: PostgresConnection, services: AdapterServices): Promise<Listener> {
  const tlsContext = await serverTlsContext(conn.tls);
  const upstream = parseUpstreamUrl(conn.upstream, conn.upstream_tls);
  const catalogs = new CatalogCache(upstream, services, name);
  /** Our (pid, key) handed to each client → the upstream backend's, so CancelRequest reaches the right query. */
  const cancels = new Map<string, CancelTarget>();
  const sockets = new Set<Socket>();
  /** Sessions past authentication, so a graceful shutdown can end each once it is idle. */
  const sessions = new Set<PostgresSession>();
  let draining = false;

  const server: Server = createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    accept(socket).catch((err: Error) => {
      const refusal = err instanceof Refusal ? err : err instanceof ProtocolError ? new Refusal('08P01', `Gatehouse: ${err.message}`) : err instanceof UpstreamError ? new Refusal(err.code, `Gatehouse: ${err.message}`) : undefined;
      if (!refusal) services.log.error({ err, connection: name }, 'postgres connection failed');
      if (!socket.destroyed) socket.end(errorResponse({ severity: 'FATAL', code: refusal?.code ?? 'XX000', message: refusal?.message ?? 'Gatehouse internal error' }));
    });
  });

  async function accept(raw: Socket) {
    let socket: Socket = raw;
    let frames = new SocketFrames(socket, new FrameReader({ source: 'frontend', startup: true }));
    const client = `${raw.remoteAddress}:${raw.remotePort}`;
    let params: Map<string, string> | undefined;
    while (!params) {
      const request = parseStartup((await frames.next()).body);
      if (request.kind === 'cancel') return forwardCancel(request.pid, request.key, raw);
      if (request.kind === 'startup') {
        if (request.major !== 3) throw new Refusal('08P01', `unsupported protocol version ${request.major}.${request.minor}`);
        params = request.params;
        checkStartupParams(params);
        // Speak 3.0 and decline protocol options, as a PostgreSQL server older than the client would.
        const options = [...params.keys()].filter((k) => k.startsWith('_pq_.'));
        if (request.minor > 0 || options.length) socket.write(negotiateProtocolVersion(0, options));
        break;
      }
      const useTls = request.kind === 'ssl' && tlsContext !== undefined && !(socket instanceof TLSSocket);
      // Bytes sent before the TLS handshake could be an attacker's injection (CVE-2021-23214).
      if (frames.reader.buffered) throw new ProtocolError('data received before the TLS handshake');
      socket.write(sslResponse(useTls ? 'S' : 'N'));
      if (useTls) {
        frames.detach();
        socket = await startTls(raw, tlsContext!);
        frames = new SocketFrames(socket, new FrameReader({ source: 'frontend', startup: true }));
      }
    }
    const user = params.get('user') ?? '';
    const token = await authenticate(frames, user, client);
    const roleGrants = services.config.roles[token.role];
    const grant = roleGrants?.[name] as SqlGrant | undefined;
    if (!grant) {
      audit('auth.refused', token, client, `role "${token.role}" has no grant on connection "${name}"`);
      throw new Refusal('28000', `Gatehouse: role "${token.role}" has no grant on connection "${name}"`);
    }
    const database = params.get('database') ?? user;
    if (database !== upstream.database && database !== name) {
      throw new Refusal('3D000', `Gatehouse: database "${database}" is not served here; connect to "${upstream.database}"`);
    }
    const readOnly = grant.write.length + grant.insert.length + grant.update.length + grant.delete.length === 0;
    const application = params.get('application_name') ?? '';
    const catalog = await catalogs.get(grant);
    const up = await connectUpstream(upstream, {
      application_name: `gatehouse:${token.label}${application ? ` ${application}` : ''}`.slice(0, 63),
      ...(readOnly ? { options: '-c default_transaction_read_only=on' } : {}),
      ...pick(params, ['DateStyle', 'TimeZone', 'extra_float_digits', 'IntervalStyle']),
      // What Gatehouse inspects must be exactly what PostgreSQL runs: both sides speak UTF-8, always.
      client_encoding: 'UTF8',
    });
    const cancelKey = randomBytes(4);
    const cancelPid = randomBytes(4).readInt32BE() & 0x7fffffff;
    const cancelId = `${cancelPid}:${cancelKey.toString('hex')}`;
    // LangChain correlation travels in application_name as `... run=<id> step=<name>` (set by packages/langchain).
    const { runId, step } = correlationFromApplicationName(application);
    let session: PostgresSession | undefined;
    const live = services.sessions.open(
      { tokenId: token.id, label: token.label, role: token.role, connection: name, protocol: 'postgres', client, runId, step },
      (reason) => session?.terminate(reason),
    );
    services.tokens.touch(token.id);
    const cancelTarget: CancelTarget = { pid: up.pid, key: up.key };
    cancels.set(cancelId, cancelTarget);
    socket.once('close', () => cancels.delete(cancelId));
    frames.detach();
    socket.write(Buffer.concat([authenticationOk(), ...up.parameterFrames, backendKeyData(cancelPid, cancelKey), readyForQuery('I')]));
    session = new PostgresSession({
      services,
      ctx: { who: { tokenId: token.id, label: token.label, role: token.role, runId: runId ?? undefined, step: step ?? undefined }, sessionId: live.record.id, connection: name },
      token,
      grant,
      catalog: catalog.sql,
      masks: catalog.masks,
      maskedViews: catalog.maskedViews,
      client: socket,
      upstream: up.socket,
      clientReader: frames.reader,
      upstreamReader: up.reader,
    });
    cancelTarget.session = session;
    sessions.add(session);
    socket.once('close', () => sessions.delete(session!));
    if (draining) session.drain();
  }

  /** SCRAM-SHA-256 with the token as password; every candidate token for this user name is checked. */
  async function authenticate(frames: SocketFrames, user: string, client: string): Promise<TokenRecord> {
    const address = client.slice(0, client.lastIndexOf(':'));
    if (services.throttle.blocked(address)) {
      audit('auth.throttled', undefined, client, `too many failed attempts from ${address}`);
      throw new Refusal('28000', 'Gatehouse: too many failed authentication attempts from this address; try again later');
    }
    frames.socket.write(authenticationSASL(['SCRAM-SHA-256']));
    const initial = await frames.next();
    if (initial.type !== Frontend.PasswordMessage) throw new ProtocolError('expected SASLInitialResponse');
    const { mechanism, data } = parseSASLInitialResponse(initial.body);
    if (mechanism !== 'SCRAM-SHA-256' || !data) throw new Refusal('28000', `Gatehouse: unsupported SASL mechanism "${mechanism}"`);
    const first = serverFirst(data.toString('utf8'), services.tokens.scramParams(user));
    frames.socket.write(authenticationSASLContinue(first.message));
    const final = await frames.next();
    if (final.type !== Frontend.PasswordMessage) throw new ProtocolError('expected SASLResponse');
    const clientFinal = parseSASLResponse(final.body).toString('utf8');
    const candidates = services.tokens.scramCandidates(user);
    const result = verifyClientFinal(first.state, clientFinal, candidates.map(verifierOf));
    if (result.ok) {
      const token = candidates.find((t) => t.id === result.id)!;
      const status = services.tokens.status(token);
      if (status.ok) {
        frames.socket.write(authenticationSASLFinal(result.serverFinal));
        return token;
      }
    }
    // Say precisely why a real-but-dead token fails; an unknown one gets the generic message.
    const dead = services.tokens.deadTokensForUser(user);
    const match = dead.length ? verifyClientFinal(first.state, clientFinal, dead.map(verifierOf)) : undefined;
    services.throttle.fail(address);
    if (match?.ok) {
      const token = dead.find((t) => t.id === match.id)!;
      const why = token.revokedAt !== null ? 'revoked' : 'expired';
      audit('auth.failure', token, client, `token ${why}`);
      throw new Refusal('28000', `Gatehouse: token ${token.id} (${token.label}) has been ${why}`);
    }
    audit('auth.failure', undefined, client, `no live token for user "${user}" matches`, user);
    throw new Refusal('28P01', `password authentication failed for user "${user}"`);
  }

  function audit(kind: string, token: TokenRecord | undefined, client: string, reason: string, user?: string) {
    services.audit.append({ kind, tokenId: token?.id ?? null, connection: name, verdict: 'deny', data: { client, reason, ...(user !== undefined ? { user } : {}) } });
  }

  async function forwardCancel(pid: number, key: Buffer, socket: Socket) {
    socket.end();
    const target = cancels.get(`${pid}:${key.toString('hex')}`);
    if (!target) return; // PostgreSQL, too, ignores cancels it cannot match
    if (target.session?.cancelHeld()) return; // the statement was waiting for approval, never sent upstream
    const up = await openSocket(upstream);
    up.end(cancelRequest(target.pid, target.key));
  }

  const [host, port] = splitHostPort(conn.listen);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  return {
    name,
    kind: 'postgres',
    address: typeof address === 'object' && address ? `${address.address}:${address.port}` : conn.listen,
    drain: () => new Promise<void>((resolve) => {
      draining = true;
      server.close(() => resolve());
      for (const s of sessions) s.drain();
    }),
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

/** Startup parameters that would change what statements mean, or the protocol itself, are refused up front. */
function checkStartupParams(params: Map<string, string>) {
  if (params.has('replication')) throw new Refusal('28000', 'Gatehouse: replication connections are not allowed');
  const encoding = params.get('client_encoding');
  if (encoding && !/^(utf-?8|unicode)$/i.test(encoding.replace(/['"]/g, ''))) {
    throw new Refusal('22023', `Gatehouse: client_encoding ${encoding} is not supported; use UTF8`);
  }
  if (params.has('options')) throw new Refusal('28000', 'Gatehouse: the "options" startup parameter is not allowed (server settings are the gateway\'s)');
}

const verifierOf = (t: TokenRecord) => ({ id: t.id, storedKey: Buffer.from(t.scramStoredKey, 'base64'), serverKey: Buffer.from(t.scramServerKey, 'base64') });

function startTls(socket: Socket, secureContext: SecureContext): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const secure = new TLSSocket(socket, { isServer: true, secureContext });
    secure.once('secure', () => resolve(secure));
    secure.once('error', reject);
  });
}

function pick(params: Map<string, string>, names: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) {
    const v = params.get(n);
    if (v !== undefined) out[n] = v;
  }
  return out;
}
