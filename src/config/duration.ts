// Durations as people write them in configs and on the command line: 30s, 15m, 2h, 7d (and 500ms for timeouts).
const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** Seconds in a duration like `15m`; a bare number means seconds. Throws on anything else. */
export function parseDuration(text: string | number): number {
  if (typeof text === 'number' && Number.isFinite(text) && text > 0) return text;
  const m = /^(\d+(?:\.\d+)?)\s*([smhd]?)$/.exec(String(text).trim());
  if (!m || Number(m[1]) <= 0) throw new Error(`invalid duration "${text}" (expected e.g. 30s, 15m, 2h, 7d)`);
  return Math.round(Number(m[1]) * UNITS[m[2] || 's']);
}

/** Milliseconds in a duration like `500ms` or `1.5s`; a bare number means seconds. Throws on anything else. */
export function parseDurationMs(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|[smhd]?)$/.exec(text.trim());
  if (!m || Number(m[1]) <= 0) throw new Error(`invalid duration "${text}" (expected e.g. 500ms, 30s, 15m)`);
  return Math.round(Number(m[1]) * (m[2] === 'ms' ? 1 : UNITS[m[2] || 's'] * 1000));
}
