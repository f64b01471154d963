// Verdict: what policy decided, as data. Each adapter renders it in its own protocol.
import type { MaskStrategy } from '../guards/types.ts';

/** Things the enforcer must do on the way back when a request is allowed. */
export interface Obligations {
  /** Cap on result rows; more rows are dropped with a notice, never silently. */
  maxRows?: number;
  /** Column (`schema.table.column`) or JSON path → masking strategy. */
  mask?: Record<string, MaskStrategy>;
}

export type Verdict =
  | { kind: 'allow'; grant: string; obligations: Obligations }
  | { kind: 'deny'; rule: string; message: string }
  | { kind: 'hold'; grant: string; reason: string; obligations: Obligations };

export const allow = (grant: string, obligations: Obligations = {}): Verdict => ({ kind: 'allow', grant, obligations });
export const deny = (rule: string, message: string): Verdict => ({ kind: 'deny', rule, message });
export const hold = (grant: string, reason: string, obligations: Obligations = {}): Verdict => ({ kind: 'hold', grant, reason, obligations });
