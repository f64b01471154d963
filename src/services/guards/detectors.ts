// Finds PII and secrets in text. One combined pre-filter regex finds anchors (an '@', a digit, a vendor prefix, a keyword);
// only there does the anchor's matcher run its sticky regex and validators. Findings are reported, never acted on.
//
// Linear time. The pre-filter visits each position once; every matcher reads a bounded window around its anchor, so
// the whole scan costs at most (text length) x (the largest window) — with no window growing with the text. The bound
// of each matcher, in characters read per anchor (look-behind + look-ahead), is written beside it as `Reads:`. Where a
// token has no natural maximum (a run of digits, an identifier), the window is capped well above any real value and
// a longer one is not that kind of value. Every quantifier in a sticky regex is bounded, and no two unbounded ones
// meet, so no regex backtracks more than its window. test/guards-linear.test.ts holds them to it, with inputs built
// to be worst cases (bench/adversarial.ts).
import { isIPv6 } from 'node:net';
import { ALL_TYPES, type DetectorType, type Finding } from './types.ts';
import {
  entropy, ibanLength, ibanValid, ipv4Valid, isPlaceholder, isTemplated, jwtHeaderValid, luhnValid, ssnValid,
} from './validators.ts';

interface Span {
  type: DetectorType;
  start: number;
  end: number;
}

/**
 * One alternative of the pre-filter. `match` runs where `anchor` matched and returns the index to resume scanning
 * from, or undefined when the anchor was a false alarm.
 */
interface Matcher {
  anchor: string;
  /** A character class holding every character `anchor` can start with: which matchers to try where the pre-filter stops. */
  first: string;
  types: readonly DetectorType[];
  match(text: string, at: number, found: Span[], scan: ScanState): number | undefined;
}

/**
 * What one scan of one text remembers between anchors, so that no matcher reads the same stretch twice: where the next
 * PEM footer is (the search only ever moves forward), and the extent of the last run of each kind of character read
 * (an identifier, a token body, hex digits and colons) — anchors inside one run share its ends.
 */
class ScanState {
  private footerFrom = 0;
  private footerAt = -2; // -2: not searched yet; -1: none after footerFrom
  /** text[hexFrom, hexTo) is all hex digits and colons. */
  private hexFrom = 0;
  private hexTo = 0;
  private readonly runs = new Map<(c: number) => boolean, { start: number; end: number }>();

  constructor(private readonly text: string) {}

  /** The run of `is` characters around `at` (which must be one): each character is read once per kind per scan. */
  run(at: number, is: (c: number) => boolean): { start: number; end: number } {
    const last = this.runs.get(is);
    if (last && at >= last.start && at < last.end) return last;
    let start = at;
    while (start > 0 && is(this.text.charCodeAt(start - 1))) start--;
    let end = at;
    while (end < this.text.length && is(this.text.charCodeAt(end))) end++;
    const found = { start, end };
    this.runs.set(is, found);
    return found;
  }

  /** Where the run of hex digits and colons that ends at `at` starts. */
  hexRunStart(at: number): number {
    let to = this.hexTo;
    if (at >= to && to > this.hexFrom) {
      while (to < at && isHexOrColon(this.text.charCodeAt(to))) to++;
      if (to === at) {
        this.hexTo = at;
        return this.hexFrom;
      }
    }
    let from = at;
    while (from > 0 && isHexOrColon(this.text.charCodeAt(from - 1))) from--;
    this.hexFrom = from;
    this.hexTo = at;
    return from;
  }

  /** The first `-----END ` at or after `from`, or -1. */
  pemFooterAfter(from: number): number {
    if (this.footerAt === -2 || from < this.footerFrom || (this.footerAt >= 0 && this.footerAt < from)) {
      this.footerFrom = from;
      this.footerAt = this.text.indexOf('-----END ', from);
    }
    return this.footerAt;
  }
}

/** When two findings overlap, the more specific detector wins (a JWT inside `token=...` is a JWT, not a generic secret). */
const PRIORITY: Record<DetectorType, number> = {
  private_key: 100, jwt: 90, gatehouse_token: 85, github_token: 80, gitlab_token: 80, slack_token: 80, stripe_key: 80,
  openai_key: 80, anthropic_key: 80, api_token: 80, aws_access_key: 80, aws_secret_key: 75, generic_secret: 60,
  iban: 50, credit_card: 45, us_ssn: 44, email: 40, ip_address: 35, phone: 30,
};

// ---------------------------------------------------------------------------------------------------------------
// Character classes, by char code: cheaper than a regex for the one-character boundary checks done at every anchor.

const isDigit = (c: number) => c >= 48 && c <= 57;
const isAlpha = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
const isAlnum = (c: number) => isDigit(c) || isAlpha(c);
const isWord = (c: number) => isAlnum(c) || c === 95; // [A-Za-z0-9_]
const isTokenChar = (c: number) => isWord(c) || c === 45; // [A-Za-z0-9_-]
const isWordOrDot = (c: number) => isWord(c) || c === 46;
const isLocalPartChar = (c: number) => isAlnum(c) || c === 46 || c === 95 || c === 37 || c === 43 || c === 45; // . _ % + -

/** True when the character before `at` cannot be part of the same token (start of text counts as a boundary). */
const boundaryBefore = (text: string, at: number, partOfToken: (c: number) => boolean) =>
  at === 0 || !partOfToken(text.charCodeAt(at - 1));

/** Runs a sticky regex at exactly `at`. */
function stickyAt(re: RegExp, text: string, at: number): RegExpExecArray | null {
  re.lastIndex = at;
  return re.exec(text);
}

/** `password` → `[pP][aA]...`: the pre-filter mixes case-sensitive vendor prefixes with case-insensitive keywords. */
const caseless = (word: string) => word.replace(/[a-z]/g, (ch) => `[${ch}${ch.toUpperCase()}]`);

// ---------------------------------------------------------------------------------------------------------------
// Structured tokens: a fixed prefix, then a body of known alphabet and length.

/** A vendor token recognised by its own regex (sticky, anchored at the prefix); placeholders like `ghp_xxxx…` are skipped. */
function tokenMatcher(anchor: string, first: string, type: DetectorType, patterns: RegExp[]): Matcher {
  return {
    anchor,
    first,
    types: [type],
    match(text, at, found) {
      if (!boundaryBefore(text, at, isTokenChar)) return undefined;
      for (const re of patterns) {
        const m = stickyAt(re, text, at);
        // Look a little past the match too: `xoxp-5723…-####` is a token with its tail masked out.
        if (m && !isPlaceholder(text.slice(at, at + m[0].length + 4))) {
          found.push({ type, start: at, end: at + m[0].length });
          return at + m[0].length;
        }
      }
      return undefined;
    },
  };
}

const TOKEN_END = '(?![A-Za-z0-9_-])';

// Reads: the token (at most 266 characters) and 4 past it, for each vendor below (its regex's longest match).
const githubMatcher = tokenMatcher('gh[pousr]_|github_pat_', 'g', 'github_token', [
  new RegExp(`gh[pousr]_[A-Za-z0-9]{36,255}${TOKEN_END}`, 'y'),
  new RegExp(`github_pat_[A-Za-z0-9_]{82}${TOKEN_END}`, 'y'),
]);

const stripeMatcher = tokenMatcher('[sr]k_(?:live|test|prod)_', '[sr]', 'stripe_key', [
  /[sr]k_(?:live|test|prod)_[A-Za-z0-9]{10,247}(?![A-Za-z0-9])/y,
]);

const gatehouseMatcher = tokenMatcher('gth_', 'g', 'gatehouse_token', [new RegExp(`gth_[A-Za-z0-9_-]{43}${TOKEN_END}`, 'y')]);

const awsAccessKeyMatcher = tokenMatcher('AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9]', 'A', 'aws_access_key', [
  /(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z2-7]{16}(?![A-Za-z0-9])/y,
]);

const slackMatcher = tokenMatcher('xox[abposre][-.]|xapp-', 'x', 'slack_token', [
  new RegExp(`xox[abposre]-(?:\\d-)?\\d{6,32}-[A-Za-z0-9-]{6,255}${TOKEN_END}`, 'y'), // bot, user, legacy workspace tokens
  new RegExp(`xoxe(?:\\.xox[bp])?-\\d-[A-Za-z0-9]{100,512}${TOKEN_END}`, 'y'), // configuration and refresh tokens
  new RegExp(`xapp-\\d-[A-Z0-9]{1,32}-\\d{1,32}-[a-z0-9]{1,255}${TOKEN_END}`, 'y'), // app-level tokens
]);

/** `sk-` starts both vendors' keys; Anthropic's carry `ant-`, OpenAI's the `T3BlbkFJ` marker (base64 of "OpenAI"). */
const anthropicMatcher = tokenMatcher('sk-ant-', 's', 'anthropic_key', [
  new RegExp(`sk-ant-(?:api|admin)\\d\\d-[A-Za-z0-9_-]{93}AA${TOKEN_END}`, 'y'),
]);
const openaiMatcher = tokenMatcher('sk-', 's', 'openai_key', [
  new RegExp(`sk-(?:[A-Za-z0-9_-]{0,200}?[A-Za-z0-9]{20})T3BlbkFJ[A-Za-z0-9_-]{20,255}${TOKEN_END}`, 'y'),
]);

/** Other well-known vendors whose tokens carry an unambiguous prefix. */
const otherVendorMatcher = tokenMatcher(
  'AIza|SG\\.|npm_|pypi-|hf_|shp(?:at|ca|pa|ss)_|do[opr]_v1_',
  '[ASnphd]',
  'api_token',
  [
    new RegExp(`AIza[0-9A-Za-z_-]{35}${TOKEN_END}`, 'y'), // Google API key
    /SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}(?![A-Za-z0-9_.-])/y, // SendGrid
    new RegExp(`npm_[A-Za-z0-9]{36}${TOKEN_END}`, 'y'),
    new RegExp(`pypi-AgE(?:IcHlwaS5vcmc|NdGVzdC5weXBpLm9yZw)[A-Za-z0-9_-]{70,1024}${TOKEN_END}`, 'y'),
    new RegExp(`hf_[A-Za-z]{34}${TOKEN_END}`, 'y'), // Hugging Face
    new RegExp(`shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}${TOKEN_END}`, 'y'), // Shopify
    new RegExp(`do[opr]_v1_[a-f0-9]{64}${TOKEN_END}`, 'y'), // DigitalOcean
  ],
);

/** GitLab token families, by prefix: [min, max] body length, as GitLab issues them. */
const GITLAB_BODY: Record<string, [number, number]> = {
  glpat: [20, 300], glptt: [40, 40], gldt: [20, 50], glrt: [20, 300], glft: [20, 50], glimt: [25, 25],
  glagent: [50, 1024], gloas: [64, 64], glsoat: [20, 50], glffct: [20, 50], glcbt: [20, 60], GR1348941: [20, 50],
};
// Reads: a prefix of at most 9, then its body: the run of body characters, read once per scan (ScanState).
const GITLAB_PREFIX = /gl[a-z]{1,7}-|GR1348941/y;
const isGitlabBodyChar = (c: number) => isTokenChar(c) || c === 46; // [A-Za-z0-9_.-]

const gitlabMatcher: Matcher = {
  anchor: 'gl(?:pat|ptt|dt|rt|ft|imt|agent|oas|soat|ffct|cbt)-|GR1348941',
  first: '[gG]',
  types: ['gitlab_token'],
  match(text, at, found, scan) {
    if (!boundaryBefore(text, at, isTokenChar)) return undefined;
    const prefix = stickyAt(GITLAB_PREFIX, text, at)?.[0];
    const family = prefix && GITLAB_BODY[prefix.replace(/-$/, '')];
    if (!prefix || !family) return undefined;
    const [min, max] = family;
    const from = at + prefix.length;
    if (!isGitlabBodyChar(text.charCodeAt(from))) return undefined;
    let to = scan.run(from, isGitlabBodyChar).end;
    while (to > from && text.charCodeAt(to - 1) === 46) to--; // a sentence's full stop is not part of the token
    if (to - from > max) return undefined; // longer than the family allows
    const body = text.slice(from, to);
    if (body.length < min || body.length > max || isPlaceholder(body)) return undefined;
    const end = to;
    found.push({ type: 'gitlab_token', start: at, end });
    return end;
  },
};

// Reads: 8 before the anchor (the scheme), and at most 300 after it.
const SLACK_WEBHOOK = /hooks\.slack\.com\/(?:services|workflows|triggers)\/[A-Za-z0-9_/+-]{20,256}/y;

const slackWebhookMatcher: Matcher = {
  anchor: 'hooks\\.slack\\.com/',
  first: 'h',
  types: ['slack_token'],
  match(text, at, found) {
    const m = stickyAt(SLACK_WEBHOOK, text, at);
    if (!m) return undefined;
    const scheme = /https?:\/\/$/.exec(text.slice(Math.max(0, at - 8), at));
    found.push({ type: 'slack_token', start: at - (scheme?.[0].length ?? 0), end: at + m[0].length });
    return at + m[0].length;
  },
};

// Reads: three segments of at most 16 KB each (real JWTs are a few KB).
const JWT = /eyJ[A-Za-z0-9_-]{10,16384}\.ey[A-Za-z0-9_-]{10,16384}(?:\.[A-Za-z0-9_-]{1,16384})?(?![A-Za-z0-9_-])/y;

const jwtMatcher: Matcher = {
  anchor: 'eyJ',
  first: 'e',
  types: ['jwt'],
  match(text, at, found) {
    if (!boundaryBefore(text, at, isTokenChar)) return undefined;
    const m = stickyAt(JWT, text, at);
    if (!m || !jwtHeaderValid(m[0].slice(0, m[0].indexOf('.')))) return undefined;
    found.push({ type: 'jwt', start: at, end: at + m[0].length });
    return at + m[0].length;
  },
};

// Reads: a header of at most 64, then at most PEM_MAX (a PEM key of 8,192 RSA bits is about 6.5 KB) for the body.
const PEM_HEADER = /-----BEGIN ((?:[A-Z0-9]{1,16} ){0,4}PRIVATE KEY(?: BLOCK)?)-----/y;
const PEM_BODY_LINE = /\r?\n[A-Za-z0-9+/=]{1,128}(?=\r?\n|$)/y;
const PEM_MAX = 16 * 1024;

const privateKeyMatcher: Matcher = {
  anchor: '-----BEGIN ',
  first: '-',
  types: ['private_key'],
  match(text, at, found, scan) {
    const header = stickyAt(PEM_HEADER, text, at);
    if (!header) return undefined; // PUBLIC KEY, CERTIFICATE...
    const bodyStart = at + header[0].length;
    const footer = `-----END ${header[1]}-----`;
    // Only the first END line after the header can close it (a key's body holds none), and only within PEM_MAX.
    const next = scan.pemFooterAfter(bodyStart);
    const footerAt = next >= 0 && next - bodyStart <= PEM_MAX && text.startsWith(footer, next) ? next : -1;
    let end: number;
    if (footerAt >= 0) {
      // Fixtures like `BEGIN PRIVATE KEY / anything / END` are not keys: demand some key material.
      const material = text.slice(bodyStart, footerAt).match(/[A-Za-z0-9+/]/g)?.length ?? 0;
      if (material < 16) return undefined;
      end = footerAt + footer.length;
    } else {
      // Truncated key: the header and whatever base64 lines follow it.
      end = bodyStart;
      for (let line = stickyAt(PEM_BODY_LINE, text, end); line && end - bodyStart < PEM_MAX; line = stickyAt(PEM_BODY_LINE, text, end)) end += line[0].length;
    }
    found.push({ type: 'private_key', start: at, end });
    return end;
  },
};

// ---------------------------------------------------------------------------------------------------------------
// Email: the pre-filter stops at '@'; the local part is walked back by hand, the domain matched forward.

// Reads: 64 back for the local part; forward, at most 127 labels of 63 (a domain longer than 253 is not one).
const EMAIL_DOMAIN = /(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,127}(?:[A-Za-z]{2,24}|xn--[A-Za-z0-9-]{2,59})(?![A-Za-z0-9-])/y;

const emailMatcher: Matcher = {
  anchor: '@',
  first: '@',
  types: ['email'],
  match(text, at, found) {
    let start = at;
    while (start > 0 && at - start < 64 && isLocalPartChar(text.charCodeAt(start - 1))) start--;
    while (text.charCodeAt(start) === 46) start++; // a local part cannot start with '.'
    if (start === at || text.charCodeAt(at - 1) === 46 || text.slice(start, at).includes('..')) return undefined;
    const domain = stickyAt(EMAIL_DOMAIN, text, at + 1);
    if (!domain || domain[0].length > 253) return undefined;
    found.push({ type: 'email', start, end: at + 1 + domain[0].length });
    return at + 1;
  },
};

// ---------------------------------------------------------------------------------------------------------------
// Numbers: one run of digit groups (`+41 (0)69 979 80 58`, `4111-1111-1111-1111`, `192.168.1.1`) is read once and
// classified: IPv4, SSN, card, phone — or nothing (dates, versions, section numbers).

const isRunSeparator = (c: number) => c === 32 || c === 46 || c === 45; // space . -

/**
 * No phone, card, SSN or address has more digit groups than this (a card is at most six groups of three or more, a
 * phone at most six groups): a run is classified by its first MAX_GROUPS groups, and a longer run as a whole is nothing.
 */
const MAX_GROUPS = 6;
/** No such number has more digits in one group than this; a longer group is read no further. */
const MAX_GROUP_DIGITS = 19;

/**
 * The run of digit groups at `at`: an optional `+`, then groups of digits — each optionally in parentheses — joined by
 * at most one space, dot or dash. Reads at most `maxGroups` groups; `more` says the run goes on beyond them. A char
 * loop: this runs at every number in the text.
 */
function runEnd(text: string, at: number, maxGroups: number): { end: number; more: boolean } {
  let i = text.charCodeAt(at) === 43 ? at + 1 : at;
  let end = at;
  for (let groups = 0; ; groups++) {
    let j = i;
    if (end > at && isRunSeparator(text.charCodeAt(j))) j++;
    if (text.charCodeAt(j) === 40) j++;
    const digitsFrom = j;
    while (isDigit(text.charCodeAt(j)) && j - digitsFrom <= MAX_GROUP_DIGITS) j++;
    if (j === digitsFrom) return { end, more: false };
    if (groups === maxGroups || isDigit(text.charCodeAt(j))) return { end, more: true };
    if (text.charCodeAt(j) === 41) j++;
    end = i = j;
  }
}

/** Where a run that goes on past what was read ends: skipped, never classified (it is nothing as a whole). */
function skipRun(text: string, from: number): number {
  let end = from;
  for (;;) {
    let j = end;
    if (isRunSeparator(text.charCodeAt(j))) j++;
    if (text.charCodeAt(j) === 40) j++;
    const digitsFrom = j;
    while (isDigit(text.charCodeAt(j))) j++;
    if (j === digitsFrom) return end;
    if (text.charCodeAt(j) === 41) j++;
    end = j;
  }
}

const PHONE_EXTENSION = / ?(?:x|ext\.?|#) ?\d{1,5}(?![A-Za-z0-9])/iy;
const CIDR_SUFFIX = /\/(\d{1,3})(?![\d.])/y;
const PHONE_CONTEXT = /\b(?:phone|tel|telephone|mobile|cell|fax|call|calling|contact|desk|office|whatsapp|sms|answering|messages?|registered|number is)\b/i;
const NOT_A_PHONE_CONTEXT = /\bext(?:ension)?\.?\s*$/i;
const CARD_CONTEXT = /\b(?:card|cc|credit|debit|visa|mastercard|maestro|amex|pan)\b/i;
/** Dotted quads in changelogs and specs are versions and section numbers, not addresses. */
const VERSION_CONTEXT = /\b(?:version|release|section|chapter|clause|build|dependency|upgrade|bump(?:ed)?|firmware|oid|v)\b/i;
const SSN_CONTEXT = /\b(?:ssn|social security|ss#|soc\.? ?sec)/i;
/** How far back a context word may be (`Phone: `, `SSN:`). The stream redactor keeps at least this much emitted text. */
export const CONTEXT_CHARS = 40;

const contextBefore = (text: string, at: number) => text.slice(Math.max(0, at - CONTEXT_CHARS), at);

/** A run of digit groups as written: the groups, what stands between them (parentheses included), where each ends. */
interface DigitRun {
  start: number;
  end: number;
  groups: string[];
  separators: string[];
  digitEnds: number[];
}

function readGroups(text: string, start: number, end: number): DigitRun {
  const run: DigitRun = { start, end, groups: [], separators: [], digitEnds: [] };
  let i = start;
  while (i < end) {
    const from = i;
    while (i < end && !isDigit(text.charCodeAt(i))) i++;
    if (run.groups.length > 0) run.separators.push(text.slice(from, i));
    const digitsFrom = i;
    while (i < end && isDigit(text.charCodeAt(i))) i++;
    if (i > digitsFrom) {
      run.groups.push(text.slice(digitsFrom, i));
      run.digitEnds.push(i);
    }
  }
  return run;
}

const isYear = (g: string) => g.length === 4 && (g.startsWith('19') || g.startsWith('20'));

/** `2024-03-08`, `08/03/2024`, `2024.10.12`: dates are not phone numbers, whatever their digit count. */
function isDate(groups: string[], separators: string[]): boolean {
  if (groups.length < 3 || separators[0] !== separators[1] || !/^[-./]$/.test(separators[0])) return false;
  const [a, b, c] = groups;
  return (isYear(a) && b.length <= 2 && c.length <= 2) || (a.length <= 2 && b.length <= 2 && isYear(c));
}

function isPhone(groups: string[], separators: string[], international: boolean, context: string): boolean {
  const digits = groups.join('').length;
  if (digits < 7 || digits > 15 || groups.length > 6) return false;
  if (international) return digits >= 8; // +CC …: E.164 with a country code
  if (groups.slice(1).some((g) => g.length < 2)) return false;
  // Separators next to a parenthesis don't count: `(415) 555-0132` is uniform, `780 6326 2024-03-08` is two things.
  const plainSeparators = separators.filter((s) => !s.includes('(') && !s.includes(')'));
  if (plainSeparators.some((s) => s !== plainSeparators[0])) return false;
  const lengths = groups.map((g) => g.length).join(',');
  if (lengths === '3,2,4' && plainSeparators[0] === '-') return false; // SSN-shaped, even when not a valid SSN
  if (NOT_A_PHONE_CONTEXT.test(context)) return false; // an internal extension is not a phone number
  if (plainSeparators[0] === '.') {
    if (groups.length >= 3 && digits >= 9 && groups.every((g) => g.length >= 2 && g.length <= 4)) return true; // 01.84.17.61.18
  } else if (/^(?:1,)?(?:3,)?3,3,4$/.test(lengths)) {
    return true; // North American (415) 555-0132, 1-800-555-0199, 001-253-366-9781
  } else if (groups[0][0] === '0' && groups.length >= 2 && digits >= 9) {
    return true; // national trunk prefix: 0490 75 40 81, 090-1234-5678
  }
  return PHONE_CONTEXT.test(context);
}

/**
 * Payment cards start with 1–6 (UATP, Amex/Diners, Visa, Mastercard, Discover/Maestro) and pass Luhn. Thirteen digits
 * starting with 1 are millisecond timestamps far more often than cards; 12-digit Maestro numbers need the word "card".
 */
function isCardNumber(digits: string, context: string): boolean {
  const length = digits.length;
  if (length < 12 || length > 19 || !/^[1-6]/.test(digits) || /^(\d)\1+$/.test(digits) || !luhnValid(digits)) return false;
  if (length === 13 && digits[0] === '1') return false;
  return length > 12 || CARD_CONTEXT.test(context);
}

/** What the first `count` groups of a run are, if anything. */
function classifyNumber(text: string, run: DigitRun, count: number): Span | undefined {
  const { start } = run;
  const groups = run.groups.slice(0, count);
  const separators = run.separators.slice(0, count - 1);
  // A prefix ends where the space after its last group is (`(415) 555-0132⎵2024` keeps its closing parenthesis).
  const end = count === run.groups.length ? run.end : run.digitEnds[count - 1] + run.separators[count - 1].indexOf(' ');
  const international = text.charCodeAt(start) === 43;
  const plain = !international && text.charCodeAt(start) !== 40 && !separators.some((s) => s.includes('(') || s.includes(')'))
    && text.charCodeAt(end - 1) !== 41;
  const uniform = separators.every((s) => s === separators[0]);
  const digits = groups.join('');
  const context = contextBefore(text, start);

  if (plain && count === 4 && uniform && separators[0] === '.' && ipv4Valid(groups.join('.')) && !VERSION_CONTEXT.test(context)) {
    const cidr = stickyAt(CIDR_SUFFIX, text, end);
    return { type: 'ip_address', start, end: cidr && Number(cidr[1]) <= 32 ? end + cidr[0].length : end };
  }
  if (isDate(groups, separators)) return undefined;
  if (plain && digits.length === 9 && uniform && ssnValid(digits)) {
    const grouped = count === 3 && groups[0].length === 3 && groups[1].length === 2 && /^[- .]$/.test(separators[0]);
    // A bare nine-digit number is an SSN only when the text says so; otherwise it is as likely an order number.
    if (grouped || (count === 1 && SSN_CONTEXT.test(context))) return { type: 'us_ssn', start, end };
  }
  if (plain && uniform && (count === 1 || separators[0] === ' ' || separators[0] === '-') && groups.every((g) => g.length >= 3)
    && isCardNumber(digits, context)) {
    return { type: 'credit_card', start, end };
  }
  if (isAlpha(text.charCodeAt(end)) && !stickyAt(PHONE_EXTENSION, text, end)) return undefined; // 0800text
  if (!isPhone(groups, separators, international, context)) return undefined;
  const extension = stickyAt(PHONE_EXTENSION, text, end);
  return { type: 'phone', start, end: extension ? end + extension[0].length : end };
}

const PARENTHESISED_DIGITS = /\(\d{1,19}\)/y;

// Reads: CONTEXT_CHARS back (context words), at most MAX_GROUPS + 1 groups of at most MAX_GROUP_DIGITS digits forward
// (about 150), and a phone extension; a run that goes on is then skipped once, to its end, and never read again.
const numberMatcher: Matcher = {
  anchor: '\\+?\\(?\\d',
  first: '[+(0-9]',
  types: ['ip_address', 'us_ssn', 'credit_card', 'phone'],
  match(text, at, found) {
    // Digits glued to letters or dots (`v1.2.3.4`, `text192.168.1.1`, `ab12`) are part of something else.
    if (!boundaryBefore(text, at, isWordOrDot)) return undefined;
    const window = runEnd(text, at, MAX_GROUPS + 1);
    let end = window.end;
    // Most numbers are short (`200`, `2024-05-02`, `19.99`): phones, cards and SSNs need seven digits, an address four dotted groups.
    let digits = 0;
    let dots = 0;
    for (let i = at; i < end; i++) {
      const c = text.charCodeAt(i);
      if (isDigit(c)) digits++;
      else if (c === 46) dots++;
      else dots = -9; // any other separator: not a dotted quad
    }
    if (digits < 7 && dots !== 3) return window.more ? skipRun(text, end) : end;
    // Balance parentheses: `(192.168.1.1)` is an address in brackets, `(415) 555-0132` keeps its area code.
    let start = at;
    if (text.charCodeAt(at) === 40 && !stickyAt(PARENTHESISED_DIGITS, text, at)) start++;
    if (!window.more) {
      const run = text.slice(start, end);
      if (run.endsWith(')') && run.split('(').length < run.split(')').length) end--;
      if (isAlpha(text.charCodeAt(end)) && !stickyAt(PHONE_EXTENSION, text, end)) return end; // 192.168.1.1text
    }
    // Spaces also join neighbours (`4111 1111 1111 1111 2024`): when the whole run is nothing, try it cut at a space.
    const groups = readGroups(text, start, end);
    const whole = window.more ? 0 : groups.groups.length;
    for (let count = Math.min(groups.groups.length, MAX_GROUPS); count > 0; count--) {
      if (count !== whole && !groups.separators[count - 1].includes(' ')) continue;
      const span = classifyNumber(text, groups, count);
      if (span) {
        found.push(span);
        return span.end;
      }
    }
    return window.more ? skipRun(text, end) : end;
  },
};

// ---------------------------------------------------------------------------------------------------------------
// Addresses and account numbers that start with letters or hex.

// Reads: 40 back, then at most 45 (the longest IPv6 text, an embedded IPv4 included) and a zone and prefix of at most 36.
const IPV6_RUN = /[0-9A-Fa-f:]{1,45}(?:\.\d{1,3}){0,3}/y;
const IPV6_SUFFIX = /(%[A-Za-z0-9_.]{1,31})?(?:\/(\d{1,3}))?/y;

const isHex = (c: number) => isDigit(c) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
const isHexOrColon = (c: number) => isHex(c) || c === 58;
const isAddressChar = (c: number) => isWord(c) || c === 58 || c === 46; // [A-Za-z0-9_:.]

/**
 * Anchored on a colon that another follows within one group: letters are too common a place to start from.
 * Reads: IPV6_RUN forward; backward, the run of hex digits and colons before it, each character once per scan (ScanState).
 */
const ipv6Matcher: Matcher = {
  anchor: ':(?=[0-9A-Fa-f]{0,4}:)',
  first: ':',
  types: ['ip_address'],
  match(text, colon, found, scan) {
    const runStart = scan.hexRunStart(colon);
    // An address is at most 40 characters before its second colon: a longer run of hex digits and colons is not one.
    const at = colon - runStart > 40 ? colon - 40 : runStart;
    if (!boundaryBefore(text, at, isAddressChar)) return undefined;
    let address = stickyAt(IPV6_RUN, text, at)?.[0] ?? '';
    if (address.endsWith(':') && !address.endsWith('::')) address = address.slice(0, -1);
    if (!/\d/.test(address) || address.length > 45 || !isIPv6(address)) return undefined;
    let end = at + address.length;
    const suffix = stickyAt(IPV6_SUFFIX, text, end);
    if (suffix && (suffix[2] === undefined || Number(suffix[2]) <= 128)) end += suffix[0].length;
    if (isWord(text.charCodeAt(end))) return undefined; // fe80::1text
    found.push({ type: 'ip_address', start: at, end });
    return end;
  },
};

// Reads: the country's IBAN length (at most 34) and the single spaces between its groups.
const ibanMatcher: Matcher = {
  anchor: '[A-Za-z]{2}\\d\\d',
  first: '[A-Za-z]',
  types: ['iban'],
  match(text, at, found) {
    if (!boundaryBefore(text, at, isAlnum)) return undefined;
    const length = ibanLength(text.slice(at, at + 2).toUpperCase());
    if (!length) return undefined;
    // Either compact, or printed in groups of four separated by exactly one space.
    const spaced = text[at + 4] === ' ';
    let compact = '';
    let i = at;
    while (compact.length < length && i < text.length) {
      const c = text.charCodeAt(i);
      if (isAlnum(c)) {
        compact += text[i++];
      } else if (spaced && c === 32 && compact.length % 4 === 0 && isAlnum(text.charCodeAt(i + 1))) {
        i++;
      } else {
        break;
      }
    }
    if (compact.length !== length || isAlnum(text.charCodeAt(i))) return undefined;
    // Mixed case (`LV80 bANK …`) is a typo or a fixture, not a printed IBAN.
    if (compact !== compact.toUpperCase() && compact !== compact.toLowerCase()) return undefined;
    if (!ibanValid(compact.toUpperCase())) return undefined;
    found.push({ type: 'iban', start: at, end: i });
    return i;
  },
};

// ---------------------------------------------------------------------------------------------------------------
// Secrets recognised by what stands next to them: `password = "…"`, `aws_secret_access_key: …`, `https://user:pw@host`.

// Reads: at most 20 + 8 + 20 characters of name, 16 + 3 + 16 of operator and spacing, the 40-character key and 1 past it.
const AWS_SECRET = /aws[\w.-]{0,20}?(?:secret|key|pwd|pw|password|pass|token)[\w.-]{0,20}?["'`]?[ \t]{0,16}(?:[:=]{1,3}|=>|\(|,)?[ \t]{0,16}["'`]?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])/iy;

// Reads: see AWS_SECRET, at most 146.
const awsSecretMatcher: Matcher = {
  anchor: caseless('aws'),
  first: '[aA]',
  types: ['aws_secret_key'],
  match(text, at, found) {
    const m = stickyAt(AWS_SECRET, text, at);
    if (!m || isPlaceholder(m[1]) || entropy(m[1]) < 3.5) return undefined;
    const end = at + m[0].length;
    found.push({ type: 'aws_secret_key', start: end - 40, end });
    return end;
  },
};

const SECRET_KEYWORDS = [
  'pass(?:word|wd|phrase)?', 'pwd', 'secret', 'token', 'api[_.-]?key', 'access[_.-]?key', 'account[_.-]?key',
  'private[_.-]?key', 'credentials?', 'auth',
];

/** Identifier suffixes that name metadata about a secret rather than the secret (`token_type`, `passwordHint`, `author`). */
const METADATA_SUFFIX = /^(?:ids?|names?|types?|urls?|uris?|paths?|files?|fields?|labels?|len|length|count|size|hint|policy|prompt|reset|expires?|expiry|expiration|ttl|endpoint|header|format|version|enabled|required|mode|manager|provider|service|store|storage|validator|input|column|izer|ize|ized|ization|or|ors|ority|ary|age|enger|port|ed|ing)$/i;

/**
 * After the identifier: an optional closing quote or `[n]`, a type (`string`), an operator — longest first, so `==` is
 * not read as `=` — or just a space before a quoted value; then the value's opening quote, if any. At most 16 spaces
 * or tabs stand on either side of anything: alignment, not a way to make the regex walk far.
 */
const ASSIGNMENT = /(["'`]?\]?)(?:\[[^\]\n]{0,8}\])?(?:[ \t]{0,16}:?[ \t]{0,16}(?:string|String|str)\b)?[ \t]{0,16}(?:(?:===?|!==?|=>|:{1,3}=|[?.+]=|=|:|(?:\.\w{1,64})?\(|,)[ \t]{0,16}@?|(?=["'`]))(["'`]?)/y;
/** `<apiToken>\n  value\n</apiToken>`: configuration files in XML. */
const XML_ELEMENT_VALUE = />\s{0,64}([^<\s]{1,1025})\s{0,64}<\//y;
/** A secret value is at most MAX_VALUE characters; reading one more tells a longer run (not a secret) from one that fits. */
const MAX_VALUE = 1024;
const UNQUOTED_VALUE = /[^\s"'`\\]{1,1025}/y;
const AUTH_SCHEME = /(?:bearer|basic|token)[ \t]{1,16}/iy;
/** An identifier longer than this does not name a secret (and is not read further). */
const MAX_IDENTIFIER = 64;

/** Unbalanced closers and trailing separators belong to the surrounding code, not to an unquoted value. One pass each way. */
function trimUnquoted(value: string): string {
  const depth: Record<string, number> = { ')': 0, ']': 0, '}': 0 };
  const closes: Record<string, string> = { '(': ')', '[': ']', '{': '}' };
  for (const ch of value) {
    if (ch in closes) depth[closes[ch]]--;
    else if (ch in depth) depth[ch]++;
  }
  let end = value.length;
  for (;;) {
    const ch = value[end - 1];
    if (ch === ',' || ch === ';') end--;
    else if (ch in depth && depth[ch] > 0) { depth[ch]--; end--; }
    else return value.slice(0, end);
  }
}

/** Index of `needle` in `text` from `from`, looking at most `within` characters ahead; -1 if not there. */
function indexWithin(text: string, needle: string, from: number, within: number): number {
  const at = text.slice(from, from + within + needle.length).indexOf(needle);
  return at < 0 ? -1 : from + at;
}

const isQuote = (c: number) => c === 34 || c === 39 || c === 96; // " ' `
const isBlank = (c: number) => c === 32 || c === 9;

/**
 * `"value" == password`: when a secret is compared rather than assigned, the literal comes first. Walks back from the
 * identifier over at most 6 blanks, `==`, `!=`, `===` or `!==`, 16 more blanks and a quoted literal of 8 to 256 characters.
 */
function comparedLiteral(text: string, idStart: number): { start: number; end: number } | undefined {
  let i = idStart;
  while (i > 0 && idStart - i < 6 && isBlank(text.charCodeAt(i - 1))) i--;
  if (text.charCodeAt(i - 1) !== 61) return undefined; // =
  i--;
  const before = text.charCodeAt(i - 1);
  if (before !== 61 && before !== 33) return undefined; // == or !=
  i--;
  if (before === 61 && (text.charCodeAt(i - 1) === 61 || text.charCodeAt(i - 1) === 33)) i--; // === or !==
  const op = i;
  while (i > 0 && op - i < 16 && isBlank(text.charCodeAt(i - 1))) i--;
  const quote = text.charCodeAt(i - 1);
  if (!isQuote(quote)) return undefined;
  const end = i - 1;
  let start = end;
  while (start > 0 && end - start <= 256) {
    const c = text.charCodeAt(start - 1);
    if (c === quote) return end - start >= 8 ? { start, end } : undefined;
    if (isQuote(c) || c === 10) return undefined;
    start--;
  }
  return undefined;
}

function looksLikeSecretValue(value: string, quoted: boolean): boolean {
  if (value.length < 8 || value.length > 1024 || isPlaceholder(value) || isTemplated(value)) return false;
  if (!quoted && value.length < 10) return false; // `SUMO_ACCESS_KEY: AbCeFG123` is a fixture, not a key
  // Unquoted identifiers and expressions are references in code (`password = user.password`, `token = getToken()`).
  if (!quoted && /^[A-Za-z_$][\w$]*(?:[.([]|$)/.test(value) && !/\d/.test(value)) return false;
  return entropy(value) >= 3;
}

function keywordSecret(text: string, at: number, keywordEnd: number, scan: ScanState): Span | undefined {
  // The keyword must start a word part: `db_pass`, `genericToken`, `api-key`, but not `compass` or `bypass`.
  const prev = text.charCodeAt(at - 1);
  const camel = isAlpha(prev) && prev >= 97 && text.charCodeAt(at) <= 90;
  if (at > 0 && isAlpha(prev) && !camel) return undefined;
  const identifier = scan.run(at, isWord);
  if (identifier.end - identifier.start > MAX_IDENTIFIER) return undefined;
  const idEnd = identifier.end;
  const suffix = text.slice(keywordEnd, idEnd).replace(/^[_.-]/, '').split(/[_.-]|(?<=[a-z])(?=[A-Z])/)[0];
  if (suffix && METADATA_SUFFIX.test(suffix)) return undefined;

  const assignment = stickyAt(ASSIGNMENT, text, idEnd);
  if (assignment) {
    let valueStart = idEnd + assignment[0].length;
    const quote = assignment[2];
    if (quote) {
      const close = indexWithin(text, quote, valueStart, MAX_VALUE);
      const value = close < 0 ? '' : text.slice(valueStart, close);
      // A back-quoted value with spaces is a shell command (`etcdctl get /secret`), not a literal.
      const command = quote === '`' && /\s/.test(value);
      if (close >= 0 && !value.includes('\n') && !command && looksLikeSecretValue(value, true)) return { type: 'generic_secret', start: valueStart, end: close };
    } else if (assignment[0].trim() !== '' || assignment[1]) {
      valueStart += stickyAt(AUTH_SCHEME, text, valueStart)?.[0].length ?? 0;
      const run = stickyAt(UNQUOTED_VALUE, text, valueStart)?.[0] ?? '';
      const value = run.length > MAX_VALUE ? '' : trimUnquoted(run);
      if (looksLikeSecretValue(value, false)) return { type: 'generic_secret', start: valueStart, end: valueStart + value.length };
    }
  }
  const idStart = identifier.start;
  if (text.charCodeAt(idStart - 1) === 60 && text.charCodeAt(idEnd) === 62) { // <apiToken>
    const element = stickyAt(XML_ELEMENT_VALUE, text, idEnd);
    if (element && looksLikeSecretValue(element[1], false)) {
      const start = idEnd + element[0].indexOf(element[1], 1);
      return { type: 'generic_secret', start, end: start + element[1].length };
    }
  }
  const compared = comparedLiteral(text, idStart);
  if (compared && looksLikeSecretValue(text.slice(compared.start, compared.end), true)) return { type: 'generic_secret', ...compared };
  return undefined;
}

// Reads: the identifier (its run of word characters, read once per scan), at most 120 of operator and spacing, a value of at most
// MAX_VALUE + 1 (+ 64 of XML spacing each side), or behind the identifier 6 + 3 + 16 + 257 for a compared literal.
const keywordMatcher: Matcher = {
  anchor: SECRET_KEYWORDS.map(caseless).join('|'),
  first: '[pPsStTaAcC]',
  types: ['generic_secret'],
  match(text, at, found, scan) {
    const keyword = stickyAt(KEYWORD, text, at);
    const span = keyword && keywordSecret(text, at, at + keyword[0].length, scan);
    if (!keyword || !span) return undefined;
    found.push(span);
    return at + keyword[0].length;
  },
};
const KEYWORD = new RegExp(keywordMatcher.anchor, 'y');

// Reads: a user and a password of at most 256 each.
const URL_CREDENTIALS = /([^\s:@/"'`]{1,256}):([^\s:@/"'`]{1,256})@/y;

const urlPasswordMatcher: Matcher = {
  anchor: ':\\/\\/',
  first: ':',
  types: ['generic_secret'],
  match(text, at, found) {
    const m = stickyAt(URL_CREDENTIALS, text, at + 3);
    if (!m || isTemplated(m[2])) return undefined;
    const start = at + 3 + m[1].length + 1;
    found.push({ type: 'generic_secret', start, end: start + m[2].length });
    return start + m[2].length;
  },
};

// ---------------------------------------------------------------------------------------------------------------
// The pre-filter. Order matters only between anchors that can start at the same character; when a matcher declines,
// the later alternatives that also match there are tried before moving on.

const MATCHERS: readonly Matcher[] = [
  privateKeyMatcher, jwtMatcher, githubMatcher, gitlabMatcher, slackMatcher, slackWebhookMatcher, stripeMatcher,
  anthropicMatcher, openaiMatcher, otherVendorMatcher, gatehouseMatcher, awsAccessKeyMatcher, awsSecretMatcher,
  keywordMatcher, urlPasswordMatcher, emailMatcher, ipv6Matcher, ibanMatcher, numberMatcher,
];

const ANCHORS_AT = MATCHERS.map((m) => new RegExp(m.anchor, 'y'));

const FIRST = MATCHERS.map((m) => new RegExp(`^${m.first}$`));

/**
 * The combined pre-filter for one set of matchers (a bit mask), compiled once per set of wanted types.
 * It has no capture groups — exec() allocating twenty of them per stop costs more than the rest of a stop — so where it
 * stops, `byFirst` says by the character found there which matchers to try, in order.
 */
interface Prefilter {
  regex: RegExp;
  byFirst: number[][];
}

const prefilters = new Map<number, Prefilter>();

function prefilterFor(mask: number): Prefilter {
  let prefilter = prefilters.get(mask);
  if (!prefilter) {
    const active = MATCHERS.flatMap((_, i) => (mask & (1 << i) ? [i] : []));
    prefilter = {
      regex: new RegExp(active.map((i) => MATCHERS[i].anchor).join('|'), 'g'),
      byFirst: Array.from({ length: 128 }, (_, c) => active.filter((i) => FIRST[i].test(String.fromCharCode(c)))),
    };
    prefilters.set(mask, prefilter);
  }
  return prefilter;
}

/** Which matchers can find any of the wanted types, as a bit mask; type sets are few and long-lived (from config). */
const matchersFor = new WeakMap<ReadonlySet<DetectorType>, number>();

function wantedMask(wanted: ReadonlySet<DetectorType>): number {
  let mask = matchersFor.get(wanted);
  if (mask === undefined) {
    mask = MATCHERS.reduce((m, matcher, i) => (matcher.types.some((t) => wanted.has(t)) ? m | (1 << i) : m), 0);
    matchersFor.set(wanted, mask);
  }
  return mask;
}

function scan(text: string, wanted: ReadonlySet<DetectorType>): Span[] {
  const mask = wantedMask(wanted);
  if (mask === 0) return [];
  const { regex, byFirst } = prefilterFor(mask);
  const found: Span[] = [];
  const state = new ScanState(text);
  regex.lastIndex = 0; // safe to share: matching is synchronous and matchers never call detect()
  for (let m = regex.exec(text); m; m = regex.exec(text)) {
    const at = m.index;
    const candidates = byFirst[text.charCodeAt(at)] ?? []; // every anchor starts with an ASCII character
    let resume: number | undefined;
    for (let k = 0; k < candidates.length && resume === undefined; k++) {
      const i = candidates[k];
      if (candidates.length > 1 && !stickyAt(ANCHORS_AT[i], text, at)) continue;
      resume = MATCHERS[i].match(text, at, found, state);
    }
    regex.lastIndex = Math.max(resume ?? 0, at + 1);
  }
  return found.filter((s) => wanted.has(s.type));
}

/** Keeps one finding per region of text: the most specific type, then the longest span. */
function resolveOverlaps(spans: Span[]): Span[] {
  spans.sort((a, b) => a.start - b.start || PRIORITY[b.type] - PRIORITY[a.type] || b.end - a.end);
  const kept: Span[] = [];
  for (const span of spans) {
    const last = kept[kept.length - 1];
    if (!last || span.start >= last.end) {
      kept.push(span);
    } else if (PRIORITY[span.type] > PRIORITY[last.type]
      || (PRIORITY[span.type] === PRIORITY[last.type] && span.end - span.start > last.end - last.start)) {
      kept[kept.length - 1] = span;
    }
  }
  return kept;
}

/** Sensitive values in `text`, sorted by position and non-overlapping. */
export function detect(text: string, opts: { types?: ReadonlySet<DetectorType> } = {}): Finding[] {
  return resolveOverlaps(scan(text, opts.types ?? ALL_TYPES)).map(({ type, start, end }) => ({ type, start, end, value: text.slice(start, end) }));
}
