// One gateway with every adapter (the conformance drivers' connections and real upstreams), and for each a corpus of
// what its real client sends, recorded: the ground the socket fuzzer mutates.
import { randomUUID } from 'node:crypto';
import { parse, stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.ts';
import { startGateway, type Gateway } from '../../src/main.ts';
import type { Driver } from '../conformance/driver.ts';
import { egress } from '../conformance/egress.ts';
import { filesystem } from '../conformance/filesystem.ts';
import { http } from '../conformance/http.ts';
import { llm } from '../conformance/llm.ts';
import { mcp } from '../conformance/mcp.ts';
import { mysqlDriver } from '../conformance/mysql.ts';
import { postgres } from '../conformance/postgres.ts';
import { redis } from '../conformance/redis.ts';
import { record, type Target } from './fuzz.ts';
import { silent } from './log.ts';

export const FUZZ_DRIVERS: Driver[] = [postgres, mysqlDriver, redis, http, llm, mcp, filesystem, egress];

export interface FuzzBed {
  gateway: Gateway;
  targets: (Target & { corpus: Buffer[][] })[];
  close(): Promise<void>;
}

export async function fuzzBed(drivers = FUZZ_DRIVERS): Promise<FuzzBed> {
  const merged: { connections: Record<string, unknown>; roles: { agent: Record<string, unknown> } } = { connections: {}, roles: { agent: {} } };
  const names = new Map<Driver, string>();
  for (const d of drivers) {
    const part = parse(await d.setup()) as typeof merged;
    names.set(d, Object.keys(part.connections)[0]);
    Object.assign(merged.connections, part.connections);
    Object.assign(merged.roles.agent, part.roles.agent);
  }
  const config = parseConfig(stringify({ admin: { listen: '127.0.0.1:0' }, store: 'sqlite::memory:', approvals: { timeout: '2s' }, ...merged }), 'fuzz');
  const gateway = await startGateway(config, { log: silent });
  const targets: FuzzBed['targets'] = [];
  for (const driver of drivers) {
    const address = gateway.listeners.find((l) => l.name === names.get(driver))!.address;
    const { token } = await gateway.services.tokens.mint({ role: 'agent', label: `fuzz-${driver.name}`, ttlSeconds: 3600, createdBy: 'fuzz' });
    const t = { token, label: `fuzz-${driver.name}` };
    const session = async (at: string) => {
      const agent = await driver.connect(at, t, { run: randomUUID(), step: 'fuzz' });
      try { await agent.allowed(); await agent.allowed(); } finally { await agent.close(); }
    };
    // A valid session, and one refused at the door: both paths are material.
    const corpus = [
      ...(await record(address, session)),
      ...(await record(address, (at) => driver.connect(at, { token: `gth_${'x'.repeat(43)}`, label: 'nobody' }, { run: randomUUID(), step: 'fuzz' }).then((a) => a.allowed().finally(() => a.close())).catch(() => undefined))),
    ];
    targets.push({ driver, address, corpus, witness: () => session(address) });
  }
  return {
    gateway,
    targets,
    async close() {
      await gateway.close();
      for (const d of drivers) await d.teardown().catch(() => undefined);
    },
  };
}
