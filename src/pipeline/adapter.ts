// What the composition root hands every adapter: the gate every request passes, and the shared services beside it.
import type { Connection } from '../config/schema.ts';
import type { Network } from '../services/network/network.ts';
import type { Listener, Services } from '../services/services.ts';
import type { ContentGuards } from './content-guards.ts';
import type { Gate } from './gate.ts';
import type { RateLedger } from './rate-ledger.ts';

/**
 * What an adapter may use: the gate for everything about tokens, sessions, approvals and the audit (so those are
 * written once, there), and the services that know no request — config, store, guards, keys, logs, metrics.
 */
export interface AdapterServices extends Omit<Services, 'audit' | 'approvals' | 'sessions' | 'tokens' | 'throttle'> {
  gate: Gate;
  /** Content guards (secrets, PII, prompt injection) with a grant's modes applied. */
  guards: ContentGuards;
  /** Where `rate:` and `max_bytes:` limiters come from: counted across the nodes of a shared store. */
  rates: RateLedger;
  /** The way out to hosts an agent names (the egress proxy's): one resolver and dialer, which tests replace. */
  network: Network;
  /** Where this gateway listens (every listener and the admin API, as `host:port`): never a destination for agents. */
  listening(): readonly string[];
}

/** Starts one configured connection's listener; fails at start-up (bad grants, unreachable catalog), not on a request. */
export type StartListener<C extends Connection = Connection> = (name: string, connection: C, services: AdapterServices) => Promise<Listener>;
