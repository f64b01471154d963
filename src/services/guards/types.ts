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

/**
 * How much of one value the guards will scan. Every detector is linear, so characters bound time as well; a value over
 * budget is not scanned at all, and each guard treats it as its mode is configured: `redact` replaces the value whole,
 * `block` refuses what carries it, `flag` records that it went unscanned. Any scanner of text (the injection scanner
 * too) takes the same budget, and callers check it with `overBudget` before scanning.
 */
export interface ScanBudget {
  /** Characters (UTF-16 code units) one value may have and still be scanned. */
  maxChars: number;
}

/** 1 Mi characters: beyond the context window of any model an agent calls, and scanned in tens of milliseconds. */
export const DEFAULT_SCAN_BUDGET: ScanBudget = { maxChars: 1024 * 1024 };

export const overBudget = (text: string, budget: ScanBudget = DEFAULT_SCAN_BUDGET) => text.length > budget.maxChars;

/** What stands in for a value that was over budget, so was replaced whole rather than scanned. */
export const UNSCANNED = '[REDACTED:UNSCANNED]';
