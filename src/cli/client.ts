// How CLI commands reach a running gateway: its admin API, found from --config or GATEHOUSE_URL / GATEHOUSE_ADMIN_KEY.
import { loadConfigFile } from '../config/load.ts';

export class CliError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

export interface AdminClient {
  get<T>(path: string): Promise<T>;
  post<T>(path: string, body?: unknown): Promise<T>;
}

export function adminClient(opts: { config?: string }, role: 'admin' | 'approver' = 'admin'): AdminClient {
  let url = process.env.GATEHOUSE_URL;
  let key = process.env.GATEHOUSE_ADMIN_KEY;
  if (opts.config && (!url || !key)) {
    const config = loadConfigFile(opts.config);
    url ??= `http://${config.admin.listen}`;
    key ??= config.admin.keys.find((k) => k.roles.includes(role))?.key;
  }
  if (!url || !key) throw new CliError('cannot find the gateway: pass --config FILE or set GATEHOUSE_URL and GATEHOUSE_ADMIN_KEY', 2);
  const base = url.replace(/\/$/, '');
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    let res: Response;
    try {
      res = await fetch(base + path, {
        method,
        headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new CliError(`cannot reach the gateway at ${base} (${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}); is it running?`);
    }
    const payload = (await res.json().catch(() => ({}))) as T & { error?: string };
    if (!res.ok) throw new CliError(`gateway refused: ${payload.error ?? res.statusText} (HTTP ${res.status})`);
    return payload;
  };
  return { get: (path) => call('GET', path), post: (path, body) => call('POST', path, body ?? {}) };
}
