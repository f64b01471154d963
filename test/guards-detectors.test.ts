// Detectors: for every type, values that must be found (with their exact span) and near-misses that must not be.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { detect, PII, SECRETS, type DetectorType } from '../src/services/guards/index.ts';

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const BASE64URL = `${ALNUM}_-`;
const BASE64 = `${ALNUM}+/`;

/** A deterministic random-looking token body: real tokens are random, and fixtures like `AAAA…` are placeholders. */
function random(length: number, alphabet = ALNUM, seed = 'guards'): string {
  let out = '';
  for (let i = 0; out.length < length; i++) {
    for (const byte of createHash('sha256').update(`${seed}:${i}`).digest()) {
      if (out.length < length) out += alphabet[byte % alphabet.length];
    }
  }
  return out;
}

const jwt = `eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.${Buffer.from('{"sub":"42","name":"Ann"}').toString('base64url')}.${random(43, BASE64URL)}`;
const privateKey = `-----BEGIN RSA PRIVATE KEY-----\n${random(64, BASE64)}\n${random(40, BASE64, 'tail')}==\n-----END RSA PRIVATE KEY-----`;

/** [type, text, the value that must be found]. */
const POSITIVES: [DetectorType, string, string][] = [
  ['email', 'Contact john.doe+tag@example.co.uk today', 'john.doe+tag@example.co.uk'],
  ['email', 'IDN: a@xn--d1acufc.xn--p1ai', 'a@xn--d1acufc.xn--p1ai'],
  ['phone', 'call (415) 555-0132 now', '(415) 555-0132'],
  ['phone', 'my number is +44 20 7123 4567.', '+44 20 7123 4567'],
  ['phone', 'fax +1-903-140-4508x769', '+1-903-140-4508x769'],
  ['phone', 'Phone: 0490 75 40 81', '0490 75 40 81'],
  ['phone', 'Mobile: 01.84.17.61.18', '01.84.17.61.18'],
  ['phone', 'Can you call me on 450 0840?', '450 0840'],
  ['credit_card', 'card 4111 1111 1111 1111 on file', '4111 1111 1111 1111'],
  ['credit_card', 'card 5555-5555-5555-4444', '5555-5555-5555-4444'],
  ['credit_card', 'amex 378282246310005', '378282246310005'],
  ['us_ssn', 'ssn 078-05-1123', '078-05-1123'],
  ['us_ssn', 'SSN: 078051121', '078051121'],
  ['us_ssn', 'id 514 69 0360', '514 69 0360'],
  ['iban', 'pay GB82 WEST 1234 5698 7654 32 today', 'GB82 WEST 1234 5698 7654 32'],
  ['iban', 'IBAN DE89370400440532013000.', 'DE89370400440532013000'],
  ['iban', 'iban de89370400440532013000', 'de89370400440532013000'],
  ['ip_address', 'from 203.0.113.77, then', '203.0.113.77'],
  ['ip_address', 'net 10.0.0.0/8 ok', '10.0.0.0/8'],
  ['ip_address', 'v6 2001:db8::1.', '2001:db8::1'],
  ['ip_address', 'mapped [::ffff:192.0.2.1]:80', '::ffff:192.0.2.1'],
  ['ip_address', 'link fe80::1%eth0/64', 'fe80::1%eth0/64'],
  ['aws_access_key', 'key AKIAZ4QM7TJX2WBN5HRE here', 'AKIAZ4QM7TJX2WBN5HRE'],
  ['aws_secret_key', `aws_secret_access_key = "${random(40, BASE64)}"`, random(40, BASE64)],
  ['github_token', `GITHUB_TOKEN=ghp_${random(36)}`, `ghp_${random(36)}`],
  ['github_token', `token github_pat_${random(82, `${ALNUM}_`)}`, `github_pat_${random(82, `${ALNUM}_`)}`],
  ['gitlab_token', `glpat-${random(20)}`, `glpat-${random(20)}`],
  ['slack_token', `SLACK=xoxb-2873650192-4417829305161-${random(24)}`, `xoxb-2873650192-4417829305161-${random(24)}`],
  ['stripe_key', `stripe sk_live_${random(24)}`, `sk_live_${random(24)}`],
  ['openai_key', `OPENAI_API_KEY=sk-proj-${random(20)}T3BlbkFJ${random(20, ALNUM, 'x')}`, `sk-proj-${random(20)}T3BlbkFJ${random(20, ALNUM, 'x')}`],
  ['anthropic_key', `key: sk-ant-api03-${random(93, BASE64URL)}AA`, `sk-ant-api03-${random(93, BASE64URL)}AA`],
  ['api_token', `google AIza${random(35, BASE64URL)}`, `AIza${random(35, BASE64URL)}`],
  ['jwt', `Authorization: Bearer ${jwt}`, jwt],
  ['private_key', `key:\n${privateKey}\n`, privateKey],
  ['gatehouse_token', `Bearer gth_${random(43, BASE64URL)}`, `gth_${random(43, BASE64URL)}`],
  ['generic_secret', 'password = "Tr0ub4dor&3xK!"', 'Tr0ub4dor&3xK!'],
  ['generic_secret', 'DB_PASSWORD=s3cr3tValue2024x', 's3cr3tValue2024x'],
  ['generic_secret', 'postgres://admin:Zx9vQ2mP@db.internal/crm', 'Zx9vQ2mP'],
  ['generic_secret', '"client_secret": "9f8e7d6c5b4a39281706f5e4d3c2b1a0"', '9f8e7d6c5b4a39281706f5e4d3c2b1a0'],
];

/** [type that must not be found, text]. */
const NEAR_MISSES: [DetectorType, string][] = [
  ['email', 'Decorators like @app.route("/") are common'],
  ['email', 'write to support [at] example [dot] com'],
  ['phone', 'Order 12345 shipped on 2024-03-08 at 10:30'],
  ['phone', 'Call extension 555-0199 for the front desk'],
  ['credit_card', 'bad 4111 1111 1111 1112 (Luhn fails)'],
  ['credit_card', 'ts 1748503543012 is a millisecond timestamp'],
  ['us_ssn', 'area 666-12-3456'],
  ['us_ssn', 'area 000-12-3456'],
  ['us_ssn', 'ITIN range 912-34-5678'],
  ['us_ssn', 'serial 123-45-0000'],
  ['us_ssn', 'group 078-00-1123'],
  ['us_ssn', 'order number 078051121'],
  ['iban', 'checksum GB82 WEST 1234 5698 7654 33'],
  ['iban', 'mixed case LV80 bANK 0000 4351 9500 1'],
  ['ip_address', 'Please upgrade to 10.0.19045.3086 first'],
  ['ip_address', 'Bumped dependency foo to 2.4.1.8'],
  ['ip_address', 'leading zero 1.2.3.04'],
  ['ip_address', 'Time 12:34:56, std::cout, MAC aa:bb:cc:dd:ee:ff'],
  ['ip_address', 'text192.168.1.1'],
  ['aws_access_key', 'The documented key AKIAIOSFODNN7EXAMPLE'],
  ['github_token', 'ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'],
  ['private_key', `-----BEGIN PUBLIC KEY-----\n${random(64, BASE64)}\n-----END PUBLIC KEY-----`],
  ['private_key', `-----BEGIN CERTIFICATE-----\n${random(64, BASE64)}\n-----END CERTIFICATE-----`],
  ['jwt', 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9 (a header alone)'],
  ['generic_secret', 'password = ${DB_PASSWORD}'],
  ['generic_secret', 'password: "{{ vault.db_password }}"'],
  ['generic_secret', 'api_key = os.environ["API_KEY"]'],
  ['generic_secret', 'token_type: bearer, max_tokens = 1024'],
  ['generic_secret', 'Your token is valid until tomorrow.'],
];

/** Identifiers that look random but are not secrets: no detector may fire. */
const HARMLESS = [
  'Request 3f2504e0-4f89-11d3-9a0c-0305e82c3301 was retried',
  'Commit 9fceb02d0ae598e95dc970b74767f19372d61af8 fixed the race',
  'The quick brown fox jumps over the lazy dog; version 2.4.1 ships in 2024.',
];

describe('detect: positives', () => {
  for (const [type, text, value] of POSITIVES) {
    it(`${type}: ${text.slice(0, 48)}`, () => {
      const found = detect(text).filter((f) => f.type === type);
      assert.deepEqual(found.map((f) => f.value), [value]);
      assert.equal(text.slice(found[0].start, found[0].end), value);
    });
  }
});

describe('detect: near-misses', () => {
  for (const [type, text] of NEAR_MISSES) {
    it(`not ${type}: ${text.slice(0, 48)}`, () => {
      assert.deepEqual(detect(text).filter((f) => f.type === type), []);
    });
  }
  for (const text of HARMLESS) {
    it(`nothing in: ${text}`, () => assert.deepEqual(detect(text), []));
  }
});

describe('detect: findings', () => {
  const text = `mail ann@example.org, card 4111 1111 1111 1111, ip 192.168.1.1, token=${jwt}, phone (415) 555-0132`;

  it('are sorted, non-overlapping and equal to their slice of the text', () => {
    const found = detect(text);
    assert.deepEqual(found.map((f) => f.type), ['email', 'credit_card', 'ip_address', 'jwt', 'phone']);
    for (let i = 0; i < found.length; i++) {
      assert.equal(text.slice(found[i].start, found[i].end), found[i].value);
      if (i > 0) assert.ok(found[i - 1].end <= found[i].start);
    }
  });

  it('prefer the more specific type when detectors overlap', () => {
    // `token=<jwt>` is also a keyword assignment; the JWT detector wins.
    assert.equal(detect(`token=${jwt}`)[0].type, 'jwt');
    assert.equal(detect(`GITHUB_TOKEN=ghp_${random(36)}`)[0].type, 'github_token');
  });

  it('can be limited to some types', () => {
    assert.deepEqual(detect(text, { types: new Set(['email', 'phone']) }).map((f) => f.type), ['email', 'phone']);
    assert.deepEqual(detect(text, { types: SECRETS }).map((f) => f.type), ['jwt']);
    assert.ok(detect(text, { types: PII }).every((f) => PII.has(f.type)));
  });

  it('use UTF-16 offsets after astral characters', () => {
    const [f] = detect('😀 mail ann@example.org');
    assert.deepEqual([f.start, f.end], [8, 23]);
  });

  it('are empty for empty text', () => assert.deepEqual(detect(''), []));
});
