// An HTTP grant compiled once at start-up: its allow rules (see kit/http/rules.ts) and approvals. Bad rules fail the start.
import type { HttpGrant } from '../../config/schema.ts';
import { compileApprovals, type ApproveMatcher } from '../../pipeline/approve.ts';
import { compileRule, globToRegex, type CompiledRule } from '../kit/http/rules.ts';
import { METHODS } from '../kit/http/server.ts';

export interface CompiledGrant {
  allow: CompiledRule[];
  /** `approve:` entries ("POST /refunds/*") in the shared grammar, over the same path globs as allow rules. */
  approve: ApproveMatcher;
}

export function compileGrant(grant: HttpGrant): CompiledGrant {
  const glob = (path: string) => {
    const pattern = globToRegex(path, path);
    return (target: string) => pattern.test(target);
  };
  return { allow: grant.allow.map((r) => compileRule(r)), approve: compileApprovals(grant.approve, { verbs: [...METHODS], bare: 'target', glob }) };
}
