// The MySQL listener: accepts agents, admits them through the gate (the token as password, its label as user), opens the upstream, starts a session.
import { createServer, type Server, type Socket } from 'node:net';
import type { MysqlConnection, SqlGrant } from '../../config/schema.ts';
import type { AdapterServices } from '../../pipeline/adapter.ts';
import { guardsActive } from '../../pipeline/content-guards.ts';
import { correlationFromApplicationName } from '../../pipeline/correlation.ts';
import type { Admission } from '../../pipeline/gate.ts';
import type { Listener } from '../../services/services.ts';
import type { TokenRecord } from '../../services/store/store.ts';
import { serverTlsContext } from '../kit/tls.ts';
import { acceptClient, HandshakeError, type Accepted } from './accept.ts';
import { LoginRefusal } from './auth/login.ts';
import { nativeProofMatches } from './auth/native.ts';
import { ProtocolError } from './codec/bytes.ts';
import { Capability } from './codec/constants.ts';
import { frame } from './codec/packets.ts';
import { encodeErr, encodeOk } from './codec/results.ts';
import { probeUpstream, type UpstreamProfile } from './profile.ts';
import { MysqlSession, multiStatements } from './session.ts';
import { mysqlCatalog } from './sql/catalog.ts';
import { loadParser } from './sql/analyze.ts';
import { sqlModeFlags } from './sql/settings.ts';
import { connectUpstream, parseMysqlUrl, runQuery, UpstreamError } from './upstream.ts';
import { ViewCatalog } from './views.ts';
import { DeadlineError } from './wire.ts';
import { listenOn } from '../kit/listen.ts';
import { HandshakeSlots, type Pending } from '../kit/handshake-slots.ts';

/** How many steps' time a whole handshake may take (the number open at once is capped by HandshakeSlots). */
const HANDSHAKE_STEPS = 3;
const UPSTREAM_TIMEOUT_MS = 10_000;
/** How often the upstream's view definitions are read again (a view created meanwhile is judged from the next read on). */
const VIEWS_REFRESH_MS = 30_000;
/** Character sets whose text Gatehouse lexes exactly as the server does. */
const UTF8 = /^(utf8|utf8mb3|utf8mb4|ascii)$/i;

export async function startMysqlListener(name: string, conn: MysqlConnection, services: AdapterServices): Promise<Listener> {
  await loadParser();
  const tls = await serverTlsContext(conn.tls);
  const target = parseMysqlUrl(conn.upstream, conn.upstream_tls);
  const profile = await probeUpstream(target, UPSTREAM_TIMEOUT_MS);
  const catalog = mysqlCatalog(target.database);
  const views = new ViewCatalog(target.database, profile.caseSensitive, profile.flavor);
  const loadViews = async () => {
    const up = await connectUpstream(target, { capabilities: profile.capabilities, charset: profile.charset, timeoutMs: UPSTREAM_TIMEOUT_MS });
    try {
      views.load(await runQuery(up, 'SELECT TABLE_SCHEMA, TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS', UPSTREAM_TIMEOUT_MS));
    } finally {
      up.socket.end();
    }
  };
  await loadViews();
  const refresh = setInterval(() => loadViews().catch((err: Error) => services.log.warn({ err, connection: name }, "cannot read the upstream's views")), VIEWS_REFRESH_MS);
  refresh.unref();
  const sockets = new Set<Socket>();
  const sessions = new Set<MysqlSession>();
  let draining = false;
  const handshakes = new HandshakeSlots(conn.max_handshakes, conn.max_handshakes_per_client);
  let connectionIds = 0;

  const server: Server = createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const slot = draining ? undefined : handshakes.admit(socket, socket.remoteAddress ?? '');
    if (!slot) {
      const refusal = draining ? { code: 1053, sqlState: '08S01', message: 'Gatehouse: the gateway is shutting down' }
        : { code: 1040, sqlState: '08004', message: 'Gatehouse: too many connections are authenticating; try again' };
      socket.end(frame(encodeErr(refusal), 0));
      return;
    }
    socket.once('close', () => handshakes.release(slot));
    let settled = false;
    const deadline = setTimeout(() => { if (!settled) socket.destroy(); }, conn.handshake_timeout_ms * HANDSHAKE_STEPS);
    // The error boundary of one connection: whatever it sends, the listener keeps serving everyone else.
    accept(socket, slot)
      .catch((err: Error) => refuse(socket, err))
      .finally(() => { settled = true; handshakes.release(slot); clearTimeout(deadline); });
  });

  async function accept(raw: Socket, slot: Pending) {
    const client = `${raw.remoteAddress}:${raw.remotePort}`;
    const address = raw.remoteAddress ?? '';
    const accepted = await acceptClient(raw, {
      capabilities: profile.capabilities, serverVersion: profile.version, connectionId: ++connectionIds, charset: profile.charset,
      authPlugin: conn.auth_plugin, tls, stepTimeoutMs: conn.handshake_timeout_ms,
      named: (user) => {
        if (!handshakes.named(slot, address, user)) {
          throw new LoginRefusal(`Gatehouse: too many connections are authenticating as "${user}" from ${address} (max_handshakes_per_client: ${handshakes.maxPerClient})`, 1040, '08004');
        }
      },
    });
    try {
      await admitted(accepted, client, address);
    } catch (err) {
      throw new HandshakeError(err as Error, accepted.channel);
    }
  }

  /** After the handshake: the database and character set asked for, the gate's admission, the upstream, the session. */
  async function admitted(accepted: Accepted, client: string, address: string) {
    const { response } = accepted;
    const database = response.database || target.database;
    if (database !== target.database && database !== name) throw new LoginRefusal(`Gatehouse: database "${database}" is not served here; connect to "${target.database}"`, 1049, '42000');
    const charset = clientCharset(profile, response.charset);
    const admission = await admit(accepted, response.user, address);
    // ER_UNKNOWN_ERROR rather than access denied: an outage of the gateway's store says nothing about the credentials.
    if (!admission.ok) throw admission.reason === 'store-unreachable' ? new LoginRefusal(`Gatehouse: ${admission.message}`, 1105, 'HY000') : new LoginRefusal(`Gatehouse: ${admission.message}`);
    const { token, grant } = admission;
    const readOnly = [grant.write, grant.insert, grant.update, grant.delete].every((list) => list.length === 0);
    const up = await connectUpstream(target, {
      capabilities: accepted.capabilities & ~Capability.SSL, charset, timeoutMs: UPSTREAM_TIMEOUT_MS,
      attributes: new Map([['program_name', `gatehouse:${token.label}`]]),
    });
    try {
      if (readOnly) await runQuery(up, 'SET SESSION TRANSACTION READ ONLY', UPSTREAM_TIMEOUT_MS);
      const [[sqlMode = ''] = []] = await runQuery(up, 'SELECT @@SESSION.sql_mode', UPSTREAM_TIMEOUT_MS);
      const mode = sqlModeFlags(sqlMode ?? '');
      if ('refused' in mode) throw new UpstreamError(`the upstream's sql_mode is not one Gatehouse can read SQL under (${mode.refused})`, 1227, '42000');
      // LangChain correlation travels in the program_name connection attribute as `... run=<id> step=<name>`.
      const { runId, step } = correlationFromApplicationName(response.attributes.get('program_name'));
      let session: MysqlSession | undefined;
      const gateSession = await services.gate.open({ token, connection: name, protocol: 'mysql', client, runId, step }, (reason) => session?.terminate(reason));
      const clientReader = accepted.channel.detach();
      const upstreamReader = up.channel.detach();
      // Before authentication a packet may hold a handshake; after it, a statement or a row up to the configured size.
      clientReader.maxPayload = upstreamReader.maxPayload = conn.max_packet_bytes;
      accepted.channel.socket.write(frame(encodeOk({ status: 0x0002 }), accepted.channel.seq));
      session = new MysqlSession({
        gate: gateSession, grant, catalog, views, readOnly, capabilities: accepted.capabilities, client: accepted.socket, upstream: up.socket,
        clientReader, upstreamReader, secret: services.secret, log: services.log,
        sql: { database: target.database, mode, server: profile.flavor, caseSensitive: profile.caseSensitive, multiStatements: multiStatements(accepted.capabilities) },
        ...(guardsActive(grant.guards) ? { guards: { policy: grant.guards, hook: services.guards } } : {}),
      });
      const live = session;
      sessions.add(live);
      accepted.socket.once('close', () => sessions.delete(live));
      if (draining) live.drain();
    } catch (err) {
      up.socket.destroy();
      throw err;
    }
  }

  /** The token as password: a native-password proof checked against each candidate's verifier, or the token itself (full authentication). */
  async function admit(accepted: Accepted, user: string, address: string): Promise<Admission<SqlGrant>> {
    const { proof } = accepted;
    if (proof.kind === 'token') {
      const admission = await services.gate.admit<SqlGrant>(name, { secret: proof.token, user, address });
      if (admission.ok && admission.token.label !== user && admission.token.id !== user) {
        return { ok: false, reason: 'unknown', message: `the token is labelled "${admission.token.label}"; connect as that user` };
      }
      return admission;
    }
    let legacy = false;
    const admission = await services.gate.authenticate<SqlGrant>(name, { user, address }, (candidates) => {
      let match: TokenRecord | undefined;
      // Every candidate is checked, without an early exit, so timing does not say which matched.
      for (const candidate of candidates) {
        if (candidate.mysqlNative === null) { legacy = true; continue; }
        if (nativeProofMatches(proof.nonce, proof.response, Buffer.from(candidate.mysqlNative, 'hex')) && !match) match = candidate;
      }
      return match;
    });
    if (!admission.ok && admission.reason === 'unknown' && legacy) {
      return { ...admission, message: `the token for "${user}" was minted before this gateway spoke MySQL and has no mysql_native_password verifier: mint a new one (gatehouse token create), or connect with caching_sha2_password over TLS` };
    }
    return admission;
  }

  function refuse(raw: Socket, failure: Error) {
    // Said on the channel the client is listening to (inside TLS once it began), with the sequence id it expects.
    const err = failure instanceof HandshakeError ? failure.failure : failure;
    const socket = failure instanceof HandshakeError ? failure.channel.socket : raw;
    const seq = failure instanceof HandshakeError ? failure.channel.seq : 0;
    if (socket.destroyed) return;
    const known = err instanceof LoginRefusal || err instanceof UpstreamError;
    if (!known && !(err instanceof ProtocolError) && !(err instanceof DeadlineError)) services.log.error({ err, connection: name }, 'mysql connection failed');
    const packet = err instanceof LoginRefusal ? { code: err.code, sqlState: err.sqlState, message: err.message }
      : err instanceof UpstreamError ? { code: err.code, sqlState: err.sqlState, message: `Gatehouse: ${err.message}` }
      : err instanceof ProtocolError || err instanceof DeadlineError ? { code: 1043, sqlState: '08S01', message: `Gatehouse: bad handshake (${err.message})` }
      : { code: 1105, sqlState: 'HY000', message: 'Gatehouse internal error' };
    socket.end(frame(encodeErr(packet), seq));
  }

  const address = await listenOn(server, conn.listen);
  return {
    name,
    kind: 'mysql',
    address,
    drain: () => new Promise<void>((resolve) => {
      draining = true;
      clearInterval(refresh);
      server.close(() => resolve());
      for (const s of sessions) s.drain();
    }),
    close: () => new Promise<void>((resolve) => {
      clearInterval(refresh);
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

/** The collation to use upstream: the client's if it is UTF-8 and the upstream knows it, the upstream's default otherwise. */
function clientCharset(profile: UpstreamProfile, requested: number): number {
  const charset = profile.collations.get(requested);
  if (charset === undefined) return profile.charset; // e.g. MySQL 8's utf8mb4_0900_ai_ci on a MariaDB upstream
  if (!UTF8.test(charset)) throw new LoginRefusal(`Gatehouse: character set ${charset} is not accepted; connect with utf8mb4`, 1115, '42000');
  return requested;
}
