// The vocabulary shared by every guard: what a detector can find, and where it found it.

export const PII_TYPES = ['email', 'phone', 'credit_card', 'us_ssn', 'iban', 'ip_address'] as const;

export const SECRET_TYPES = [
  'aws_access_key', 'aws_secret_key', 'github_token', 'gitlab_token', 'slack_token', 'stripe_key',
  'openai_key', 'anthropic_key', 'api_token', 'jwt', 'private_key', 'gatehouse_token', 'generic_secret',
] as const;

export type DetectorType = (typeof PII_TYPES)[number] | (typeof SECRET_TYPES)[number];

/** One detected span of `text`: `text.slice(start, end) === value`. */
export interface Finding {
  type: DetectorType;
  start: number;
  end: number;
  value: string;
}

/** Convenient `types` filters for the `pii` and `secrets` guards of a grant. */
export const PII: ReadonlySet<DetectorType> = new Set(PII_TYPES);
export const SECRETS: ReadonlySet<DetectorType> = new Set(SECRET_TYPES);
export const ALL_TYPES: ReadonlySet<DetectorType> = new Set([...PII_TYPES, ...SECRET_TYPES]);

/** How a masked value is rewritten: hidden, partly shown, pseudonymised (keyed hash), or nulled. */
export type MaskStrategy = 'redact' | 'partial' | 'hash' | 'null';
