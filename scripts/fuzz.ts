// `npm run fuzz -- --minutes N [--seed S] [--only NAME]`: the socket fuzzer for longer than CI runs it, with random seeds,
// over every listener in turn. Any failure (a connection never ended, a real client no longer served, memory past its
// bound, or a crash of the gateway) prints the input as a row for test/fuzz-regressions.test.ts, and exits 1.
import { randomInt } from 'node:crypto';
import { parseArgs } from 'node:util';
import { fuzzListener, regressionRow, type FuzzFailure } from '../test/support/fuzz.ts';
import { fuzzBed, FUZZ_DRIVERS } from '../test/support/fuzz-gateway.ts';

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '5' }, seed: { type: 'string' }, only: { type: 'string' } } });
const minutes = Number(values.minutes);
if (!(minutes > 0)) {
  console.error('usage: npm run fuzz -- --minutes N [--seed S] [--only postgres|mysql|redis|http|llm|mcp|filesystem|egress]');
  process.exit(2);
}
const drivers = values.only ? FUZZ_DRIVERS.filter((d) => d.name === values.only) : FUZZ_DRIVERS;
if (!drivers.length) {
  console.error(`--only: no listener named ${values.only}`);
  process.exit(2);
}

/** What is on the wire right now: if the gateway crashes (it runs in this process), these are the suspects. */
const inFlight = new Map<string, { protocol: string; seed: number; index: number; chunks: Buffer[] }>();
const report = (f: FuzzFailure) => {
  console.log(`\nFAILURE: ${f.problem}\nAdd this row to REGRESSIONS in test/fuzz-regressions.test.ts:\n${regressionRow(f)}`);
};
const crashed = (err: unknown) => {
  console.log(`\nCRASH: ${(err as Error)?.stack ?? String(err)}\nOne of these inputs was on the wire; add them to REGRESSIONS in test/fuzz-regressions.test.ts:`);
  for (const c of inFlight.values()) console.log(regressionRow({ ...c, chunks: c.chunks.map((b) => b.toString('hex')), problem: 'crashed the gateway' }));
  process.exit(1);
};
process.on('uncaughtException', crashed);
process.on('unhandledRejection', crashed);

const bed = await fuzzBed(drivers);
const deadline = Date.now() + minutes * 60_000;
let rounds = 0;
let cases = 0;
let failed = false;
outer: while (Date.now() < deadline) {
  for (const target of bed.targets) {
    if (Date.now() >= deadline) break outer;
    const seed = values.seed !== undefined ? Number(values.seed) + rounds : randomInt(2 ** 31);
    const started = Date.now();
    const failure = await fuzzListener(target, target.corpus, {
      seed, cases: 400, concurrency: 4, witnessEvery: 50, rssBoundMb: 512,
      onCase: (index, chunks) => {
        inFlight.set(`${target.driver.name}:${index % 4}`, { protocol: target.driver.name, seed, index, chunks });
      },
    });
    cases += 400;
    console.log(`${target.driver.name}: seed ${seed}, 400 cases in ${((Date.now() - started) / 1000).toFixed(1)} s${failure ? ' — FAILED' : ''}`);
    if (failure) {
      report(failure);
      failed = true;
      break outer;
    }
  }
  rounds++;
}
console.log(`${cases} cases over ${bed.targets.map((t) => t.driver.name).join(', ')}: ${failed ? 'a failure, above' : 'no failure'}`);
await bed.close();
process.exit(failed ? 1 : 0);
