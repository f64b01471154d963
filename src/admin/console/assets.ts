// The console's static files: the page, its stylesheet, its icon and the script bundle — read once, served from memory with ETags.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { Logger } from '../../services/telemetry/logger.ts';
import { BUNDLE_FILE, WEB_DIR, buildBundle, sourcesModified } from './bundle.ts';

interface Asset { body: Buffer; type: string; etag: string }

const files: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/assets/styles.css': { file: 'styles.css', type: 'text/css; charset=utf-8' },
  '/assets/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
};
export const BUNDLE_PATH = '/assets/app.js';
export const assetPaths = [...Object.keys(files), BUNDLE_PATH];

const asset = (body: Buffer | string, type: string): Asset => {
  const buf = Buffer.isBuffer(body) ? body : Buffer.from(body);
  return { body: buf, type, etag: `"${createHash('sha256').update(buf).digest('base64url').slice(0, 22)}"` };
};

export class ConsoleAssets {
  private readonly cache = new Map<string, Asset>();
  private bundle?: Promise<Asset>;

  constructor(private readonly log: Logger) {}

  async serve(req: IncomingMessage, res: ServerResponse, path: string) {
    const found = path === BUNDLE_PATH ? await this.script() : this.file(path);
    if (!found) return false;
    const headers = { 'content-type': found.type, etag: found.etag, 'cache-control': 'no-cache' };
    if (req.headers['if-none-match'] === found.etag) {
      res.writeHead(304, headers);
      res.end();
      return true;
    }
    res.writeHead(200, { ...headers, 'content-length': found.body.length });
    res.end(req.method === 'HEAD' ? undefined : found.body);
    return true;
  }

  private file(path: string): Asset | undefined {
    const spec = files[path];
    if (!spec) return undefined;
    let a = this.cache.get(path);
    if (!a) this.cache.set(path, (a = asset(readFileSync(join(WEB_DIR, spec.file)), spec.type)));
    return a;
  }

  /** The bundle built at install when it is there and newer than the sources; otherwise built here, once. */
  private script(): Promise<Asset> {
    this.bundle ??= (async () => {
      if (existsSync(BUNDLE_FILE) && statSync(BUNDLE_FILE).mtimeMs >= sourcesModified()) {
        return asset(readFileSync(BUNDLE_FILE), 'text/javascript; charset=utf-8');
      }
      const started = performance.now();
      const text = await buildBundle();
      this.log.info({ ms: Math.round(performance.now() - started) }, 'console bundle built in memory (run `npm run build:console` to build it once at install)');
      return asset(text, 'text/javascript; charset=utf-8');
    })();
    this.bundle.catch(() => { this.bundle = undefined; });
    return this.bundle;
  }
}
