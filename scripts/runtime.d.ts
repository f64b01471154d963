// Types of scripts/runtime.js (plain JavaScript: it runs before anything can load TypeScript).
/** Path of an up-to-date bundle of `entry` (relative to the repository root), built first if missing or stale. */
export function runtime(entry: string): Promise<string>;
/** V8 flags the gateway runs with (see scripts/runtime.js). */
export const V8_FLAGS: string[];
