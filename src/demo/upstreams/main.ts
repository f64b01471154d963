// The demo's upstreams as a process of their own, for the compose quick start: seeds the crm database once, then serves
// the billing API (port 9000) and the LLM (port 9001) on every interface. Run: node --import tsx src/demo/upstreams/main.ts
import pg from 'pg';
import { demoSchema } from '../seed.ts';
import { startBillingApi } from './billing.ts';
import { startLlmUpstream } from './llm.ts';

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    process.stderr.write(`demo upstreams: ${name} is required\n`);
    process.exit(2);
  }
  return value;
}

const crm = new pg.Client({ connectionString: required('DEMO_CRM_URL') });
await crm.connect();
const { rows } = await crm.query<{ seeded: boolean }>("SELECT to_regclass('public.customers') IS NOT NULL AS seeded");
if (!rows[0].seeded) await crm.query(demoSchema);
await crm.end();
const billing = await startBillingApi({ key: required('DEMO_BILLING_KEY'), port: 9000, host: '0.0.0.0' });
const llm = await startLlmUpstream({ key: required('DEMO_OPENAI_KEY'), port: 9001, host: '0.0.0.0' });
process.stdout.write(`demo upstreams: crm seeded, billing on ${billing.url}, llm on ${llm.url}\n`);
const stop = () => void Promise.all([billing.close(), llm.close()]).then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
