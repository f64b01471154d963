// Method and URL override headers: frameworks that honour them run something other than the request line, so a GET a
// grant allows could run upstream as a DELETE. Refused unless a connection opts in; an honoured override is what is judged.
import type { IncomingHttpHeaders } from 'node:http';
import { METHODS } from './server.ts';
import { normaliseTarget } from './target.ts';

export const METHOD_OVERRIDES = ['x-http-method-override', 'x-http-method', 'x-method-override'] as const;
export const URL_OVERRIDES = ['x-original-url', 'x-rewrite-url'] as const;
/** A query parameter some frameworks (Express's method-override, Rails and Laravel forms) read as the method. */
const METHOD_PARAM = '_method';

/** `refuse` (default): a request carrying an override is refused; `strip`: overrides are dropped; `honour`: forwarded, and judged as overridden. */
export type OverridePolicy = 'refuse' | 'strip' | 'honour';

export type Effective =
  | { ok: true; method: string; url: string; drop: string[]; set: Record<string, string> }
  | { ok: false; reason: string };

/** The request as the upstream will run it, and the header changes that make it so. */
export function effectiveRequest(method: string, url: string, headers: IncomingHttpHeaders, policy: OverridePolicy): Effective {
  const present = [...METHOD_OVERRIDES, ...URL_OVERRIDES].filter((h) => headers[h] !== undefined);
  const q = url.indexOf('?');
  const param = q >= 0 && new URLSearchParams(url.slice(q + 1)).has(METHOD_PARAM);
  if (!present.length && !param) return { ok: true, method, url, drop: [], set: {} };
  if (policy === 'strip') {
    if (param) return { ok: false, reason: `the "${METHOD_PARAM}" query parameter overrides the method, which this connection refuses` };
    return { ok: true, method, url, drop: present, set: {} };
  }
  if (policy === 'refuse') {
    return { ok: false, reason: `${[...present, ...(param ? [`the ${METHOD_PARAM} query parameter`] : [])].join(', ')} would make the upstream run another method or path than the request line, which this connection refuses (override_headers: refuse)` };
  }
  const methods = new Set([...METHOD_OVERRIDES.flatMap((h) => (headers[h] === undefined ? [] : [String(headers[h]).trim().toUpperCase()])),
    ...(param ? [String(new URLSearchParams(url.slice(q + 1)).get(METHOD_PARAM)).toUpperCase()] : [])]);
  if (methods.size > 1) return { ok: false, reason: `method overrides disagree (${[...methods].join(', ')})` };
  const overridden = [...methods][0] ?? method;
  if (!METHODS.has(overridden)) return { ok: false, reason: `overridden method "${overridden}" is not accepted` };
  const urls = new Set(URL_OVERRIDES.flatMap((h) => (headers[h] === undefined ? [] : [String(headers[h])])));
  if (urls.size > 1) return { ok: false, reason: `URL overrides disagree (${[...urls].join(', ')})` };
  const target = [...urls][0];
  if (target === undefined) return { ok: true, method: overridden, url, drop: [], set: {} };
  const norm = normaliseTarget(target);
  if (!norm.ok) return { ok: false, reason: `URL override: ${norm.reason}` };
  // Forwarded in the normalised form that was judged, so the upstream cannot read it differently.
  const judged = norm.path + (norm.query === null ? '' : `?${norm.query}`);
  return { ok: true, method: overridden, url: judged, drop: [], set: Object.fromEntries(URL_OVERRIDES.filter((h) => headers[h] !== undefined).map((h) => [h, judged])) };
}
