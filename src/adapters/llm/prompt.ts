// The prompt on its way out: content rules and guards read it as the agent wrote it, the output cap is applied, and
// only then is it redacted (and untrusted content spotlighted), so neither the upstream nor the audit holds what the guards redact.
import type { LlmGrant } from '../../config/schema.ts';
import { guardsActive, redacting, type ContentGuards, type GuardNote } from '../../pipeline/content-guards.ts';
import type { LlmRequest } from './dialect.ts';
import { scanRole } from './openai.ts';
import type { compileDenyRules, LlmFacts } from './policy.ts';
import { NOTES, spotlight } from './spotlight.ts';

/** What happened to the output-token fields: clamped values, a cap set where the agent named none, or lowered to fit a budget. */
export interface Caps { clamped: string[]; set?: string; budget?: string }

export interface PromptReview {
  ask: Pick<LlmFacts, 'uninspectable' | 'denyRule' | 'guardBlock' | 'overCap'>;
  notes: GuardNote[];
  caps: Caps;
  /** Untrusted texts marked for the model (spotlighting), when the grant asks for it. */
  spotlighted: number;
}

/** Detector types that judge by surrounding words rather than by the value's own shape. */
const CONTEXTUAL = new Set(['generic_secret']);

/** Counts findings of the secrets and PII guards. */
const found = (notes: GuardNote[]) => notes.reduce((n, x) => n + (x.guard === 'injection' ? 0 : x.count), 0);

/**
 * Reviews and rewrites `body` in place (caps, redactions, spotlighting); the findings go to the policy and the audit.
 * `instruct` places the spotlighting note where the dialect's model reads it first.
 */
export function reviewPrompt(call: LlmRequest, body: Record<string, unknown>, grant: LlmGrant, rules: ReturnType<typeof compileDenyRules>, guards: ContentGuards, instruct: (note: string) => void): PromptReview {
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
  const perPart = found(notes);
  if (redacting(grant.guards)) for (const slot of call.slots) slot.set(guards.redact(slot.get(), grant.guards).text);
  if (call.slots.length > 1) joined(call, grant, rules, guards, perPart, ask, notes);
  return { ask, notes, caps, spotlighted: spotlightAll(call, grant, instruct) };
}

/**
 * A secret (or a denied phrase) split across content parts or messages is whole again in their joined text. Scanned
 * after redaction, so what the parts already showed is not counted twice; a split secret cannot be redacted in place,
 * so `redact` refuses it like `block`.
 */
function joined(call: LlmRequest, grant: LlmGrant, rules: ReturnType<typeof compileDenyRules>, guards: ContentGuards, perPart: number, ask: PromptReview['ask'], notes: GuardNote[]) {
  const text = call.slots.map((s) => s.get()).join('');
  ask.denyRule ??= rules.find((r) => r.test(text))?.rule;
  if (grant.guards.secrets === 'off' && grant.guards.pii === 'off') return;
  const scan = guards.scan(text, { ...grant.guards, injection: 'off' }, 'user');
  // generic_secret reads key=value context, which joining texts end to end invents: only self-evident shapes count here.
  const note = scan.notes.find((n) => n.guard !== 'injection' && n.types.some((t) => !CONTEXTUAL.has(t)));
  const split = found(scan.notes) - (redacting(grant.guards) ? 0 : perPart);
  if (!note || split <= 0) return;
  notes.push({ ...note, count: split, types: note.types.map((t) => `${t} (split across parts)`) });
  if (scan.notes.some((n) => n.mode === 'block' || n.mode === 'redact')) {
    ask.guardBlock ??= { rule: `guards.${note.guard}`, message: `the request carries ${note.guard === 'secrets' ? 'a secret' : 'personal data'} (${note.types.join(', ')}) split across message parts, which cannot be redacted in place; the ${note.guard} guard refuses it` };
  }
}

function spotlightAll(call: LlmRequest, grant: LlmGrant, instruct: (note: string) => void): number {
  const mode = grant.guards.spotlight;
  if (mode === 'off') return 0;
  const marked = spotlight(call, mode);
  if (marked) instruct(NOTES[mode]);
  return marked;
}
