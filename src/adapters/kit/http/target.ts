// Request-target normalisation: one canonical path is matched against grants AND forwarded, so the two can never disagree.

export type Target =
  | { ok: true; path: string; query: string | null }
  | { ok: false; reason: string };

/** RFC 3986 unreserved characters: the only percent-encodings decoded, since decoding them never changes meaning. */
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
/** pchar without `;`: path parameters are read differently by different servers (`/a;x/..;/admin`), so they are refused. */
const SEGMENT_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,=:@%]*$/;
const QUERY_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]*$/;
const PERCENT = /%([0-9A-Fa-f]{2})?/g;

/**
 * Normalises an origin-form request-target (`/a/b?q`): decodes unreserved percent-encodings, upper-cases the rest,
 * collapses `//`, resolves `.` and `..` (after decoding, so `%2e%2e` counts), and refuses what upstream servers could read
 * differently: `%2F` and `%5C` inside a segment, backslashes, NUL, double-encoded dots and slashes, `;` parameters,
 * absolute-form and asterisk-form targets, fragments, and paths that climb above the root.
 */
export function normaliseTarget(raw: string): Target {
  if (!raw.startsWith('/')) {
    return { ok: false, reason: raw === '*' ? 'asterisk-form request targets (OPTIONS *) are not accepted' : 'only origin-form request targets (/path) are accepted, not absolute URLs' };
  }
  if (raw.includes('#')) return { ok: false, reason: 'a request target must not contain a fragment (#)' };
  const q = raw.indexOf('?');
  const rawPath = q < 0 ? raw : raw.slice(0, q);
  const query = q < 0 ? null : raw.slice(q + 1);
  if (rawPath.includes('\\')) return { ok: false, reason: 'backslashes in paths are ambiguous and refused' };
  const stack: string[] = [];
  const parts = rawPath.split('/').slice(1);
  let endsInDot = false;
  for (const part of parts) {
    if (part === '') continue; // `//` collapses
    if (part.includes(';')) return { ok: false, reason: `";" path parameters are ambiguous and refused (segment "${part}")` };
    if (!SEGMENT_CHARS.test(part)) return { ok: false, reason: `path segment "${part}" contains characters that must be percent-encoded` };
    const decoded = decodeSegment(part);
    if (!decoded.ok) return decoded;
    const seg = decoded.path;
    endsInDot = seg === '.' || seg === '..';
    if (seg === '..') {
      if (stack.length === 0) return { ok: false, reason: 'the path climbs above the root ("..")' };
      stack.pop();
    } else if (seg !== '.') stack.push(seg);
  }
  if (query !== null) {
    if (!QUERY_CHARS.test(query)) return { ok: false, reason: 'the query string contains characters that must be percent-encoded' };
    const bad = checkPercents(query);
    if (bad) return { ok: false, reason: `query string: ${bad}` };
  }
  // RFC 3986 §5.2.4: `/a/b/..` is `/a/`; a trailing slash is kept, since `/x` and `/x/` may be different resources.
  const trailing = rawPath.endsWith('/') || endsInDot;
  const path = '/' + stack.join('/') + (trailing && stack.length ? '/' : '');
  return { ok: true, path, query };
}

function decodeSegment(part: string): Target {
  let reason: string | undefined;
  const out = part.replace(PERCENT, (match: string, hex: string | undefined, offset: number) => {
    if (!hex) { reason ??= `invalid percent-encoding in "${part}"`; return match; }
    const code = parseInt(hex, 16);
    const ch = String.fromCharCode(code);
    if (code === 0x2f) reason ??= `an encoded slash (%2F) inside a path segment is ambiguous and refused ("${part}")`;
    else if (code === 0x5c) reason ??= `an encoded backslash (%5C) is ambiguous and refused ("${part}")`;
    else if (code === 0x00) reason ??= 'an encoded NUL (%00) is refused';
    else if (code === 0x25 && /^(2e|2f|5c|00)/i.test(part.slice(offset + 3))) reason ??= `double percent-encoding ("${part}") is ambiguous and refused`;
    if (code < 0x80 && UNRESERVED.test(ch)) return ch;
    return '%' + hex.toUpperCase();
  });
  return reason ? { ok: false, reason } : { ok: true, path: out, query: null };
}

function checkPercents(text: string): string | undefined {
  for (const m of text.matchAll(PERCENT)) {
    if (!m[1]) return 'invalid percent-encoding';
    if (m[1] === '00') return 'an encoded NUL (%00) is refused';
  }
  return undefined;
}
