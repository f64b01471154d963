// Which configured values are secrets (admin keys, the hashing secret, webhook URLs and secrets, upstream passwords,
// injected credential headers, keys in server environments), so what the gateway writes about itself can be scrubbed.

/** Shorter values would scrub ordinary words out of every line; configured keys and secrets are far longer. */
const MIN_LENGTH = 4;

/** Fields whose values are secrets wherever they appear: `key`, `secret`, `password`, `GITHUB_TOKEN`, `api_key`... */
const SECRET_FIELD = /(^|[_-])(key|secret|password|passwd|token)$/i;

/** Every secret in a loaded config, longest first (so a secret containing another is scrubbed whole). */
export function configSecrets(config: object): string[] {
  const found = new Set<string>();
  const add = (value: unknown) => {
    if (typeof value === 'string' && value.length >= MIN_LENGTH) found.add(value);
  };
  const walk = (value: unknown, field: string) => {
    if (typeof value === 'string') {
      if (SECRET_FIELD.test(field)) add(value);
      const password = passwordOf(value);
      if (password) [password, safeDecode(password)].forEach(add);
    } else if (Array.isArray(value)) {
      value.forEach((v) => walk(v, field));
    } else if (value && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) {
        walk(v, k);
        // Injected headers are credentials (and the word after `Bearer ` is); a webhook's URL is its own secret (Slack).
        if (k === 'headers' && v && typeof v === 'object') for (const h of Object.values(v)) [h, typeof h === 'string' ? h.split(/\s+/).at(-1) : undefined].forEach(add);
        if (k === 'webhooks' && Array.isArray(v)) v.forEach((hook) => add((hook as { url?: unknown }).url));
      }
    }
  };
  walk(config, '');
  return [...found].sort((a, b) => b.length - a.length);
}

/** The password of a `scheme://user:password@host` URL, as written. */
function passwordOf(text: string): string | undefined {
  return /^[a-z][a-z0-9+.-]*:\/\/[^/@:\s]*:([^@\s]+)@/i.exec(text)?.[1];
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
