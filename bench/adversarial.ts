// Inputs built to make each content detector do the most work per character: the guards bench times them, and the
// linear-time test (test/guards-linear.test.ts) checks that their cost grows in proportion to their length.

export interface AdversarialInput {
  /** The detector (or guard path) the input targets. */
  detector: string;
  /** What makes it expensive. */
  shape: string;
  /** The input, about `chars` long. */
  make(chars: number): string;
}

/** `unit` repeated to about `chars` characters. */
const repeat = (unit: string, chars: number) => unit.repeat(Math.max(1, Math.ceil(chars / unit.length)));
/** `head`, then `fill` to about `chars`, then `tail`. */
const padded = (head: string, fill: string, tail: string, chars: number) => head + repeat(fill, chars - head.length - tail.length) + tail;

export const ADVERSARIAL: readonly AdversarialInput[] = [
  { detector: 'number', shape: 'space-separated digit groups (the reported 40 KB cell)', make: (n) => repeat('1 ', n) },
  { detector: 'number', shape: 'card numbers back to back in one run', make: (n) => repeat('4111 1111 1111 1111 ', n) },
  { detector: 'number', shape: 'dash- and dot-joined groups', make: (n) => repeat('12-34.', n) },
  { detector: 'number', shape: 'parenthesised groups', make: (n) => repeat('(1) ', n) },
  { detector: 'number', shape: 'one enormous digit group', make: (n) => repeat('7', n) },
  { detector: 'email', shape: 'at-signs with long dotted domains', make: (n) => repeat(`x@${repeat('a.', 300)}`, n) },
  { detector: 'email', shape: 'local parts without a domain', make: (n) => repeat('a.b+c@', n) },
  { detector: 'ip_address', shape: 'colon-separated hex groups', make: (n) => repeat('1:', n) },
  { detector: 'ip_address', shape: 'dotted quads glued together', make: (n) => repeat('10.0.0.1.', n) },
  { detector: 'iban', shape: 'IBAN-like prefixes', make: (n) => repeat('GB82 WEST ', n) },
  { detector: 'generic_secret', shape: 'keywords starting word parts of one identifier', make: (n) => repeat('pass_', n) },
  { detector: 'generic_secret', shape: 'a keyword, then a long run of spaces', make: (n) => padded('password', ' ', 'x', n) },
  { detector: 'generic_secret', shape: 'keywords with an opening quote never closed', make: (n) => repeat('token="', n) },
  { detector: 'generic_secret', shape: 'compared literals', make: (n) => repeat('"abcdefgh12" == pass ', n) },
  { detector: 'generic_secret', shape: 'XML elements named like secrets', make: (n) => repeat('<apiToken> ', n) },
  { detector: 'generic_secret', shape: 'a secret value of angle brackets (placeholder check)', make: (n) => repeat(`secret = "${'<'.repeat(1000)}"\n`, n) },
  { detector: 'generic_secret', shape: 'URL credentials', make: (n) => repeat('://a:b@', n) },
  { detector: 'aws_secret_key', shape: 'aws keyword, then whitespace', make: (n) => padded('aws_secret_access_key', ' ', '=', n) },
  { detector: 'aws_secret_key', shape: 'aws keywords back to back', make: (n) => repeat('aws_key ', n) },
  { detector: 'gitlab_token', shape: 'token prefixes joined by dots', make: (n) => repeat('glpat-x.', n) },
  { detector: 'slack_token', shape: 'token prefixes with digit runs', make: (n) => repeat('xoxb-123456-', n) },
  { detector: 'openai_key', shape: 'an sk- prefix, then token characters', make: (n) => padded('sk-', 'a', '', n) },
  { detector: 'api_token', shape: 'a pypi prefix, then token characters', make: (n) => padded('pypi-AgEIcHlwaS5vcmc', 'a', '', n) },
  { detector: 'jwt', shape: 'JWT-looking segments joined by dots', make: (n) => repeat('eyJhbGciOiJub25lIn0.', n) },
  { detector: 'private_key', shape: 'PEM headers without an END line', make: (n) => repeat('-----BEGIN PRIVATE KEY-----\nMIIE\n', n) },
  { detector: 'slack_token', shape: 'webhook prefixes', make: (n) => repeat('hooks.slack.com/services/', n) },
];
