// Loggers for tests: a silent one for gateways whose logs nobody reads, and one that keeps every line to inspect.
import { pino } from 'pino';
import { configSecrets } from '../../src/config/secrets.ts';
import type { Config } from '../../src/config/schema.ts';
import { createLogger, type Logger } from '../../src/services/telemetry/logger.ts';

export const silent: Logger = pino({ level: 'silent' });

/** The gateway's own logger (scrubbing included) at `level`, writing into `lines` instead of standard error. */
export function capture(config: Config, level = 'debug'): { log: Logger; lines: string[]; records(): Record<string, unknown>[] } {
  const lines: string[] = [];
  const log = createLogger({ level, secrets: configSecrets(config), destination: { write: (line) => void lines.push(line) } });
  return { log, lines, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}
