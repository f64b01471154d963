// The shared services one gateway process hands to every adapter (built once, in main.ts).
import type { Config } from '../config/schema.ts';
import type { Approvals } from './approvals/approvals.ts';
import type { Checkpointer } from './audit/checkpoints.ts';
import type { AuditLog } from './audit/log.ts';
import type { AuthThrottle } from './identity/throttle.ts';
import type { Tokens } from './identity/tokens.ts';
import type { Sessions } from './sessions/sessions.ts';
import type { Store } from './store/store.ts';
import type { Logger } from './telemetry/logger.ts';
import type { Metrics } from './telemetry/metrics.ts';

export interface Services {
  config: Config;
  store: Store;
  audit: AuditLog;
  /** Signs the chain's head outside the store, when `audit.checkpoints` is configured. */
  checkpoints?: Checkpointer;
  tokens: Tokens;
  sessions: Sessions;
  approvals: Approvals;
  throttle: AuthThrottle;
  /** Key for keyed hashing (masking pseudonyms); stable across restarts. */
  secret: Buffer;
  /** Structured logs (JSON lines, scrubbed of secrets). */
  log: Logger;
  metrics: Metrics;
}

/** A running adapter: one listener for one configured connection. */
export interface Listener {
  readonly name: string;
  readonly kind: string;
  readonly address: string;
  /**
   * Graceful shutdown: stop accepting connections, let what is in flight finish and end each session once it is idle;
   * resolves when every connection has closed. What is left at the drain deadline is cut by `close`. A listener without
   * it is closed when the drain begins.
   */
  drain?(): Promise<void>;
  close(): Promise<void>;
}
