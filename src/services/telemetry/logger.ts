// Structured logs: one JSON object per line (pino) with a level, and nothing secret — every line is scrubbed of the
// config's secrets, of anything shaped like a Gatehouse token and of URL passwords before it is written.
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level: string;
  /** Values never to write (see config/secrets.ts). */
  secrets: readonly string[];
  /** Where lines go: standard error unless a test captures them. */
  destination?: DestinationStream;
}

export const REDACTED = '[REDACTED]';
const TOKEN = /gth_[A-Za-z0-9_-]{43}/g;
const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^/@:\s"]*:)[^@\s"]+@/gi;

export function createLogger(opts: LoggerOptions): Logger {
  const out = opts.destination ?? pino.destination({ dest: 2, sync: true });
  // A secret with quotes, backslashes or control characters appears JSON-escaped in the line.
  const needles = [...new Set(opts.secrets.flatMap((s) => [s, JSON.stringify(s).slice(1, -1)]))].sort((a, b) => b.length - a.length);
  const scrub = (line: string) => needles.reduce((l, s) => (l.includes(s) ? l.replaceAll(s, REDACTED) : l), line)
    .replace(TOKEN, `gth_${REDACTED}`)
    .replace(URL_PASSWORD, `$1${REDACTED}@`);
  return pino({
    level: opts.level,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  }, { write: (line: string) => out.write(scrub(line)) });
}
