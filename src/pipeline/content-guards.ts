// The guards hook adapters call on requests and responses: the grant's guard modes turned into block / redact / flag.
// Guards only report findings; this module applies a grant's modes to them, and adapters render the outcome.
import * as lib from '../services/guards/index.ts';
import type { MaskStrategy } from '../services/guards/types.ts';

export type GuardMode = 'block' | 'redact' | 'flag' | 'off';
export interface GuardPolicy { injection: GuardMode; secrets: GuardMode; pii: GuardMode }
export const GUARDS_OFF: GuardPolicy = { injection: 'off', secrets: 'off', pii: 'off' };

/** What a guard saw, for the audit: types and counts, never the values found. */
export interface GuardNote {
  guard: 'injection' | 'secrets' | 'pii';
  mode: GuardMode;
  /** Detector types (secrets/pii) or injection rules. */
  types: string[];
  count: number;
  score?: number;
}

export interface GuardScan {
  /** Set when a guard in `block` mode found something: refuse with this rule and message. */
  block?: { rule: string; message: string };
  notes: GuardNote[];
}

export interface TextRedactor {
  push(chunk: string): string;
  flush(): string;
  notes(): GuardNote[];
}

export interface ContentGuards {
  /** Inspects text on its way out (a prompt, a request body) or in (`document`: a tool result, an API response). */
  scan(text: string, policy: GuardPolicy, source: 'user' | 'document'): GuardScan;
  /** Redacts what the policy redacts (secrets / pii in `redact` mode). */
  redact(text: string, policy: GuardPolicy): { text: string; notes: GuardNote[] };
  /**
   * A value on its way back to the agent where nothing is refused (a result cell, a Redis reply): redacted where the
   * policy redacts, and what the other guards find noted for the audit.
   */
  returned(text: string, policy: GuardPolicy): { text: string; notes: GuardNote[] };
  /** The same for text arriving in pieces (streamed completions): spans cut across chunks are still caught. */
  streamRedactor(policy: GuardPolicy): TextRedactor | undefined;
  /** Masks a parsed JSON document: per-field rules, and content detectors when the policy redacts. */
  maskJson(value: unknown, rules: Record<string, MaskStrategy>, policy: GuardPolicy): { value: unknown; masked: number };
}

/** True when any guard needs to read the content at all. */
export const guardsActive = (p: GuardPolicy) => p.injection !== 'off' || p.secrets !== 'off' || p.pii !== 'off';
export const redacting = (p: GuardPolicy) => p.secrets === 'redact' || p.pii === 'redact';

/** Merges notes from several texts of one request (one note per guard and mode). */
export function mergeNotes(notes: GuardNote[]): GuardNote[] {
  const out = new Map<string, GuardNote>();
  for (const n of notes) {
    const key = `${n.guard}:${n.mode}`;
    const prev = out.get(key);
    if (!prev) out.set(key, { ...n, types: [...n.types] });
    else {
      prev.count += n.count;
      prev.types = [...new Set([...prev.types, ...n.types])];
      if (n.score !== undefined) prev.score = Math.max(prev.score ?? 0, n.score);
    }
  }
  return [...out.values()];
}

/** The guards hook backed by services/guards. `key` is the gateway secret (hash pseudonyms). */
export function createContentGuards(key: Buffer): ContentGuards {
  const typesWhere = (p: GuardPolicy, pick: (m: GuardMode) => boolean) => {
    const types = new Set<lib.DetectorType>();
    if (pick(p.secrets)) for (const t of lib.SECRETS) types.add(t);
    if (pick(p.pii)) for (const t of lib.PII) types.add(t);
    return types;
  };
  const redactTypes = (p: GuardPolicy) => typesWhere(p, (m) => m === 'redact');
  const notesOf = (findings: lib.Finding[], p: GuardPolicy): GuardNote[] => {
    const notes: GuardNote[] = [];
    for (const guard of ['secrets', 'pii'] as const) {
      const set = guard === 'secrets' ? lib.SECRETS : lib.PII;
      const mine = findings.filter((f) => set.has(f.type));
      if (mine.length && p[guard] !== 'off') notes.push({ guard, mode: p[guard], types: [...new Set(mine.map((f) => f.type))], count: mine.length });
    }
    return notes;
  };

  /**
   * A value over the scan budget is not scanned: every guard that is on treats it as its mode says — `block` (and
   * injection's `redact`, which cannot apply to an instruction) refuses it, the others note it went unscanned.
   */
  const unscanned = (text: string, p: GuardPolicy, source: 'user' | 'document'): GuardScan => {
    const notes: GuardNote[] = [];
    let block: GuardScan['block'];
    for (const guard of ['secrets', 'pii', 'injection'] as const) {
      const mode = p[guard];
      if (mode === 'off') continue;
      notes.push({ guard, mode, types: ['unscanned'], count: 1 });
      if (mode === 'block' || (guard === 'injection' && mode === 'redact')) {
        block ??= { rule: 'guards.budget', message: `the ${source === 'user' ? 'request' : 'content'} is too large to inspect (${text.length} characters; the guards scan at most ${lib.DEFAULT_SCAN_BUDGET.maxChars}); the ${guard} guard blocks it` };
      }
    }
    return { block, notes };
  };
  const unscannedNote = (p: GuardPolicy): GuardNote[] =>
    (['secrets', 'pii'] as const).filter((g) => p[g] === 'redact').map((guard) => ({ guard, mode: 'redact', types: ['unscanned'], count: 1 }));

  return {
    scan(text, p, source) {
      if (lib.overBudget(text)) return unscanned(text, p, source);
      const notes: GuardNote[] = [];
      let block: GuardScan['block'];
      const types = typesWhere(p, (m) => m !== 'off');
      if (types.size) {
        for (const note of notesOf(lib.detect(text, { types }), p)) {
          notes.push(note);
          if (note.mode === 'block') {
            block ??= { rule: `guards.${note.guard}`, message: `the ${source === 'user' ? 'request' : 'content'} contains ${note.guard === 'secrets' ? 'a secret' : 'personal data'} (${note.types.join(', ')}); the ${note.guard} guard blocks it` };
          }
        }
      }
      if (p.injection !== 'off') {
        const found = lib.scanInjection(text, { source });
        if (found.flagged) {
          notes.push({ guard: 'injection', mode: p.injection, types: found.rules, count: 1, score: found.score });
          // `redact` cannot apply to an instruction; failing closed, it blocks like `block`.
          if (p.injection === 'block' || p.injection === 'redact') {
            block = { rule: 'guards.injection', message: `prompt injection detected (${found.rules.join(', ') || 'heuristics'}); the injection guard blocks it` };
          }
        }
      }
      return { block, notes };
    },
    redact(text, p) {
      const types = redactTypes(p);
      if (!types.size) return { text, notes: [] };
      const out = lib.redact(text, { strategy: 'redact', key, types });
      return { text: out.text, notes: out.unscanned ? unscannedNote(p) : notesOf(out.findings, p) };
    },
    returned(text, p) {
      const redacted = redacting(p) ? this.redact(text, p) : { text, notes: [] };
      // What is redacted is noted by the redaction; the scan reports the rest (injection in any mode, what only flags).
      const rest: GuardPolicy = { injection: p.injection, secrets: p.secrets === 'flag' ? 'flag' : 'off', pii: p.pii === 'flag' ? 'flag' : 'off' };
      if (!guardsActive(rest)) return redacted;
      return { text: redacted.text, notes: [...redacted.notes, ...this.scan(text, rest, 'document').notes] };
    },
    streamRedactor(p) {
      const types = redactTypes(p);
      if (!types.size) return undefined;
      const r = lib.createStreamRedactor({ strategy: 'redact', key, types });
      return { push: (c) => r.push(c), flush: () => r.flush(), notes: () => notesOf(r.findings, p) };
    },
    maskJson(value, rules, p) {
      const types = redactTypes(p);
      return lib.maskJson(value, rules, { key, detect: types.size > 0, strategy: 'redact', types });
    },
  };
}
