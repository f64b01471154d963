// Masking strategies: what replaces a detected span or a whole field value. Deterministic for a given key.
import { createHmac } from 'node:crypto';
import { detect } from './detectors.ts';
import { overBudget, UNSCANNED, type DetectorType, type Finding, type MaskStrategy, type ScanBudget } from './types.ts';

export interface MaskOptions {
  /** HMAC key for `hash` pseudonyms (the gateway's `secret`); at least 16 bytes. */
  key: Buffer;
  types?: ReadonlySet<DetectorType>;
  /** A value longer than this is not scanned but replaced whole (default DEFAULT_SCAN_BUDGET). */
  budget?: ScanBudget;
}

/** Fails at setup rather than on the first hashed value: a short key makes pseudonyms guessable by brute force. */
export function assertKey(key: Buffer): void {
  if (!Buffer.isBuffer(key) || key.length < 16) throw new TypeError('guards: the masking key must be a Buffer of at least 16 bytes');
}

const label = (type: DetectorType | undefined) => (type ? `[REDACTED:${type.toUpperCase()}]` : '[REDACTED]');

/** Non-secret prefixes that say what kind of credential was masked (`ghp_****`), never any of its secret part. */
const TOKEN_PREFIX = /^(?:gh[pousr]_|github_pat_|gl[a-z]+-|GR1348941|xox[a-z](?:\.xox[a-z])?-|xapp-|[sr]k_(?:live|test|prod)_|sk-ant-|sk-|AKIA|ASIA|ABIA|ACCA|gth_|AIza|SG\.|npm_|pypi-|hf_|shp[a-z]{2}_|do[opr]_v1_)/;

const lastChars = (value: string, n: number) => value.replace(/[^0-9A-Za-z]/g, '').slice(-n);

/** Keeps what is safe to show: a card's last four, an e-mail's domain, an address's network, a token's vendor prefix. */
function partial(value: string, type: DetectorType | undefined): string {
  switch (type) {
    case 'email':
      return `${value[0]}***${value.slice(value.lastIndexOf('@'))}`;
    case 'credit_card':
      return `****${lastChars(value, 4)}`;
    case 'us_ssn':
      return `***-**-${lastChars(value, 4)}`;
    case 'iban':
      return `${value.slice(0, 2).toUpperCase()}****${lastChars(value, 4)}`;
    case 'phone':
      return `****${lastChars(value, 2)}`;
    case 'ip_address':
      return value.includes(':') ? `${value.split(':')[0]}:*` : `${value.split('.').slice(0, 2).join('.')}.*.*`;
    case 'private_key':
    case 'jwt':
    case 'generic_secret':
    case 'aws_secret_key':
      return label(type);
    case undefined: {
      // Unknown content: at most a quarter of it, and never more than four characters.
      const keep = Math.min(4, Math.floor(value.length / 4));
      return `****${keep > 0 ? value.slice(-keep) : ''}`;
    }
    default:
      return `${TOKEN_PREFIX.exec(value)?.[0] ?? ''}****`;
  }
}

/** The same entity written differently (`4111 1111…` / `4111-1111…`, `Ann@X.com` / `ann@x.com`) gets the same pseudonym. */
function canonical(value: string, type: DetectorType | undefined): string {
  switch (type) {
    case 'email':
      return value.trim().toLowerCase();
    case 'credit_card':
    case 'us_ssn':
    case 'iban':
    case 'phone':
      return value.replace(/[^0-9A-Za-z+]/g, '').toUpperCase();
    case 'ip_address':
      return value.toLowerCase();
    default:
      return value;
  }
}

/** Keyed pseudonym: equal inputs give equal outputs under one key, so masked values can still be joined and grouped. */
function pseudonym(value: string, type: DetectorType | undefined, key: Buffer): string {
  assertKey(key);
  const digest = createHmac('sha256', key).update(canonical(value, type)).digest('hex').slice(0, 12);
  // E-mails keep an e-mail's shape so that downstream validation still accepts them; `.invalid` never resolves.
  return type === 'email' ? `h${digest}@pseudonym.invalid` : `h:${digest}`;
}

/** The replacement for `value`, detected as `type` (or of unknown type). Inside a text, `null` removes the span. */
export function maskAs(value: string, type: DetectorType | undefined, strategy: MaskStrategy, key: Buffer): string {
  switch (strategy) {
    case 'redact':
      return label(type);
    case 'partial':
      return partial(value, type);
    case 'hash':
      return pseudonym(value, type, key);
    case 'null':
      return '';
  }
}

/** The type of a value that is, as a whole, one detectable entity (a column holding only an e-mail address). */
function typeOf(value: string): DetectorType | undefined {
  if (overBudget(value)) return undefined; // no entity is that long: not worth a scan
  const trimmed = value.trim();
  const found = detect(trimmed);
  return found.length === 1 && found[0].start === 0 && found[0].end === trimmed.length ? found[0].type : undefined;
}

/**
 * Masks a whole column or field value. `redact` says nothing about the value — not even what kind of value it was, which
 * would tell valid SSNs from the rest — so it is always `[REDACTED]`. Without `type`, the value's own content decides how
 * `partial` (which shows a part by design) and `hash` shape it.
 */
export function maskValue(value: string, strategy: MaskStrategy, opts: { key: Buffer; type?: DetectorType }): string | null {
  if (strategy === 'null') return null;
  if (strategy === 'redact') return label(undefined);
  return maskAs(value, opts.type ?? typeOf(value), strategy, opts.key);
}

/** Masks only the detected spans of `text`; a text over the scan budget is replaced whole (`unscanned`). */
export function redact(text: string, opts: MaskOptions & { strategy: MaskStrategy }): { text: string; findings: Finding[]; unscanned?: true } {
  if (overBudget(text, opts.budget)) return { text: UNSCANNED, findings: [], unscanned: true };
  const findings = detect(text, { types: opts.types });
  if (findings.length === 0) return { text, findings };
  let out = '';
  let from = 0;
  for (const f of findings) {
    out += text.slice(from, f.start) + maskAs(f.value, f.type, opts.strategy, opts.key);
    from = f.end;
  }
  return { text: out + text.slice(from), findings };
}
