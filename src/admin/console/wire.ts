// The shapes the console's endpoints send and the browser code reads: types only, shared by both sides.
export type { ApprovalDecision, ApprovalRecord, ApprovalStatus, AuditRecord, SessionRecord } from '../../services/store/store.ts';

export type DecisionVerdict = 'allowed' | 'refused' | 'masked' | 'held';

/** One decision as the live feed shows it: a judged request (or a refused sign-in), who asked, and what came of it. */
export interface Decision {
  /** Unique across nodes: the audit chain and the record's sequence number in it. */
  id: string;
  /** Sequence number of the audit record that holds the decision (in its node's chain). */
  seq: number;
  /** The node whose chain holds it, in a store several nodes share. */
  node?: string;
  ts: number;
  source: 'request' | 'auth';
  sessionId: string | null;
  tokenId: string | null;
  label: string | null;
  role: string | null;
  runId: string | null;
  step: string | null;
  connection: string | null;
  protocol: string | null;
  effect: string | null;
  verdict: DecisionVerdict;
  summary: string;
  /** The refusal message, or why approval is needed, or which columns are masked. */
  detail: string | null;
  /** Masked columns (`table.column`) of the relations an allowed SQL request reads. */
  maskedColumns?: string[];
  rule: string | null;
  /** For held requests, once the approval request is known: its id and where it stands. */
  approval?: { id: string; status: string; by?: string; reason?: string | null };
  /** Filled in when the request's result is recorded. */
  outcome?: { ms?: number; rows?: number; tag?: string; error?: string; masked?: number; status?: number };
}

export interface Me {
  name: string;
  roles: ('admin' | 'approver')[];
  csrf: string;
  expiresAt: number;
  /** Whether the session cookie is Secure (console served over https). */
  secure: boolean;
}

export interface ConnectionView {
  name: string;
  kind: string;
  /** The address agents connect to (the running listener's). */
  address: string;
  flavor?: string;
}

export interface RoleView {
  name: string;
  connections: ConnectionView[];
}

export interface TokenView {
  id: string;
  label: string;
  role: string;
  createdAt: number;
  expiresAt: number;
  revokedAt: number | null;
  lastUsedAt: number | null;
  createdBy: string;
  status: 'active' | 'expired' | 'revoked';
}

import type { VerifyResult } from '../../services/audit/log.ts';
/** The chain check, and (with audit.checkpoints) whether the stored chain reaches the gateway's last signed checkpoint. */
export interface VerifyView extends VerifyResult {
  checkpoint?: { node: string; seq: number; ts: number; reaches: boolean; detail: string } | null;
}
