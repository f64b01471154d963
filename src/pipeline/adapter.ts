// What the composition root hands every adapter: the gate every request passes, and the shared services beside it.
import type { Connection } from '../config/schema.ts';
import type { Listener, Services } from '../services/services.ts';
import type { ContentGuards } from './content-guards.ts';
import type { Gate } from './gate.ts';

export interface AdapterServices extends Services {
  gate: Gate;
  /** Content guards (secrets, PII, prompt injection) with a grant's modes applied. */
  guards: ContentGuards;
}

/** Starts one configured connection's listener; fails at start-up (bad grants, unreachable catalog), not on a request. */
export type StartListener<C extends Connection = Connection> = (name: string, connection: C, services: AdapterServices) => Promise<Listener>;
