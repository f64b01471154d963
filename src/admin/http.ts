// Small HTTP helpers for the admin API: JSON in and out, errors that render themselves.
import type { IncomingMessage, ServerResponse } from 'node:http';

export class HttpError extends Error {
  /** `delayMs`: hold the answer this long first (a throttled guess is answered late, to slow the next one). */
  constructor(readonly status: number, message: string, readonly delayMs = 0) {
    super(message);
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

export async function readJson(req: IncomingMessage, limit = 1 << 20): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new HttpError(413, 'request body too large');
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return {};
  try {
    const value = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch { /* fall through */ }
  throw new HttpError(400, 'request body must be a JSON object');
}

export type Handler = (req: IncomingMessage, res: ServerResponse, params: Record<string, string>, url: URL) => Promise<void> | void;

/** Routes `METHOD /path/{param}` patterns; the first match wins. */
export function router(routes: Record<string, Handler>) {
  const table = Object.entries(routes).map(([spec, handler]) => {
    const [method, path] = spec.split(' ');
    const names: string[] = [];
    const pattern = new RegExp('^' + path.replace(/\{(\w+)\}/g, (_m, n: string) => (names.push(n), '([^/]+)')) + '$');
    return { method, pattern, names, handler };
  });
  return (req: IncomingMessage, url: URL) => {
    let pathMatched = false;
    for (const r of table) {
      const m = r.pattern.exec(url.pathname);
      if (!m) continue;
      pathMatched = true;
      if (r.method !== req.method) continue;
      const params = Object.fromEntries(r.names.map((n, i) => [n, decodeURIComponent(m[i + 1])]));
      return { handler: r.handler, params };
    }
    throw new HttpError(pathMatched ? 405 : 404, pathMatched ? `method ${req.method} not allowed here` : `no such endpoint: ${url.pathname}`);
  };
}
