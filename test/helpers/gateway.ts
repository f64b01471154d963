// Test helpers: a gateway from YAML on free ports with the demo upstreams, tokens, raw sockets and audit reads.
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { parseConfig } from '../../src/config/load.ts';
import { startGateway, type Gateway, type GatewayOptions } from '../../src/main.ts';
import type { AuditRecord } from '../../src/services/store/store.ts';
import { silent } from '../support/log.ts';
import { testStore } from '../support/store.ts';

export async function gateway(yaml: string, env: NodeJS.ProcessEnv = {}, opts: GatewayOptions = {}): Promise<Gateway & { url(name: string): string; mint(role: string, label?: string, ttlSeconds?: number): Promise<{ token: string; id: string }> }> {
  const config = parseConfig(`admin:\n  listen: 127.0.0.1:0\nstore: "${await testStore()}"\n${yaml}`, 'test', env);
  const gw = await startGateway(config, { log: silent, ...opts });
  return Object.assign(gw, {
    url: (name: string) => `http://${gw.listeners.find((l) => l.name === name)!.address}`,
    mint: async (role: string, label = 'agent', ttlSeconds = 3600) => {
      const m = await gw.services.tokens.mint({ role, label, ttlSeconds, createdBy: 'test' });
      return { token: m.token, id: m.record.id };
    },
  });
}

export function auditRecords(gw: Gateway): Promise<AuditRecord[]> {
  return gw.services.audit.read(0, 100_000);
}

/** Sends raw bytes and returns everything the server answers until it closes (or `ms` pass). */
export function rawRequest(address: string, bytes: string, ms = 1500): Promise<string> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
  return new Promise((resolve) => {
    let data = '';
    const s = connect(port, host, () => s.write(bytes));
    const done = () => { clearTimeout(t); s.destroy(); resolve(data); };
    const t = setTimeout(done, ms);
    s.on('data', (c) => { data += c.toString('latin1'); });
    s.on('end', done);
    s.on('error', done);
  });
}

export const statusOf = (raw: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0);

export interface Reply { status: number; headers: Record<string, string | string[] | undefined>; body: string; json: any }

/** One HTTP request with the path sent verbatim (fetch would resolve `..` itself). */
export function send(base: string, method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer): Promise<Reply> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const framing = body === undefined || Object.keys(headers).some((h) => /^(content-length|transfer-encoding)$/i.test(h)) ? {} : { 'content-length': String(Buffer.byteLength(body)) };
    const req = httpRequest({ host: url.hostname, port: url.port, method, path, headers: { ...headers, ...framing }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode!, headers: res.headers, body: text, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Polls until `fn` returns a value (records written just after a client saw its answer). */
export async function waitFor<T>(fn: () => T | undefined | Promise<T | undefined>, ms = 2000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('waitFor: timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
