// LLM policy: model, tools, output cap, prompt content rules, guards and budget, judged in that order; approvals hold.
import type { LlmGrant } from '../../config/schema.ts';
import { allow, deny, hold, type Verdict } from '../../services/policy/verdict.ts';
import type { Endpoint } from './call.ts';

export interface LlmAsk {
  role: string;
  connection: string;
  endpoint: Endpoint;
  model?: string;
  tools: string[];
  /** An output-token field above the cap (reject mode). */
  overCap?: { field: string; value: unknown };
  uninspectable?: string;
  /** The first deny rule the prompt matched. */
  denyRule?: string;
  guardBlock?: { rule: string; message: string };
  /** Capabilities asked for outside the tools list (request fields, beta flags). */
  capabilities?: { name: string; where: string }[];
  /** Fields the dialect's inventory does not know, when the connection refuses them. */
  unknown?: string[];
  /** Completions asked for per request (`n`, `best_of`). */
  choices?: unknown;
  /** `spent`: charged and reserved by calls in flight; `need`: what this call can spend at most (see budget.ts). */
  budget?: { spent: number; need: number; limit: number; per: string; resetsAt?: number };
}

/** `gpt-4o*`-style model patterns; exact names otherwise. */
export function modelAllowed(grant: LlmGrant, model: string): boolean {
  return grant.models.some((m) => (m.includes('*') ? new RegExp(`^${m.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`).test(model) : m === model));
}

/** Prompt rules: `/regex/flags`, or a literal phrase matched case-insensitively. Compiled once per grant. */
export function compileDenyRules(rules: string[]): { rule: string; test: (text: string) => boolean }[] {
  return rules.map((rule) => {
    const m = /^\/(.*)\/([a-z]*)$/s.exec(rule);
    if (m) {
      const re = new RegExp(m[1], m[2].replace(/[gy]/g, ''));
      return { rule, test: (t: string) => re.test(t) };
    }
    const phrase = rule.toLowerCase();
    return { rule, test: (t: string) => t.toLowerCase().includes(phrase) };
  });
}

export const contentRulesApply = (grant: LlmGrant) => grant.deny.length > 0 || grant.guards.injection !== 'off' || grant.guards.secrets !== 'off' || grant.guards.pii !== 'off';

export function decideLlm(ask: LlmAsk, grant: LlmGrant): Verdict {
  if (ask.endpoint === 'models') return allow('models (filtered to the grant)');
  if (!ask.model) return deny('llm.model', 'the request names no model');
  if (!modelAllowed(grant, ask.model)) {
    return deny('llm.models', `model "${ask.model}" is not granted to role "${ask.role}" on connection "${ask.connection}" (granted: ${grant.models.join(', ') || 'none'})`);
  }
  if (ask.endpoint === 'model') return allow(`model ${ask.model}`);
  const tool = ask.tools.find((t) => !grant.tools.includes(t));
  if (tool) return deny('llm.tools', `tool "${tool}" may not be offered to the model (granted tools: ${grant.tools.join(', ') || 'none'})`);
  const power = ask.capabilities?.find((c) => !grant.capabilities.includes(c.name));
  if (power) return deny('llm.capability', `${power.where} asks for the capability "${power.name}", which role "${ask.role}" is not granted on connection "${ask.connection}" (granted capabilities: ${grant.capabilities.join(', ') || 'none'})`);
  if (ask.unknown?.length) {
    return deny('request.field', `${ask.unknown.slice(0, 3).join('; ')}${ask.unknown.length > 3 ? ` and ${ask.unknown.length - 3} more` : ''}: Gatehouse refuses what it cannot read (this connection has unknown_fields: refuse)`);
  }
  if (ask.choices !== undefined && ask.choices !== 1 && !(Number.isInteger(ask.choices) && (ask.choices as number) >= 1 && (ask.choices as number) <= grant.max_choices)) {
    return deny('llm.choices', `${JSON.stringify(ask.choices)} completions per request exceeds the grant's max_choices ${grant.max_choices}`);
  }
  if (ask.overCap) return deny('llm.max_tokens', `${ask.overCap.field} ${JSON.stringify(ask.overCap.value)} exceeds the grant's max_tokens ${grant.max_tokens}`);
  if (ask.uninspectable && contentRulesApply(grant)) return deny('llm.uninspectable', `${ask.uninspectable}, and this grant's content rules must read every prompt`);
  if (ask.denyRule) return deny('llm.deny', `the prompt matches the deny rule ${JSON.stringify(ask.denyRule)}`);
  if (ask.guardBlock) return deny(ask.guardBlock.rule, ask.guardBlock.message);
  if (ask.budget && ask.budget.spent + ask.budget.need > ask.budget.limit) {
    const b = ask.budget;
    const used = `${b.spent} spent or reserved by calls in flight; this call needs up to ${b.need}`;
    return b.resetsAt === undefined
      ? deny('llm.budget', `this token's budget of ${b.limit} tokens cannot cover this call (${used})`)
      : deny('llm.budget.window', `role "${ask.role}"'s budget of ${b.limit} tokens per ${b.per} cannot cover this call (${used}); it resets at ${new Date(b.resetsAt).toISOString()}`);
  }
  const needsApproval = [ask.model, ...ask.tools].find((n) => grant.approve.includes(n));
  if (needsApproval) return hold(`model ${ask.model}`, `"${needsApproval}" is listed in approve`);
  return allow(`model ${ask.model}`);
}

/** `policy explain --model gpt-4o [--tool x] [--max-tokens n]`: the verdict a role's grant gives such a call. */
export function explainLlm(grant: LlmGrant | undefined, role: string, connection: string, call: { model: string; tools?: string[]; maxTokens?: number }): Verdict {
  if (!grant) return deny('grant.none', `role "${role}" has no grant on connection "${connection}"`);
  const over = call.maxTokens !== undefined && grant.max_tokens !== undefined && call.maxTokens > grant.max_tokens && grant.max_tokens_mode === 'reject';
  return decideLlm({ role, connection, endpoint: 'chat', model: call.model, tools: call.tools ?? [], ...(over ? { overCap: { field: 'max_tokens', value: call.maxTokens } } : {}) }, grant);
}
