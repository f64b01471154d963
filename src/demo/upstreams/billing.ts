// A demo HTTP API (billing: invoices with customer PII, refunds, an admin area, a vector-store-like search) for
// `gatehouse demo` and the tests. It checks its own API key, so the demo shows Gatehouse injecting it.
import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import { listenLocal } from './listen.ts';

export interface SeenRequest { method: string; url: string; headers: IncomingHttpHeaders; body: string }

const INVOICES = [
  { id: 42, amount: 129.0, currency: 'EUR', status: 'paid', customer: { name: 'Ada Lovelace', email: 'ada@example.com', card: '4111 1111 1111 1111', phone: '+44 20 7946 0958' } },
  { id: 43, amount: 59.5, currency: 'EUR', status: 'open', customer: { name: 'Grace Hopper', email: 'grace@example.com', card: '5500 0000 0000 0004', phone: '+1 202 555 0143' } },
];
const DOCS = [
  { id: 1, score: 0.93, payload: { title: 'Refund policy', text: 'Refunds are available within 30 days of purchase.' } },
  { id: 2, score: 0.71, payload: { title: 'Password reset', text: 'Use the Forgot password link.' } },
];

export async function startBillingApi(opts: { port?: number; key?: string; host?: string } = {}) {
  const requests: SeenRequest[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    try {
      for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
    } catch {
      return; // the request was cut before its body was complete: there is nothing to answer
    }
    const body = Buffer.concat(chunks);
    requests.push({ method: req.method!, url: req.url!, headers: req.headers, body: body.length > 65536 ? `<${body.length} bytes>` : body.toString('utf8') });
    if (opts.key && req.headers.authorization !== `Bearer ${opts.key}`) return json(res, 401, { error: 'billing: missing or wrong API key' });
    const url = new URL(req.url!, 'http://billing');
    const p = url.pathname;
    const route = `${req.method} ${p}`;
    let m: RegExpExecArray | null;
    if (route === 'GET /invoices') return json(res, 200, { invoices: INVOICES.filter((i) => !url.searchParams.get('status') || i.status === url.searchParams.get('status')) });
    if (req.method === 'GET' && (m = /^\/invoices\/(\d+)\/?$/.exec(p))) {
      const inv = INVOICES.find((i) => i.id === Number(m![1]));
      return inv ? json(res, 200, inv) : json(res, 404, { error: 'no such invoice' });
    }
    if (route === 'POST /refunds') {
      let refund: unknown;
      try { refund = JSON.parse(body.toString('utf8') || '{}'); } catch { return json(res, 400, { error: 'invalid JSON' }); }
      return json(res, 201, { refund_id: 'rf_' + createHash('sha256').update(body).digest('hex').slice(0, 8), ...(refund as object) });
    }
    if (p.startsWith('/admin')) return json(res, 200, { admin: true, signing_key: 'sk_live_billing_admin_do_not_share' });
    if (req.method === 'POST' && (m = /^\/collections\/([^/]+)\/points\/search$/.exec(p))) return json(res, 200, { collection: m[1], result: DOCS });
    if ((m = /^\/collections\/([^/]+)(\/.*)?$/.exec(p))) return json(res, 200, { collection: m[1], operation: `${req.method} ${m[2] ?? '/'}`, status: 'done' });
    if (route === 'GET /echo') return json(res, 200, { method: req.method, url: req.url, headers: req.headers });
    if (route === 'POST /upload') return json(res, 200, { bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') });
    if (route === 'GET /notes') { res.writeHead(200, { 'content-type': 'text/plain' }); return res.end('Call Ada on +44 20 7946 0958 or mail ada@example.com.\n'); }
    if (route === 'GET /big') {
      const size = Number(url.searchParams.get('bytes') ?? 1_000_000);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(size) });
      const block = Buffer.alloc(65536, 'x');
      for (let sent = 0; sent < size; sent += block.length) if (!res.write(block.subarray(0, Math.min(block.length, size - sent)))) await new Promise((r) => res.once('drain', r));
      return res.end();
    }
    if (route === 'GET /big.json') {
      const n = Number(url.searchParams.get('items') ?? 1000);
      return json(res, 200, { items: Array.from({ length: n }, (_, i) => ({ i, email: `user${i}@example.com` })) });
    }
    if (route === 'GET /slow') {
      await new Promise((r) => setTimeout(r, Number(url.searchParams.get('ms') ?? 1000)));
      return json(res, 200, { slow: true });
    }
    if (route === 'GET /events') return events(res, Number(url.searchParams.get('n') ?? 5), Number(url.searchParams.get('gap') ?? 100));
    if (route === 'GET /reset') return void req.socket.destroy();
    if (route === 'GET /invoices/latest') { res.writeHead(302, { location: `http://${req.headers.host}/invoices/43` }); return res.end(); }
    return json(res, 404, { error: `billing: no route ${route}` });
  });
  const api = await listenLocal(server, opts.port, requests, opts.host);
  return api;

  async function events(res: ServerResponse, n: number, gap: number) {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    for (let i = 1; i <= n && !res.destroyed; i++) {
      if (i > 1) await (api.hold?.() ?? new Promise((r) => setTimeout(r, gap)));
      res.write(`id: ${i}\nevent: tick\ndata: {"n":${i}}\n\n`);
    }
    res.end();
  }
}

function json(res: ServerResponse, status: number, body: unknown) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
  res.end(text);
}

export type BillingApi = Awaited<ReturnType<typeof startBillingApi>>;
