// LLM policy: model, tools, output cap, prompt content rules, guards and budget, judged in that order; approvals hold.
import type { LlmGrant } from '../../config/schema.ts';
import { compileApprovals, nameGlob, type ApproveMatcher } from '../../pipeline/approve.ts';
import type { Facts, Target } from '../../services/policy/facts.ts';
import { allow, deny, hold, type Verdict } from '../../services/policy/verdict.ts';
import type { Endpoint } from './dialect.ts';
import { FREE } from './endpoints.ts';

/** What an LLM call asks, as its policy judges it: the model, the tools offered, and what reading the prompt found. */
export interface LlmFacts extends Facts {
  protocol: 'llm';
  role: string;
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
  unknownFields?: string[];
  /** Completions asked for per request (`n`, `best_of`). */
  choices?: unknown;
  /** `spent`: charged and reserved by calls in flight; `need`: what this call can spend at most (see budget.ts). */
  budget?: { spent: number; need: number; limit: number; per: string; resetsAt?: number };
}

/** The facts of a call; the summary defaults to `<endpoint> <model>`. */
export function llmFacts(f: Omit<LlmFacts, 'protocol' | 'effect' | 'summary' | 'targets'> & { summary?: string }): LlmFacts {
  const targets: Target[] = [...(f.model ? [{ kind: 'model' as const, name: f.model, access: f.endpoint }] : []), ...f.tools.map((t) => ({ kind: 'tool' as const, name: t, access: 'offer' }))];
  return { summary: `${f.endpoint} ${f.model ?? '(no model)'}`, ...f, protocol: 'llm', effect: FREE.has(f.endpoint) ? 'read' : 'complete', targets };
}

/** `approve:` entries name models or tools (`gpt-4o`, `tool delete_*`), with `*` and `?` as wildcards. */
const compiledApprovals = new WeakMap<LlmGrant, ApproveMatcher>();
export function approvalsOf(grant: LlmGrant): ApproveMatcher {
  let matcher = compiledApprovals.get(grant);
  if (!matcher) compiledApprovals.set(grant, matcher = compileApprovals(grant.approve, { verbs: ['model', 'tool'], bare: 'target', glob: nameGlob }));
  return matcher;
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

export function decideLlm(facts: LlmFacts, grant: LlmGrant): Verdict {
  if (facts.endpoint === 'models') return allow('models (filtered to the grant)');
  if (!facts.model) return deny('llm.model', 'the request names no model');
  if (!modelAllowed(grant, facts.model)) {
    return deny('llm.models', `model "${facts.model}" is not granted to role "${facts.role}" on connection "${facts.connection}" (granted: ${grant.models.join(', ') || 'none'})`);
  }
  if (facts.endpoint === 'model') return allow(`model ${facts.model}`);
  const tool = facts.tools.find((t) => !grant.tools.includes(t));
  if (tool) return deny('llm.tools', `tool "${tool}" may not be offered to the model (granted tools: ${grant.tools.join(', ') || 'none'})`);
  const power = facts.capabilities?.find((c) => !grant.capabilities.includes(c.name));
  if (power) return deny('llm.capability', `${power.where} asks for the capability "${power.name}", which role "${facts.role}" is not granted on connection "${facts.connection}" (granted capabilities: ${grant.capabilities.join(', ') || 'none'})`);
  if (facts.unknownFields?.length) {
    const unknown = facts.unknownFields;
    return deny('request.field', `${unknown.slice(0, 3).join('; ')}${unknown.length > 3 ? ` and ${unknown.length - 3} more` : ''}: Gatehouse refuses what it cannot read (this connection has unknown_fields: refuse)`);
  }
  if (facts.choices !== undefined && facts.choices !== 1 && !(Number.isInteger(facts.choices) && (facts.choices as number) >= 1 && (facts.choices as number) <= grant.max_choices)) {
    return deny('llm.choices', `${JSON.stringify(facts.choices)} completions per request exceeds the grant's max_choices ${grant.max_choices}`);
  }
  if (facts.overCap) return deny('llm.max_tokens', `${facts.overCap.field} ${JSON.stringify(facts.overCap.value)} exceeds the grant's max_tokens ${grant.max_tokens}`);
  if (facts.uninspectable && contentRulesApply(grant)) return deny('llm.uninspectable', `${facts.uninspectable}, and this grant's content rules must read every prompt`);
  if (facts.denyRule) return deny('llm.deny', `the prompt matches the deny rule ${JSON.stringify(facts.denyRule)}`);
  if (facts.guardBlock) return deny(facts.guardBlock.rule, facts.guardBlock.message);
  if (facts.budget && facts.budget.spent + facts.budget.need > facts.budget.limit) {
    const b = facts.budget;
    const used = `${b.spent} spent or reserved by calls in flight; this call needs up to ${b.need}`;
    return b.resetsAt === undefined
      ? deny('llm.budget', `this token's budget of ${b.limit} tokens cannot cover this call (${used})`)
      : deny('llm.budget.window', `role "${facts.role}"'s budget of ${b.limit} tokens per ${b.per} cannot cover this call (${used}); it resets at ${new Date(b.resetsAt).toISOString()}`);
  }
  const approve = approvalsOf(grant);
  const needsApproval = approve('model', facts.model) ?? facts.tools.map((t) => approve('tool', t)).find(Boolean);
  if (needsApproval) return hold(`model ${facts.model}`, `"${needsApproval}" is listed in approve`);
  return allow(`model ${facts.model}`);
}

/** `policy explain --model gpt-4o [--tool x] [--max-tokens n]`: the verdict a role's grant gives such a call. */
export function explainLlm(grant: LlmGrant | undefined, role: string, connection: string, call: { model: string; tools?: string[]; maxTokens?: number }): Verdict {
  if (!grant) return deny('grant.none', `role "${role}" has no grant on connection "${connection}"`);
  const over = call.maxTokens !== undefined && grant.max_tokens !== undefined && call.maxTokens > grant.max_tokens && grant.max_tokens_mode === 'reject';
  return decideLlm(llmFacts({ connection, role, endpoint: 'chat', model: call.model, tools: call.tools ?? [], ...(over ? { overCap: { field: 'max_tokens', value: call.maxTokens } } : {}) }), grant);
}
