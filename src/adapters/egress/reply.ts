// The proxy's own answers: one JSON body shape for refusals and failures, on a plain response or on a CONNECT's raw socket.
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { statusForRule } from '../kit/http/reply.ts';
import { framed } from '../../pipeline/gate.ts';

export const errorBody = (code: string, message: string) => ({
  error: { type: code.startsWith('upstream') ? 'upstream_error' : 'gatehouse_refused', code, message: framed(message) },
});

/** The status a refusal rule is answered with: budgets wait (429), a name that does not resolve is a bad gateway (502). */
export function statusFor(rule: string): number {
  if (rule === 'egress.max_bytes') return 429;
  if (rule === 'egress.dns') return 502;
  return statusForRule(rule);
}

/** An answer on a socket that left the HTTP server (a CONNECT): the connection closes after it. */
export function answerRaw(socket: Socket, status: number, code: string, message: string, headers: Record<string, string> = {}) {
  if (!socket.writable) return void socket.destroy();
  const text = JSON.stringify(errorBody(code, message));
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\n${extra}connection: close\r\n\r\n${text}`);
}

/** Headers that go with a 407 (so clients know to send the token) or a budget refusal (when to retry). */
export function refusalHeaders(status: number, retryAfter?: number): Record<string, string> {
  if (status === 407) return { 'proxy-authenticate': 'Basic realm="gatehouse", charset="UTF-8"' };
  if (retryAfter) return { 'retry-after': String(retryAfter) };
  return {};
}
