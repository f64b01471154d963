// Masking: strategies, keyed pseudonyms, JSON paths and content, and stream redaction split at every chunk boundary.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createStreamRedactor, detect, maskJson, maskValue, parseJsonPath, redact } from '../src/services/guards/index.ts';

const KEY = Buffer.from('test-key-test-key-test-key-32byt');
const OTHER_KEY = Buffer.from('another-key-another-key-another!!');

describe('maskValue', () => {
  it('redact says nothing about the value', () => {
    // A field mask says nothing about the value: a valid SSN and junk in the same column look the same.
    assert.equal(maskValue('ann@example.org', 'redact', { key: KEY }), '[REDACTED]');
    assert.equal(maskValue('078-05-1123', 'redact', { key: KEY }), '[REDACTED]');
    assert.equal(maskValue('not-an-ssn', 'redact', { key: KEY }), '[REDACTED]');
    assert.equal(maskValue('anything', 'redact', { key: KEY, type: 'us_ssn' }), '[REDACTED]');
  });

  it('partial keeps only a safe part', () => {
    assert.equal(maskValue('john.doe@example.com', 'partial', { key: KEY }), 'j***@example.com');
    assert.equal(maskValue('4111 1111 1111 4242', 'partial', { key: KEY }), '****4242');
    assert.equal(maskValue('078-05-1123', 'partial', { key: KEY }), '***-**-1123');
    assert.equal(maskValue('GB82 WEST 1234 5698 7654 32', 'partial', { key: KEY }), 'GB****5432');
    assert.equal(maskValue('(415) 555-0132', 'partial', { key: KEY }), '****32');
    assert.equal(maskValue('203.0.113.77', 'partial', { key: KEY }), '203.0.*.*');
    assert.equal(maskValue('AKIAZ4QM7TJX2WBN5HRE', 'partial', { key: KEY }), 'AKIA****');
    assert.equal(maskValue('Ann Smith', 'partial', { key: KEY }), '****th');
    assert.equal(maskValue('abc', 'partial', { key: KEY }), '****');
  });

  it('null gives null', () => assert.equal(maskValue('ann@example.org', 'null', { key: KEY }), null));

  it('hash is a deterministic keyed pseudonym', () => {
    const a = maskValue('4111111111111111', 'hash', { key: KEY });
    assert.match(a ?? '', /^h:[0-9a-f]{12}$/);
    assert.equal(maskValue('4111111111111111', 'hash', { key: KEY }), a);
    assert.notEqual(maskValue('4111111111111111', 'hash', { key: OTHER_KEY }), a);
    assert.notEqual(maskValue('5555555555554444', 'hash', { key: KEY }), a);
  });

  it('hash joins differently written forms of one value', () => {
    assert.equal(maskValue('4111 1111 1111 1111', 'hash', { key: KEY }), maskValue('4111-1111-1111-1111', 'hash', { key: KEY }));
    assert.equal(maskValue('Ann@Example.org', 'hash', { key: KEY }), maskValue('ann@example.org', 'hash', { key: KEY }));
  });

  it('hash keeps an e-mail shaped like an e-mail', () => {
    assert.match(maskValue('ann@example.org', 'hash', { key: KEY }) ?? '', /^h[0-9a-f]{12}@pseudonym\.invalid$/);
  });

  it('refuses a short key for pseudonyms', () => {
    assert.throws(() => maskValue('x', 'hash', { key: Buffer.from('short') }), /at least 16 bytes/);
  });
});

describe('redact', () => {
  const text = 'Mail ann@example.org or call (415) 555-0132.';

  it('masks only the detected spans, for each strategy', () => {
    assert.equal(redact(text, { strategy: 'redact', key: KEY }).text, 'Mail [REDACTED:EMAIL] or call [REDACTED:PHONE].');
    assert.equal(redact(text, { strategy: 'partial', key: KEY }).text, 'Mail a***@example.org or call ****32.');
    assert.equal(redact(text, { strategy: 'null', key: KEY }).text, 'Mail  or call .');
    assert.match(redact(text, { strategy: 'hash', key: KEY }).text, /^Mail h[0-9a-f]{12}@pseudonym\.invalid or call h:[0-9a-f]{12}\.$/);
  });

  it('reports the findings it masked, and leaves clean text untouched', () => {
    assert.deepEqual(redact(text, { strategy: 'redact', key: KEY }).findings.map((f) => f.type), ['email', 'phone']);
    assert.deepEqual(redact('nothing here', { strategy: 'redact', key: KEY }), { text: 'nothing here', findings: [] });
  });

  it('respects a types filter', () => {
    assert.equal(redact(text, { strategy: 'redact', key: KEY, types: new Set(['phone']) }).text, 'Mail ann@example.org or call [REDACTED:PHONE].');
  });
});

describe('maskJson', () => {
  const doc = {
    customer: { name: 'Ann', email: 'ann@example.org', note: 'call me at (415) 555-0132' },
    items: [{ sku: 'A-1', card: '4111111111111111' }, { sku: 'B-2', card: 5555555555554444 }],
    deep: { nested: [{ ssn: '078-05-1123' }] },
    'odd key': 'value',
  };
  const original = structuredClone(doc);

  it('masks values reached by paths, with their strategy', () => {
    const { value, masked } = maskJson(doc, { '$.customer.email': 'partial', '$.items[*].card': 'partial', '$..ssn': 'hash' }, { key: KEY });
    const out = value as typeof doc;
    assert.equal(out.customer.email, 'a***@example.org');
    assert.deepEqual(out.items.map((i) => i.card), ['****1111', '****4444']);
    assert.match(out.deep.nested[0].ssn, /^h:[0-9a-f]{12}$/);
    assert.equal(out.customer.note, doc.customer.note);
    assert.equal(masked, 4);
  });

  it('supports indexes, bracket names and wildcards', () => {
    const out = maskJson(doc, { '$.items[1].sku': 'redact', "$['odd key']": 'null', '$.customer.*': 'partial' }, { key: KEY }).value as Record<string, unknown>;
    assert.deepEqual(out.items, [{ sku: 'A-1', card: '4111111111111111' }, { sku: '[REDACTED]', card: 5555555555554444 }]);
    assert.equal(out['odd key'], null);
    assert.equal((out.customer as Record<string, string>).email, 'a***@example.org');
  });

  it('masks every leaf under a container, and null replaces it whole', () => {
    const out = maskJson(doc, { '$.customer': 'redact', '$.deep': 'null' }, { key: KEY }).value as Record<string, unknown>;
    assert.deepEqual(out.customer, { name: '[REDACTED]', email: '[REDACTED]', note: '[REDACTED]' }, 'a field mask says nothing about the value');
    assert.equal(out.deep, null);
  });

  it('lets the stricter strategy win when two rules reach one value', () => {
    const out = maskJson(doc, { '$..email': 'partial', '$.customer.email': 'null' }, { key: KEY }).value as typeof doc;
    assert.equal(out.customer.email, null);
  });

  it('redacts by content in every other string leaf with detect', () => {
    const { value, masked } = maskJson(doc, { '$..ssn': 'hash' }, { key: KEY, detect: true });
    const out = value as typeof doc;
    assert.equal(out.customer.email, '[REDACTED:EMAIL]');
    assert.equal(out.customer.note, 'call me at [REDACTED:PHONE]');
    assert.equal(out.items[0].card, '[REDACTED:CREDIT_CARD]');
    assert.equal(out.items[1].card, 5555555555554444); // numbers are masked by path only
    assert.equal(masked, 4);
  });

  it('never mutates its input and shares untouched subtrees', () => {
    const { value } = maskJson(doc, { '$.customer.email': 'redact' }, { key: KEY });
    assert.deepEqual(doc, original);
    assert.equal((value as typeof doc).items, doc.items);
  });

  it('keeps a __proto__ key as data', () => {
    const parsed: unknown = JSON.parse('{"__proto__": {"ssn": "078-05-1123"}}');
    const out = maskJson(parsed, { '$..ssn': 'redact' }, { key: KEY }).value as Record<string, unknown>;
    assert.deepEqual(Object.keys(out), ['__proto__']);
    assert.equal(Object.getPrototypeOf(out), Object.prototype);
    assert.deepEqual(Object.getOwnPropertyDescriptor(out, '__proto__')?.value, { ssn: '[REDACTED]' });
  });

  it('rejects unsupported paths', () => {
    assert.throws(() => parseJsonPath('customer.email'), SyntaxError);
    assert.throws(() => parseJsonPath('$.items[?(@.x)]'), SyntaxError);
    assert.throws(() => parseJsonPath('$..'), SyntaxError);
    assert.deepEqual(parseJsonPath("$..['a b'][2].*"), [{ kind: 'descendant', name: 'a b' }, { kind: 'index', index: 2 }, { kind: 'wildcard' }]);
  });
});

describe('createStreamRedactor', () => {
  const stream = (chunks: string[], strategy: 'redact' | 'hash' = 'redact') => {
    const r = createStreamRedactor({ strategy, key: KEY });
    const out = chunks.map((c) => r.push(c)).join('') + r.flush();
    return { out, findings: r.findings };
  };

  const TEXTS = [
    'Write to john.doe@example.com, thanks.',
    'Card: 4111 1111 1111 1111 expires 12/29',
    'export GITHUB_TOKEN=ghp_R2d9Kx7Qm4Tz8Lw1Vb6Nc3Hy5Jp0Fs2Ga4Ue and go',
    'password = "correct horse battery staple" done',
    'IBAN GB82 WEST 1234 5698 7654 32, phone +44 20 7123 4567.',
    '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDAC4AWkdwKYSd8\n-----END PRIVATE KEY----- ok',
    'user = "ann"\napi_key = \'Zx8Kq2Lm9Pw4Rt7Vb3\' and `done`',
  ];

  for (const text of TEXTS) {
    it(`matches batch redaction when split at any boundary: ${JSON.stringify(text.slice(0, 32))}`, () => {
      const expected = redact(text, { strategy: 'hash', key: KEY });
      for (let i = 0; i <= text.length; i++) {
        const { out, findings } = stream([text.slice(0, i), text.slice(i)], 'hash');
        assert.equal(out, expected.text, `split at ${i}`);
        assert.deepEqual(findings, expected.findings, `findings when split at ${i}`);
      }
    });
  }

  it('matches batch redaction when split at every pair of boundaries', () => {
    const text = 'mail ann@example.org, card 4111-1111-1111-1111, key AKIAZ4QM7TJX2WBN5HRE.';
    const expected = redact(text, { strategy: 'redact', key: KEY }).text;
    for (let i = 0; i <= text.length; i++) {
      for (let j = i; j <= text.length; j++) {
        assert.equal(stream([text.slice(0, i), text.slice(i, j), text.slice(j)]).out, expected, `split at ${i}, ${j}`);
      }
    }
  });

  it('matches batch redaction when fed one character at a time', () => {
    const text = TEXTS.join('\n');
    assert.equal(stream([...text]).out, redact(text, { strategy: 'redact', key: KEY }).text);
  });

  it('emits at once what no match can still need, and holds back the rest', () => {
    const r = createStreamRedactor({ strategy: 'redact', key: KEY });
    assert.equal(r.push('Hello there, write to jo'), 'Hello there, write to ');
    // The address is complete once a space follows it; "call 415" may still be the start of a phone number.
    assert.equal(r.push('hn@example.com or call 415'), '[REDACTED:EMAIL] or ');
    assert.equal(r.push(' 555 0132 today'), 'call [REDACTED:PHONE] ');
    assert.equal(r.flush(), 'today');
    assert.deepEqual(r.findings.map((f) => [f.type, f.start]), [['email', 22], ['phone', 47]]);
  });

  it('holds a private key until its END line', () => {
    const r = createStreamRedactor({ strategy: 'redact', key: KEY });
    assert.equal(r.push('key:\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEF\n'), 'key:\n');
    assert.equal(r.push('AASCBKcwggSjAgEAAoIBAQDAC4AW\n'), '');
    assert.equal(r.push('-----END PRIVATE KEY-----\n'), '[REDACTED:PRIVATE_KEY]\n');
  });

  it('refuses a short key at creation', () => {
    assert.throws(() => createStreamRedactor({ strategy: 'redact', key: Buffer.alloc(4) }), /at least 16 bytes/);
  });

  it('agrees with detect() about what it found', () => {
    const text = TEXTS.join(' ');
    assert.deepEqual(stream([text.slice(0, 50), text.slice(50)]).findings, detect(text));
  });
});
