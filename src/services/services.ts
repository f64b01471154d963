// The shared services one gateway process hands to every adapter (built once, in main.ts).
import type { Config } from '../config/schema.ts';
import type { Approvals } from './approvals/approvals.ts';
import type { AuditLog } from './audit/log.ts';
import type { AuthThrottle } from './identity/throttle.ts';
import type { Tokens } from './identity/tokens.ts';
import type { Sessions } from './sessions/sessions.ts';
import type { Store } from './store/store.ts';

export interface Services {
  config: Config;
  store: Store;
  audit: AuditLog;
  tokens: Tokens;
  sessions: Sessions;
  approvals: Approvals;
  throttle: AuthThrottle;
  /** Key for keyed hashing (masking pseudonyms); stable across restarts. */
  secret: Buffer;
  log: (line: string) => void;
}

/** A running adapter: one listener for one configured connection. */
export interface Listener {
  readonly name: string;
  readonly kind: string;
  readonly address: string;
  close(): Promise<void>;
}
