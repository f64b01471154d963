// An agent's path checked as text, before it touches the disk: relative to the root, plain segments, one spelling.

export type CheckedPath =
  | { ok: true; segments: string[]; path: string }
  | { ok: false; why: string };

/** Longest path and segment accepted (Linux's own limits). */
const MAX_PATH = 4096;
const MAX_SEGMENT_BYTES = 255;

/**
 * Splits `input` into segments under the root, or says why it cannot be one. `''`, `.` and `./` name the root itself.
 * Refused: absolute paths (the root is the whole world), `~`, `..`, NUL and control characters, backslashes (another
 * system's separator, read as a name here), invisible format characters (zero-width, bidi), and any spelling that is
 * not Unicode NFC, so a glob and the name on disk compare as the same text.
 */
export function checkPath(input: unknown): CheckedPath {
  if (typeof input !== 'string') return { ok: false, why: 'a path must be a string' };
  if (input.length > MAX_PATH) return { ok: false, why: `a path may be at most ${MAX_PATH} characters` };
  if (/\p{Cc}/u.test(input)) return { ok: false, why: 'NUL and control characters are not accepted in paths' };
  if (/\p{Cf}/u.test(input)) return { ok: false, why: 'invisible format characters (zero-width, bidi controls) are not accepted in paths' };
  if (input.includes('\\')) return { ok: false, why: 'backslashes are not accepted in paths; separate segments with /' };
  if (input.startsWith('/')) return { ok: false, why: 'absolute paths are not accepted: paths are relative to the workspace root (e.g. "docs/a.md")' };
  if (input.startsWith('~')) return { ok: false, why: '"~" is not accepted: paths are relative to the workspace root' };
  if (input !== input.normalize('NFC')) return { ok: false, why: 'the path is not in Unicode NFC form; send it composed (NFC)' };
  const segments: string[] = [];
  for (const segment of input.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') return { ok: false, why: '".." is not accepted in paths' };
    if (Buffer.byteLength(segment) > MAX_SEGMENT_BYTES) return { ok: false, why: `a path segment may be at most ${MAX_SEGMENT_BYTES} bytes` };
    segments.push(segment);
  }
  return { ok: true, segments, path: segments.join('/') };
}

/**
 * The spelling deny globs are also matched in: compatibility-folded and lower-cased, so `.ENV`, `．env` (full width)
 * or `.Env` cannot slip past a deny of `.env` on a filesystem (or a later copy) that treats them as the same name.
 */
export const folded = (path: string) => path.normalize('NFKC').toLowerCase();
