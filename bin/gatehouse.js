#!/usr/bin/env node
// Runs the CLI with no TypeScript loader in the process: scripts/runtime.js bundles src/ (again whenever it changed, so an
// edit is never run stale) and the bundle runs on plain Node.
import { setFlagsFromString } from 'node:v8';
import { pathToFileURL } from 'node:url';
import { runtime, V8_FLAGS } from '../scripts/runtime.js';

// Before any WebAssembly is compiled: the flags only matter from then on.
V8_FLAGS.forEach((flag) => setFlagsFromString(flag));
const main = await runtime('src/cli/main.ts').catch((err) => {
  process.stderr.write(`gatehouse: ${err.message}\n`);
  process.exit(1);
});
await import(pathToFileURL(main).href);
