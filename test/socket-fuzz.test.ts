// The bounded socket fuzzer in CI: for every listener, mutated real frames (lengths, types, truncation, interleaving)
// from a fixed seed. The gateway must stay up, end every broken connection, keep serving a real client, and stay under
// a memory bound. `npm run fuzz -- --minutes N` runs the same for longer with random seeds.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fuzzListener, regressionRow } from './support/fuzz.ts';
import { fuzzBed, FUZZ_DRIVERS, type FuzzBed } from './support/fuzz-gateway.ts';

const SEED = 0x23_50c7;
/**
 * Cases per protocol: 2,000 took 5-12 s each on two loaded cores (59 s for seven; the filesystem listener joined after), inside a CI budget of about three minutes. The issue
 * suggested about a minute per protocol; the CI budget for the whole suite wins, and `npm run fuzz` is the long run.
 */
const CASES = 2000;

describe('socket fuzzer', () => {
  let bed: FuzzBed;
  before(async () => { bed = await fuzzBed(); });
  after(async () => { await bed?.close(); });

  for (const driver of FUZZ_DRIVERS) {
    test(`${driver.name}: ${CASES} mutated sessions leave the gateway up, every connection ended, a real client served, memory bounded`, { timeout: 180_000 }, async () => {
      const target = bed.targets.find((t) => t.driver === driver)!;
      assert.ok(target.corpus.length >= 2, 'recorded a corpus of real frames');
      const failure = await fuzzListener(target, target.corpus, { seed: SEED, cases: CASES, concurrency: 4, witnessEvery: 100, rssBoundMb: 256 });
      assert.equal(failure, undefined, failure && `${failure.problem}\n${regressionRow(failure)}`);
    });
  }
});
