// What the composition root hands every adapter: the gate every request passes, and the shared services beside it.
import type { Connection } from '../config/schema.ts';
import type { Listener, Services } from '../services/services.ts';
import type { Gate } from './gate.ts';

export interface AdapterServices extends Services {
  gate: Gate;
}

/** Starts one configured connection's listener; fails at start-up (bad grants, unreachable catalog), not on a request. */
export type StartListener<C extends Connection = Connection> = (name: string, connection: C, services: AdapterServices) => Promise<Listener>;
