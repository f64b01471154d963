// What ends a PostgreSQL connection early: the FATAL the client sees, and whether the log needs more than one line.
import { ScramError } from './auth/scram.ts';
import { ProtocolError } from './codec/cursor.ts';
import { UpstreamError } from './upstream.ts';

/** A FATAL the gateway decided on (bad credentials, a cap, an unsupported request): expected, never a bug. */
export class Refusal extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

export interface Fatal {
  /** SQLSTATE. */
  code: string;
  message: string;
  /** The peer broke the protocol (08P01): one log line, and it counts against the peer like a failed login. */
  violation: boolean;
  /** An exception nobody expected: a gateway bug, logged with its stack. */
  internal: boolean;
}

export function fatalOf(err: unknown): Fatal {
  if (err instanceof Refusal) return { code: err.code, message: err.message, violation: false, internal: false };
  if (err instanceof ProtocolError || err instanceof ScramError) {
    return { code: '08P01', message: `Gatehouse: ${err.message}`, violation: true, internal: false };
  }
  if (err instanceof UpstreamError) return { code: err.code, message: `Gatehouse: ${err.message}`, violation: false, internal: false };
  return { code: 'XX000', message: 'Gatehouse internal error; the connection was closed', violation: false, internal: true };
}
