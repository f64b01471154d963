// The prompt on its way out: content rules and guards read it as the agent wrote it, the output cap is applied, and
// only then is it redacted, so neither the upstream nor the audit ever holds what the guards redact.
import type { LlmGrant } from '../../config/schema.ts';
import { guardsActive, redacting, type ContentGuards, type GuardNote } from '../../pipeline/content-guards.ts';
import type { LlmRequest } from './call.ts';
import { scanRole } from './openai.ts';
import type { compileDenyRules, LlmAsk } from './policy.ts';

/** What happened to the output-token fields: clamped values, or a cap set where the agent named none. */
export interface Caps { clamped: string[]; set?: string }

export interface PromptReview {
  ask: Pick<LlmAsk, 'uninspectable' | 'denyRule' | 'guardBlock' | 'overCap'>;
  notes: GuardNote[];
  caps: Caps;
}

/** Reviews and rewrites `body` in place (caps, redactions); the findings go to the policy and the audit. */
export function reviewPrompt(call: LlmRequest, body: Record<string, unknown>, grant: LlmGrant, rules: ReturnType<typeof compileDenyRules>, guards: ContentGuards): PromptReview {
  const ask: PromptReview['ask'] = { uninspectable: call.uninspectable };
  const notes: GuardNote[] = [];
  const caps: Caps = { clamped: [] };
  for (const slot of call.slots) {
    const text = slot.get();
    ask.denyRule ??= rules.find((r) => r.test(text))?.rule;
    if (guardsActive(grant.guards)) {
      const scan = guards.scan(text, grant.guards, scanRole(slot.role));
      notes.push(...scan.notes);
      ask.guardBlock ??= scan.block;
    }
  }
  if (grant.max_tokens !== undefined) {
    for (const field of call.maxTokenFields) {
      const v = body[field];
      // A value that is not a count cannot be clamped: refused in either mode.
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) ask.overCap ??= { field, value: v };
      else if (v > grant.max_tokens) {
        if (grant.max_tokens_mode === 'reject') ask.overCap ??= { field, value: v };
        else { body[field] = grant.max_tokens; caps.clamped.push(`${field} ${v}→${grant.max_tokens}`); }
      }
    }
    if (!call.maxTokenFields.length && call.capField) { body[call.capField] = grant.max_tokens; caps.set = `${call.capField}=${grant.max_tokens}`; }
  }
  if (redacting(grant.guards)) for (const slot of call.slots) slot.set(guards.redact(slot.get(), grant.guards).text);
  return { ask, notes, caps };
}
