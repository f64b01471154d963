// Checksums and plausibility checks that turn a regex candidate into a finding. Pure functions, no regex scans of whole
// texts; each is linear in the (bounded) candidate it is given.

/** Luhn mod-10 over a string of digits (payment cards). */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/** Well-known numbers that are structurally valid SSNs but published as examples or burned (e.g. the Woolworth wallet card). */
const BURNED_SSNS = new Set(['078051120', '219099999', '123456789']);

/** US SSN structure: area not 000/666/9xx, group not 00, serial not 0000. `digits` has exactly 9 digits. */
export function ssnValid(digits: string): boolean {
  const area = digits.slice(0, 3);
  if (area === '000' || area === '666' || area[0] === '9') return false;
  if (digits.slice(3, 5) === '00' || digits.slice(5) === '0000') return false;
  return !BURNED_SSNS.has(digits) && !/^(\d)\1{8}$/.test(digits);
}

/**
 * BBAN layout per country from the SWIFT IBAN registry: n = digits, a = upper-case letters, c = alphanumerics.
 * The layout rejects many near-misses (a letter where a bank code must be digits) before the checksum is even computed.
 */
const IBAN_LAYOUTS: Record<string, string> = {
  AD: '4n4n12c', AE: '3n16n', AL: '8n16c', AT: '5n11n', AZ: '4a20c', BA: '3n3n8n2n', BE: '3n7n2n', BG: '4a4n2n8c',
  BH: '4a14c', BI: '5n5n11n2n', BR: '8n5n10n1a1c', BY: '4c4n16c', CH: '5n12c', CR: '4n14n', CY: '3n5n16c', CZ: '4n6n10n',
  DE: '8n10n', DJ: '5n5n11n2n', DK: '4n9n1n', DO: '4c20n', EE: '2n2n11n1n', EG: '4n4n17n', ES: '4n4n1n1n10n', FI: '3n11n',
  FK: '2a12n', FO: '4n9n1n', FR: '5n5n11c2n', GB: '4a6n8n', GE: '2a16n', GI: '4a15c', GL: '4n9n1n', GR: '3n4n16c',
  GT: '4c20c', HR: '7n10n', HU: '3n4n1n15n1n', IE: '4a6n8n', IL: '3n3n13n', IQ: '4a3n12n', IS: '4n2n6n10n', IT: '1a5n5n12c',
  JO: '4a4n18c', KW: '4a22c', KZ: '3n13c', LB: '4n20c', LC: '4a24c', LI: '5n12c', LT: '5n11n', LU: '3n13c', LV: '4a13c',
  LY: '3n3n15n', MC: '5n5n11c2n', MD: '2c18c', ME: '3n13n2n', MK: '3n10c2n', MN: '4n12n', MR: '5n5n11n2n', MT: '4a5n18c',
  MU: '4a2n2n12n3n3a', NI: '4a20n', NL: '4a10n', NO: '4n6n1n', OM: '3n16c', PK: '4a16c', PL: '8n16n', PS: '4a21c',
  PT: '4n4n11n2n', QA: '4a21c', RO: '4a16c', RS: '3n13n2n', RU: '9n5n15c', SA: '2n18c', SC: '4a2n2n16n3a', SD: '2n12n',
  SE: '3n16n1n', SI: '5n8n2n', SK: '4n6n10n', SM: '1a5n5n12c', SO: '4n3n12n', ST: '4n4n11n2n', SV: '4a20n', TL: '3n14n2n',
  TN: '2n3n13n2n', TR: '5n1n16c', UA: '6n19c', VA: '3n15n', VG: '4a16n', XK: '4n10n2n',
};

const CLASS = { n: '[0-9]', a: '[A-Z]', c: '[A-Z0-9]' } as const;

/** Compiled once: country → { total IBAN length, BBAN regex }. */
const IBAN_SPECS = new Map(
  Object.entries(IBAN_LAYOUTS).map(([country, layout]) => {
    let length = 4;
    let source = '';
    for (const [, count, kind] of layout.matchAll(/(\d+)([nac])/g)) {
      length += Number(count);
      source += `${CLASS[kind as keyof typeof CLASS]}{${count}}`;
    }
    return [country, { length, bban: new RegExp(`^${source}$`) }];
  }),
);

/** Total IBAN length for a country code, or undefined when the country issues no IBANs. */
export function ibanLength(country: string): number | undefined {
  return IBAN_SPECS.get(country)?.length;
}

/** `iban` is compact (no spaces) and upper-case: country layout, then ISO 7064 mod-97 must equal 1. */
export function ibanValid(iban: string): boolean {
  const spec = IBAN_SPECS.get(iban.slice(0, 2));
  if (!spec || iban.length !== spec.length || !/^\d\d$/.test(iban.slice(2, 4)) || !spec.bban.test(iban.slice(4))) return false;
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  let remainder = 0;
  for (let i = 0; i < rearranged.length; i++) {
    const code = rearranged.charCodeAt(i);
    // Letters count as two digits (A = 10 … Z = 35); folding digit by digit keeps the number small.
    remainder = code >= 65 ? (remainder * 100 + code - 55) % 97 : (remainder * 10 + code - 48) % 97;
  }
  return remainder === 1;
}

/** Dotted quad with octets 0–255 and no leading zeros (`1.2.3.04` is not an address). */
export function ipv4Valid(candidate: string): boolean {
  const octets = candidate.split('.');
  return octets.length === 4 && octets.every((o) => /^(?:0|[1-9]\d{0,2})$/.test(o) && Number(o) <= 255);
}

/** Shannon entropy in bits per character. */
export function entropy(value: string): number {
  const counts = new Map<string, number>();
  for (const ch of value) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  const length = [...value].length;
  let bits = 0;
  for (const n of counts.values()) {
    const p = n / length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

// `<[^<>]*>`, not `<[^>]*>`: from every `<` the latter would read to the next `>`, the whole value for `<<<<...`.
const PLACEHOLDER_SHAPE = /[xX]{6,}|\*{4,}|#{4,}|(.)\1{7,}|<[^<>]*>/;
// Words in one case only: random tokens contain `FaKe` by chance, placeholders say `fake` or `FAKE`.
const PLACEHOLDER_WORDS = 'example|placeholder|dummy|fake|redacted|changeme|your[_-]';
const PLACEHOLDER_LOWER = new RegExp(PLACEHOLDER_WORDS);
const PLACEHOLDER_UPPER = new RegExp(PLACEHOLDER_WORDS.toUpperCase());

/** Documentation keys, `xxxx` fillers and obvious fakes: shaped like a secret, but safe to show. */
export function isPlaceholder(value: string): boolean {
  return PLACEHOLDER_SHAPE.test(value) || PLACEHOLDER_LOWER.test(value) || PLACEHOLDER_UPPER.test(value);
}

/** A reference to a secret rather than the secret: `${ENV}`, `{{ var }}`, `<%= x %>`, `%(x)s`, `$VAR`, `os.environ[...]`. */
export function isTemplated(value: string): boolean {
  return /\$\{[A-Za-z_][\w.]*(?::?-[^{}]*)?\}|\{\{[^{}]*\}\}|<%=?[^%]*%>|%\(\w+\)s|^\$[A-Za-z_]\w*$|^(?:process\.env|os\.environ|os\.getenv|getenv|env\(|ENV\[)/.test(value);
}

/** A JWT's header segment must decode to a JSON object naming its algorithm or type. */
export function jwtHeaderValid(header: string): boolean {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(header, 'base64url').toString('utf8'));
    return typeof parsed === 'object' && parsed !== null && ('alg' in parsed || 'typ' in parsed);
  } catch {
    return false;
  }
}
