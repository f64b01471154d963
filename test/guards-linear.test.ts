// The content guards run in linear time on inputs built to be their worst case, and a value over the scan budget is
// treated as the guard's mode says (redacted whole, refused, noted) instead of being scanned.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ADVERSARIAL } from '../bench/adversarial.ts';
import { createContentGuards } from '../src/pipeline/content-guards.ts';
import { createStreamRedactor, DEFAULT_SCAN_BUDGET, detect, maskJson, redact, UNSCANNED } from '../src/services/guards/index.ts';

const KEY = Buffer.from('test-key-test-key-test-key-32byt');
const SMALL = 24 * 1024;
const FACTOR = 8;
/** Linear cost grows FACTOR times; quadratic, FACTOR² = 64 times. The slack absorbs a loaded 2-core machine. */
const LIMIT = FACTOR * 3;
/** Whatever the input, the guards must stay far from the seconds per cell the issue measured. */
const MAX_MS_PER_KB = 2;

/** CPU time of the fastest of `runs` calls, in ms: the least disturbed run measures the code, not the neighbours. */
function cpuMs(fn: () => void, runs = 3): number {
  fn(); // warm up
  let best = Infinity;
  for (let r = 0; r < runs; r++) {
    const start = process.cpuUsage();
    fn();
    const used = process.cpuUsage(start);
    best = Math.min(best, (used.user + used.system) / 1000);
  }
  return Math.max(best, 0.05); // below the timer's resolution every ratio is noise
}

/** Fails at once on a slow small input (a quadratic one would take minutes at the larger size), else compares sizes. */
function assertLinear(name: string, make: (chars: number) => string, scan: (text: string) => void, maxMsPerKb = MAX_MS_PER_KB, size = SMALL) {
  const small = make(size);
  const smallMs = cpuMs(() => scan(small));
  assert.ok(smallMs / (small.length / 1024) < maxMsPerKb, `${name}: ${smallMs.toFixed(1)} ms for ${small.length} characters`);
  const large = make(size * FACTOR);
  const largeMs = cpuMs(() => scan(large));
  const ratio = largeMs / smallMs;
  assert.ok(ratio < LIMIT, `${name}: ${FACTOR}x the input took ${ratio.toFixed(1)}x the time (${smallMs.toFixed(2)} → ${largeMs.toFixed(2)} ms)`);
}

describe('every detector is linear on its worst-case inputs', () => {
  for (const input of ADVERSARIAL) {
    it(`${input.detector}: ${input.shape}`, () => assertLinear(input.shape, input.make, (text) => detect(text)));
  }

  it('the reported case: a 40 KB cell of digit groups takes milliseconds, not seconds', () => {
    const cell = ADVERSARIAL[0].make(40 * 1024);
    assert.ok(cpuMs(() => detect(cell)) < 50);
  });

  it('property: any mixture of worst-case fragments and prose stays linear', () => {
    const atoms = ['1 ', '4111 1111 1111 1111 ', 'x@a.b.', '1:', 'pass_', 'token="', 'aws_key ', 'glpat-x.', 'eyJhbGciOiJub25lIn0.', '-----BEGIN PRIVATE KEY-----\n', '://a:b@', ' ', 'the quick brown fox ', '== ', '(', ')', '.', '-', '\n'];
    fc.assert(fc.property(fc.array(fc.constantFrom(...atoms), { minLength: 1, maxLength: 6 }), (picked) => {
      const unit = picked.join('');
      assertLinear(JSON.stringify(unit), (n) => unit.repeat(Math.ceil(n / unit.length)), (text) => detect(text));
    }), { seed: 4242, numRuns: 15 });
  });
});

describe('every guard path is linear', () => {
  it('redaction of a text full of findings', () => assertLinear('redact', ADVERSARIAL[1].make, (text) => redact(text, { strategy: 'redact', key: KEY })));

  it('the stream redactor, one character at a time, on one endless word and on an unclosed private key', () => {
    const feed = (text: string) => {
      const r = createStreamRedactor({ strategy: 'redact', key: KEY });
      for (const ch of text) r.push(ch);
      r.flush();
    };
    // One push per character re-judges a short tail every time: a constant factor, allowed more per KB than a scan.
    assertLinear('one word', (n) => 'a'.repeat(n), feed, 10);
    // Past MAX_HOLD (16 KB) the key's tail leaves, redacted as a truncated key: both sizes measure that regime.
    assertLinear('unclosed key', (n) => `-----BEGIN PRIVATE KEY-----\n${'QUJD\n'.repeat(n / 5)}`, feed, 10, 64 * 1024);
    assertLinear('spaced digits', ADVERSARIAL[0].make, feed, 10);
  });

  it('maskJson with descendant rules over deep nesting (states are deduplicated, not doubled per level)', () => {
    let doc: unknown = 'leaf';
    for (let i = 0; i < 200; i++) doc = { a: doc };
    const started = performance.now();
    const { value } = maskJson(doc, { '$..a..a..a..a': 'redact' }, { key: KEY });
    assert.ok(performance.now() - started < 1000);
    let node = value;
    for (let i = 0; i < 200; i++) node = (node as Record<string, unknown>).a;
    assert.equal(node, '[REDACTED]', 'everything under the fourth a is masked');
  });

  it('maskJson replaces nesting deeper than it walks instead of overflowing the stack', () => {
    const deep = JSON.parse(`${'['.repeat(100_000)}"x"${']'.repeat(100_000)}`) as unknown;
    const { value } = maskJson(deep, {}, { key: KEY, detect: true });
    assert.match(JSON.stringify(value), new RegExp(UNSCANNED.replace(/[[\]]/g, '\\$&')));
  });
});

describe('a value over the scan budget is treated as configured, not scanned', () => {
  const huge = 'x'.repeat(DEFAULT_SCAN_BUDGET.maxChars + 1);
  const guards = createContentGuards(KEY);

  it('redact: replaced whole', () => {
    const out = redact(`${huge} ann@example.org`, { strategy: 'redact', key: KEY });
    assert.deepEqual(out, { text: UNSCANNED, findings: [], unscanned: true });
    const viaHook = guards.redact(huge, { injection: 'off', secrets: 'redact', pii: 'redact' });
    assert.equal(viaHook.text, UNSCANNED);
    assert.deepEqual(viaHook.notes.map((n) => [n.guard, n.types]), [['secrets', ['unscanned']], ['pii', ['unscanned']]]);
  });

  it('block: refused, whichever guard (the injection scanner included) blocks', () => {
    for (const policy of [{ injection: 'off', secrets: 'block', pii: 'off' }, { injection: 'block', secrets: 'off', pii: 'off' }] as const) {
      const scan = guards.scan(huge, policy, 'user');
      assert.equal(scan.block?.rule, 'guards.budget');
      assert.match(scan.block!.message, /too large to inspect/);
    }
  });

  it('flag: let through, and noted as unscanned for the audit', () => {
    const scan = guards.scan(huge, { injection: 'flag', secrets: 'flag', pii: 'off' }, 'document');
    assert.equal(scan.block, undefined);
    assert.deepEqual(scan.notes.map((n) => n.guard), ['secrets', 'injection']);
  });
});
