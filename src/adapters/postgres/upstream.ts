// Connects to the real PostgreSQL as a client, with the gateway's own credentials (the agent never sees them).
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { createScramClient, md5Password } from './auth/scram.ts';
import { parseAuthentication, parseBackendKeyData, parseErrorResponse } from './codec/backend.ts';
import { passwordMessage, saslInitialResponse, saslResponse, sslRequest, startupMessage } from './codec/frontend.ts';
import { Backend } from './codec/messages.ts';
import { FrameReader } from './codec/reader.ts';
import { SocketFrames } from './frames.ts';

export interface UpstreamTarget {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  tls: 'disable' | 'prefer' | 'require';
}

export interface UpstreamConnection {
  socket: Socket;
  reader: FrameReader;
  /** ParameterStatus frames to relay to the client (copies). */
  parameterFrames: Buffer[];
  pid: number;
  key: Buffer;
}

/** An upstream refused or failed us; the message is safe to show an agent (no credentials). */
export class UpstreamError extends Error {
  constructor(message: string, readonly code = '08006') {
    super(message);
  }
}

export function parseUpstreamUrl(url: string, tls: UpstreamTarget['tls']): UpstreamTarget {
  const u = new URL(url);
  return {
    host: u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: Number(u.port || 5432),
    user: decodeURIComponent(u.username || 'postgres'),
    password: decodeURIComponent(u.password),
    database: decodeURIComponent(u.pathname.slice(1)) || decodeURIComponent(u.username || 'postgres'),
    tls,
  };
}

export function openSocket(target: Pick<UpstreamTarget, 'host' | 'port'>, timeoutMs = 10_000): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: target.host, port: target.port, noDelay: true });
    const timer = setTimeout(() => socket.destroy(new Error(`connecting to ${target.host}:${target.port} timed out`)), timeoutMs);
    socket.once('connect', () => { clearTimeout(timer); socket.off('error', reject); resolve(socket); });
    socket.once('error', (err) => { clearTimeout(timer); reject(err); });
  });
}

/** Opens a session upstream: optional TLS, startup, authentication, up to the first ReadyForQuery. */
export async function connectUpstream(target: UpstreamTarget, params: Record<string, string>): Promise<UpstreamConnection> {
  let socket: Socket;
  try {
    socket = await openSocket(target);
  } catch (err) {
    throw new UpstreamError(`upstream ${target.host}:${target.port} is unreachable (${(err as Error).message})`);
  }
  try {
    if (target.tls !== 'disable') socket = await negotiateTls(socket, target);
    const frames = new SocketFrames(socket, new FrameReader({ source: 'backend' }));
    socket.write(startupMessage({ user: target.user, database: target.database, ...params }));
    const parameterFrames: Buffer[] = [];
    let scram: ReturnType<typeof createScramClient> | undefined;
    let pid = 0;
    let key: Buffer = Buffer.alloc(4);
    for (;;) {
      const frame = await frames.next();
      switch (frame.type) {
        case Backend.Authentication: {
          const auth = parseAuthentication(frame.body);
          if (auth.kind === 'ok') break;
          if (auth.kind === 'cleartext') socket.write(passwordMessage(target.password));
          else if (auth.kind === 'md5') socket.write(passwordMessage(md5Password(target.user, target.password, auth.salt)));
          else if (auth.kind === 'sasl') {
            if (!auth.mechanisms.includes('SCRAM-SHA-256')) throw new UpstreamError(`upstream offers no supported SASL mechanism (${auth.mechanisms.join(', ')})`);
            scram = createScramClient(target.password);
            socket.write(saslInitialResponse('SCRAM-SHA-256', scram.clientFirst()));
          } else if (auth.kind === 'saslContinue' && scram) socket.write(saslResponse(scram.handleServerFirst(auth.data.toString('utf8'))));
          else if (auth.kind === 'saslFinal' && scram) scram.verifyServerFinal(auth.data.toString('utf8'));
          else throw new UpstreamError(`unexpected authentication request from upstream (${auth.kind})`);
          break;
        }
        case Backend.ParameterStatus: parameterFrames.push(Buffer.from(frame.raw)); break;
        case Backend.BackendKeyData: ({ pid, key } = parseBackendKeyData(frame.body)); key = Buffer.from(key); break;
        case Backend.NoticeResponse: case Backend.NegotiateProtocolVersion: break;
        case Backend.ErrorResponse: {
          const e = parseErrorResponse(frame.body);
          throw new UpstreamError(`upstream refused the gateway's connection: ${e.message}`, e.code);
        }
        case Backend.ReadyForQuery:
          frames.detach();
          return { socket, reader: frames.reader, parameterFrames, pid, key };
        default:
          throw new UpstreamError(`unexpected message 0x${frame.type.toString(16)} from upstream during startup`);
      }
    }
  } catch (err) {
    socket.destroy();
    throw err instanceof UpstreamError ? err : new UpstreamError(`upstream handshake failed: ${(err as Error).message}`);
  }
}

async function negotiateTls(socket: Socket, target: UpstreamTarget): Promise<Socket> {
  socket.write(sslRequest());
  const answer = await new Promise<Buffer>((resolve, reject) => {
    socket.once('data', resolve);
    socket.once('error', reject);
  });
  if (answer.length !== 1) throw new UpstreamError('upstream answered SSLRequest with more than one byte');
  if (answer[0] !== 0x53) {
    if (target.tls === 'require') throw new UpstreamError('upstream does not offer TLS and upstream_tls is "require"');
    return socket;
  }
  // libpq's sslmode=require: encrypted, not verified. Verification comes with a configured CA.
  return new Promise((resolve, reject) => {
    const secure = tlsConnect({ socket, servername: target.host, rejectUnauthorized: false }, () => resolve(secure));
    secure.once('error', reject);
  });
}
