// Bundles the console's browser code with esbuild: at install (scripts/build-console.ts), or in memory when that bundle is missing or stale.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BuildOptions } from 'esbuild';

export const WEB_DIR = fileURLToPath(new URL('./web/', import.meta.url));
/** Where `npm install` (the `prepare` script) leaves the built bundle. */
export const DIST_DIR = fileURLToPath(new URL('../../../dist/console/', import.meta.url));
export const BUNDLE_FILE = join(DIST_DIR, 'app.js');

const entry = join(WEB_DIR, 'app.ts');

/** The one set of esbuild options both builds use, so the file on disk and the in-memory bundle are the same. */
const options: BuildOptions = {
  entryPoints: [entry],
  bundle: true,
  format: 'esm',
  target: ['es2022', 'chrome110', 'firefox115', 'safari16'],
  platform: 'browser',
  minify: true,
  legalComments: 'none',
  logLevel: 'silent',
};

let building = 0;

/** Builds the bundle and returns its text (esbuild is a dependency of tsx, so it is always installed). */
export async function buildBundle(): Promise<string> {
  const esbuild = await import('esbuild');
  building++;
  try {
    const result = await esbuild.build({ ...options, write: false });
    return result.outputFiles![0].text;
  } finally {
    // esbuild's service process (~15 MB) would otherwise live as long as the gateway; stopped once no build is running.
    if (--building === 0) await esbuild.stop();
  }
}

/** Writes the bundle to dist/console/app.js; returns its path. */
export async function writeBundle(): Promise<string> {
  const esbuild = await import('esbuild');
  await esbuild.build({ ...options, outfile: BUNDLE_FILE });
  return BUNDLE_FILE;
}

/** Newest modification time of the browser sources (the in-memory build wins over a bundle older than this). */
export function sourcesModified(dir = WEB_DIR): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? sourcesModified(path) : entry.name.endsWith('.ts') ? statSync(path).mtimeMs : 0);
  }
  return newest;
}
