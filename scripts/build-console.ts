// Builds the web console's browser bundle once (dist/console/app.js); `npm install` runs it through the `prepare` script.
import { relative } from 'node:path';
import { writeBundle } from '../src/admin/console/bundle.ts';

const started = performance.now();
const file = await writeBundle();
console.log(`console bundle: ${relative(process.cwd(), file)} (${Math.round(performance.now() - started)} ms)`);
