// Connects to the real MySQL/MariaDB as a client with the gateway's own credentials (the agent never sees them), and runs the gateway's own setup queries.
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { CACHING_SHA2, encryptPassword, sha2Scramble, Sha2 } from './auth/caching-sha2.ts';
import { NATIVE_PASSWORD, nativeScramble } from './auth/native.ts';
import { ProtocolError } from './codec/bytes.ts';
import { Capability, Reply } from './codec/constants.ts';
import { encodeQuery } from './codec/commands.ts';
import { decodeAuthSwitch, decodeGreeting, encodeHandshakeResponse, encodeSslRequest, type ServerGreeting } from './codec/handshake.ts';
import { decodeColumnCount, decodeErr, decodeOk, decodeTextRow, isErr, isResultEnd } from './codec/results.ts';
import { PacketChannel } from './wire.ts';

export interface UpstreamTarget {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  tls: 'disable' | 'prefer' | 'require';
}

/** An upstream refused or failed us; the message is safe to show an agent (no credentials). */
export class UpstreamError extends Error {
  constructor(message: string, readonly code = 2013, readonly sqlState = '08S01') {
    super(message);
  }
}

export function parseMysqlUrl(url: string, tls: UpstreamTarget['tls']): UpstreamTarget {
  const u = new URL(url);
  return {
    host: u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: Number(u.port || 3306),
    user: decodeURIComponent(u.username || 'root'),
    password: decodeURIComponent(u.password),
    database: decodeURIComponent(u.pathname.slice(1)),
    tls,
  };
}

/** Capabilities the gateway always uses upstream, whatever the agent's client asked for. */
const REQUIRED = Capability.PROTOCOL_41 | Capability.SECURE_CONNECTION | Capability.PLUGIN_AUTH | Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA |
  Capability.LONG_PASSWORD | Capability.TRANSACTIONS;

/**
 * Capabilities never asked of the upstream: TLS is negotiated here, LOCAL_FILES would let it ask for files, COMPRESS is not
 * spoken, NO_SCHEMA would make it drop the database from `db.table` and IGNORE_SPACE changes its grammar.
 */
const NEVER = Capability.SSL | Capability.LOCAL_FILES | Capability.COMPRESS | Capability.NO_SCHEMA | Capability.IGNORE_SPACE;

export interface UpstreamConnection {
  socket: Socket;
  channel: PacketChannel;
  greeting: ServerGreeting;
  /** Capabilities in force on this connection. */
  capabilities: number;
}

export interface UpstreamOptions {
  /** What the agent's session uses (multi-statements, EOF style...); Gatehouse adds what it needs and drops what it never allows. */
  capabilities: number;
  charset: number;
  timeoutMs: number;
  attributes?: Map<string, string>;
}

export function openSocket(target: Pick<UpstreamTarget, 'host' | 'port'>, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: target.host, port: target.port, noDelay: true });
    const timer = setTimeout(() => socket.destroy(new Error(`connecting to ${target.host}:${target.port} timed out`)), timeoutMs);
    socket.once('connect', () => { clearTimeout(timer); socket.off('error', reject); resolve(socket); });
    socket.once('error', (err) => { clearTimeout(timer); reject(err); });
  });
}

/** Opens and authenticates a connection upstream. */
export async function connectUpstream(target: UpstreamTarget, options: UpstreamOptions): Promise<UpstreamConnection> {
  let socket: Socket;
  try {
    socket = await openSocket(target, options.timeoutMs);
  } catch (err) {
    throw new UpstreamError(`upstream ${target.host}:${target.port} is unreachable (${(err as Error).message})`);
  }
  try {
    let channel = new PacketChannel(socket, 'upstream', 16 * 1024 * 1024);
    const first = await channel.receive(options.timeoutMs);
    if (isErr(first.payload)) throw new UpstreamError(`upstream refused the connection: ${decodeErr(first.payload).message}`);
    const greeting = decodeGreeting(first.payload);
    let capabilities = ((options.capabilities | REQUIRED) & greeting.capabilities & ~NEVER) >>> 0;
    if (target.database) capabilities |= Capability.CONNECT_WITH_DB;
    const offersTls = (greeting.capabilities & Capability.SSL) !== 0;
    if (target.tls === 'require' && !offersTls) throw new UpstreamError('upstream does not offer TLS and upstream_tls is "require"');
    let secure = false;
    if (target.tls !== 'disable' && offersTls) {
      capabilities |= Capability.SSL;
      channel.send(encodeSslRequest(capabilities, 16 * 1024 * 1024, options.charset));
      const seq = channel.seq;
      channel.detach();
      socket = await startTls(socket, target.host, options.timeoutMs);
      channel = new PacketChannel(socket, 'upstream', 16 * 1024 * 1024);
      channel.seq = seq;
      secure = true;
    }
    let plugin = greeting.authPlugin === CACHING_SHA2 ? CACHING_SHA2 : NATIVE_PASSWORD;
    let nonce = greeting.nonce;
    const answer = () => (plugin === CACHING_SHA2 ? sha2Scramble(target.password, nonce) : nativeScramble(target.password, nonce));
    channel.send(encodeHandshakeResponse({
      capabilities, maxPacket: 16 * 1024 * 1024, charset: options.charset, user: target.user, authResponse: answer(),
      database: target.database, authPlugin: plugin, attributes: options.attributes ?? new Map(),
    }));
    for (;;) {
      const reply = (await channel.receive(options.timeoutMs)).payload;
      if (reply[0] === Reply.OK) break;
      if (isErr(reply)) throw new UpstreamError(`upstream refused the gateway's login: ${decodeErr(reply).message}`);
      if (reply[0] === Reply.EOF) {
        const next = decodeAuthSwitch(reply);
        if (next.plugin !== NATIVE_PASSWORD && next.plugin !== CACHING_SHA2) throw new UpstreamError(`upstream asks for auth plugin ${next.plugin}, which Gatehouse does not speak`);
        plugin = next.plugin;
        nonce = next.data.subarray(0, 20);
        channel.send(answer());
        continue;
      }
      if (reply[0] === Reply.MORE_DATA && plugin === CACHING_SHA2) {
        if (reply[1] === Sha2.FAST_AUTH_OK) continue;
        if (reply[1] !== Sha2.PERFORM_FULL_AUTH) throw new UpstreamError('unexpected caching_sha2_password message from upstream');
        if (secure) { channel.send(Buffer.from(`${target.password}\0`)); continue; }
        channel.send(Buffer.of(Sha2.REQUEST_PUBLIC_KEY));
        const key = (await channel.receive(options.timeoutMs)).payload;
        if (key[0] !== Reply.MORE_DATA) throw new UpstreamError('upstream did not send its public key');
        channel.send(encryptPassword(target.password, nonce, key.subarray(1).toString()));
        continue;
      }
      throw new UpstreamError(`unexpected message 0x${reply[0]?.toString(16)} from upstream during login`);
    }
    return { socket, channel, greeting, capabilities };
  } catch (err) {
    socket.destroy();
    if (err instanceof UpstreamError) throw err;
    throw new UpstreamError(`upstream handshake failed: ${(err as Error).message}`);
  }
}

function startTls(socket: Socket, host: string, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    // Encrypted, not verified (as the mysql client's --ssl-mode=REQUIRED); verification comes with a configured CA.
    const secure = tlsConnect({ socket, servername: host, rejectUnauthorized: false }, () => { clearTimeout(timer); resolve(secure); });
    const timer = setTimeout(() => secure.destroy(new Error('TLS handshake timed out')), timeoutMs);
    secure.once('error', (err) => { clearTimeout(timer); reject(err); });
  });
}

/**
 * Runs one of the gateway's own statements on a connection no agent is using yet, and returns its rows as text. Only
 * for the connection's setup: the agent's traffic never goes through here.
 */
export async function runQuery(up: UpstreamConnection, sql: string, timeoutMs: number): Promise<(string | null)[][]> {
  up.channel.seq = 0;
  up.channel.send(encodeQuery(sql));
  const first = (await up.channel.receive(timeoutMs)).payload;
  if (isErr(first)) throw new UpstreamError(`upstream refused the gateway's setup statement: ${decodeErr(first).message}`);
  if (first[0] === Reply.OK) {
    if (decodeOk(first).status & 0x0008) throw new ProtocolError('setup statements return one result');
    return [];
  }
  const columns = decodeColumnCount(first);
  for (let i = 0; i < columns; i++) await up.channel.receive(timeoutMs);
  if (!(up.capabilities & Capability.DEPRECATE_EOF)) await up.channel.receive(timeoutMs);
  const rows: (string | null)[][] = [];
  for (;;) {
    const packet = (await up.channel.receive(timeoutMs)).payload;
    if (isErr(packet)) throw new UpstreamError(`upstream failed the gateway's setup statement: ${decodeErr(packet).message}`);
    if (isResultEnd(packet, up.capabilities)) return rows;
    rows.push(decodeTextRow(packet, columns).map((c) => c?.toString('utf8') ?? null));
  }
}
