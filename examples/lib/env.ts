// Where the examples get their connection strings and keys: the environment, or (against `npm start`) tokens minted for this run.
//
// An agent is handed one narrow token per step by whoever runs it. Here, if a variable is not set and GATEHOUSE_ADMIN_KEY
// is (the demo prints `export GATEHOUSE_URL=... GATEHOUSE_ADMIN_KEY=...`), the example asks the admin API for a 15-minute
// token of the step's role, as `gatehouse token create --role R --ttl 15m --label L` would.
import type { StepConfig } from './steps.ts';

/** Each step's environment variables, and the demo role a minted token gets. */
const STEPS = {
  rag: { url: 'RAG_DATABASE_URL', role: 'retriever' },
  sql: { url: 'SQL_DATABASE_URL', role: 'sql-agent' },
  support: { url: 'SUPPORT_DATABASE_URL', role: 'support-writer' },
  billing: { url: 'BILLING_BASE_URL', key: 'BILLING_API_KEY', role: 'billing-agent' },
  mcp: { url: 'MCP_URL', key: 'MCP_TOKEN', role: 'researcher' },
  workspace: { url: 'WORKSPACE_MCP_URL', key: 'WORKSPACE_TOKEN', role: 'workspace-agent' },
  llm: { url: 'OPENAI_BASE_URL', key: 'OPENAI_API_KEY' },
} as const;

export interface Admin { url: string; key: string }

export function adminFromEnv(): Admin | undefined {
  const key = process.env.GATEHOUSE_ADMIN_KEY;
  return key ? { url: (process.env.GATEHOUSE_URL ?? 'http://127.0.0.1:7070').replace(/\/$/, ''), key } : undefined;
}

/**
 * The configuration for the given steps (the model is always one): `chatRole` is the role a minted model token gets
 * (`chat` for a plain chain, `assistant` or `helpdesk-assistant` for an agent offered tools). Steps not asked for are left empty. Throws with
 * what to set when something is missing.
 */
export async function stepConfigFromEnv(opts: { steps: ('rag' | 'sql' | 'billing' | 'support' | 'mcp' | 'workspace')[]; chatRole: 'chat' | 'assistant' | 'helpdesk-assistant' | 'workspace-assistant' }): Promise<StepConfig> {
  const env = (name: string) => process.env[name] || undefined;
  const admin = adminFromEnv();
  let listeners: Map<string, string> | undefined;
  const address = async (name: string) => {
    listeners ??= new Map((await call<{ listeners: { name: string; address: string }[] }>(admin!, 'GET', '/v1/health')).listeners.map((l) => [l.name, l.address]));
    const a = listeners.get(name);
    if (!a) throw new Error(`the gateway at ${admin!.url} has no connection "${name}"`);
    return a;
  };
  const mint = async (role: string, label: string) => {
    if (!admin) throw new Error(`set the ${label} step's variables, or GATEHOUSE_URL and GATEHOUSE_ADMIN_KEY to mint tokens (npm start prints them)`);
    return (await call<{ token: string }>(admin, 'POST', '/v1/tokens', { role, label, ttl: '15m' })).token;
  };
  const want = new Set(opts.steps);
  const database = async (step: 'rag' | 'sql', label: string) =>
    !want.has(step) ? '' : env(STEPS[step].url) ?? `postgresql://${label}:${await mint(STEPS[step].role, label)}@${await address('crm')}/crm`;
  const billing = want.has('billing') && env(STEPS.billing.url) && env(STEPS.billing.key);
  const llm = env(STEPS.llm.url) && env(STEPS.llm.key);

  const config: StepConfig = {
    ragDatabaseUrl: await database('rag', 'rag'),
    sqlDatabaseUrl: await database('sql', 'sql'),
    billingBaseUrl: !want.has('billing') ? '' : billing ? env(STEPS.billing.url)! : `http://${await address('billing')}`,
    billingApiKey: !want.has('billing') ? '' : billing ? env(STEPS.billing.key)! : want.has('support') ? '' : await mint(STEPS.billing.role, 'billing'),
    openaiBaseUrl: llm ? env(STEPS.llm.url)! : `http://${await address('openai')}/v1`,
    openaiApiKey: llm ? env(STEPS.llm.key)! : await mint(opts.chatRole, 'chat'),
  };
  if (want.has('mcp')) {
    const mcp = env(STEPS.mcp.url) && env(STEPS.mcp.key);
    config.mcpUrl = mcp ? env(STEPS.mcp.url)! : `http://${await address('tools')}/mcp`;
    config.mcpToken = mcp ? env(STEPS.mcp.key)! : await mint(STEPS.mcp.role, 'tools');
  }
  if (want.has('workspace')) {
    const given = env(STEPS.workspace.url) && env(STEPS.workspace.key);
    config.workspaceUrl = given ? env(STEPS.workspace.url)! : `http://${await address('workspace')}/mcp`;
    config.workspaceToken = given ? env(STEPS.workspace.key)! : await mint(STEPS.workspace.role, 'workspace');
  }
  if (want.has('support')) {
    // Nobody approves a request made with a token they issued: this one must come from someone other than the approver.
    const url = env(STEPS.support.url);
    if (!url) throw new Error('set SUPPORT_DATABASE_URL to the support-writer URL `npm start` prints (postgresql://support:<token>@127.0.0.1:6432/crm): the demo issued that token, so you, the admin, may approve what it asks');
    config.supportDatabaseUrl = url;
  }
  if (want.has('support') && want.has('billing') && !billing) {
    // The same rule for refunds: a token minted here would be the approver's own. The demo's support-writer token also
    // holds a billing grant whose POST /refunds waits for approval, so that step borrows it.
    config.billingApiKey = decodeURIComponent(new URL(config.supportDatabaseUrl!).password);
  }
  return config;
}

export async function call<T>(admin: Admin, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${admin.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${admin.key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const json = (await res.json().catch(() => ({}))) as T & { error?: string | { message?: string } };
  if (!res.ok) throw new Error(`admin API ${method} ${path}: ${res.status} ${typeof json.error === 'string' ? json.error : json.error?.message ?? ''}`);
  return json;
}
