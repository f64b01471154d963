// Runs our TypeScript on plain Node, with no loader in the process (tsx alone costs ~37 MB of RSS): esbuild bundles an
// entry point into dist/runtime/ and rebuilds it whenever one of the files it was built from changed, so an edit to src/
// is never run stale. Only our code is bundled: node_modules stay external, so native modules and WASM load as usual.
// `npm install` builds the CLI's bundle (the `prepare` script); start-up then only stats its sources (~10 ms).
// Plain JavaScript because it runs before anything can load TypeScript. Usage: node scripts/runtime.js <entry.ts>...
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, extname, join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Files that shape every bundle besides its sources: this script (the options), the TypeScript and package settings. */
const SETTINGS = ['scripts/runtime.js', 'tsconfig.json', 'package.json'];
/** The bundle's last line lists what it was built from, so the bundle and its freshness record are one atomic file. */
const MARK = '//# gatehouse-sources=';
const LOADERS = { '.ts': 'ts', '.mts': 'ts', '.js': 'js', '.mjs': 'js', '.json': 'json' };
/** import.meta.url is rewritten to the source file's URL; anything else on import.meta would describe the bundle. */
const OTHER_META = /import\.meta(?!\.url\b)/;

/**
 * V8 flags the gateway runs with. `--liftoff-only`: WebAssembly (the libpg-query parser, PGlite) stays on V8's baseline
 * compiler. Tiering the parser up to the optimising compiler costs 20-45 MB of RSS after the first few statements, for
 * ~15% faster parses, and statements of an already seen shape are not parsed at all (src/adapters/postgres/sql/analyze.ts).
 */
export const V8_FLAGS = ['--liftoff-only'];

/** Path of an up-to-date bundle of `entry` (relative to the repository root), built first if missing or stale. */
export async function runtime(entry) {
  const out = bundlePath(entry);
  const sources = sourcesOf(out);
  if (!sources || !Object.entries(sources).every(([file, stat]) => same(join(ROOT, file), stat))) await build(entry, out);
  return out;
}

const bundlePath = (entry) => join(ROOT, 'dist', 'runtime', entry.replace(/\.m?ts$/, '.js'));
const posix = (path) => path.split(sep).join('/');

/** What the bundle at `out` was built from: repository path → [mtimeMs, size]; undefined if there is no bundle. */
function sourcesOf(out) {
  let text;
  try {
    text = readFileSync(out, 'utf8');
  } catch {
    return undefined;
  }
  const at = text.lastIndexOf(MARK);
  return at < 0 ? undefined : JSON.parse(text.slice(at + MARK.length));
}

function same(path, [mtimeMs, size]) {
  const s = statSync(path, { throwIfNoEntry: false });
  return s !== undefined && s.mtimeMs === mtimeMs && s.size === size;
}

async function build(entry, out) {
  const esbuild = await import('esbuild');
  const sources = {};
  const record = (path) => {
    const s = statSync(path);
    sources[posix(relative(ROOT, path))] = [s.mtimeMs, s.size];
  };
  SETTINGS.forEach((file) => record(join(ROOT, file)));
  let result;
  try {
    result = await esbuild.build({
      entryPoints: [join(ROOT, entry)],
      outfile: out,
      bundle: true,
      packages: 'external',
      platform: 'node',
      format: 'esm',
      target: 'node20',
      // Stacks point into the bundle; `node --enable-source-maps` maps them back to src/ (off by default: it slows Error.stack).
      sourcemap: 'linked',
      sourcesContent: false,
      write: false,
      logLevel: 'silent',
      plugins: [{
        name: 'sources',
        setup(b) {
          // Every file of ours esbuild reads: record its stat (taken before the read, so an edit during the build only
          // triggers another build), and keep import.meta.url lookups pointing where they point from source.
          b.onLoad({ filter: /.*/ }, (args) => {
            const loader = LOADERS[extname(args.path)];
            if (!loader) throw new Error(`no loader for ${args.path}`);
            record(args.path);
            const contents = readFileSync(args.path, 'utf8');
            if (OTHER_META.test(contents)) throw new Error(`${args.path}: only import.meta.url is supported in bundled code`);
            const url = JSON.stringify(posix(relative(dirname(out), args.path)));
            return { contents: contents.replaceAll('import.meta.url', `new URL(${url}, import.meta.url).href`), loader };
          });
        },
      }],
    });
  } finally {
    // esbuild's service process would otherwise live as long as the gateway.
    await esbuild.stop();
  }
  mkdirSync(dirname(out), { recursive: true });
  for (const file of result.outputFiles) if (file.path !== out) writeAtomically(file.path, file.text);
  // The bundle last: it carries the list of sources that says it is fresh.
  writeAtomically(out, `${result.outputFiles.find((file) => file.path === out).text}${MARK}${JSON.stringify(sources)}\n`);
}

/** Write then rename: a process starting meanwhile reads either the old file or the new one, never half of one. */
function writeAtomically(path, text) {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const entry of process.argv.slice(2)) {
    const started = performance.now();
    const out = await runtime(entry);
    console.log(`runtime bundle: ${relative(process.cwd(), out)} (${Math.round(performance.now() - started)} ms)`);
  }
}
