// Token budgets (`budget: { tokens, per }`), persisted in the store: `per: token` is a token's lifetime allowance,
// `per: hour|day|week|month` is shared by every token of the role on this connection, in UTC calendar windows.
import type { LlmGrant } from '../../config/schema.ts';
import type { Store, TokenRecord } from '../../services/store/store.ts';

export interface BudgetScope {
  scope: string;
  period: string;
  limit: number;
  per: NonNullable<LlmGrant['budget']>['per'];
  /** When the window ends (undefined for a token's lifetime budget). */
  resetsAt?: number;
}

export function budgetScope(grant: LlmGrant, token: TokenRecord, connection: string, now = Date.now()): BudgetScope | undefined {
  const b = grant.budget;
  if (!b) return undefined;
  if (b.per === 'token') return { scope: `token:${token.id}@${connection}`, period: 'life', limit: b.tokens, per: b.per };
  const [period, resetsAt] = window(b.per, new Date(now));
  return { scope: `role:${token.role}@${connection}`, period, limit: b.tokens, per: b.per, resetsAt };
}

function window(per: 'hour' | 'day' | 'week' | 'month', d: Date): [string, number] {
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  const day = d.getUTCDate();
  switch (per) {
    case 'hour': {
      const start = Date.UTC(y, m, day, d.getUTCHours());
      return [new Date(start).toISOString().slice(0, 13), start + 3_600_000];
    }
    case 'day': {
      const start = Date.UTC(y, m, day);
      return [new Date(start).toISOString().slice(0, 10), start + 86_400_000];
    }
    case 'week': {
      const start = Date.UTC(y, m, day - ((d.getUTCDay() + 6) % 7)); // weeks start on Monday (ISO 8601)
      return [`week-${new Date(start).toISOString().slice(0, 10)}`, start + 7 * 86_400_000];
    }
    case 'month':
      return [new Date(Date.UTC(y, m, 1)).toISOString().slice(0, 7), Date.UTC(y, m + 1, 1)];
  }
}

export const spent = (store: Store, b: BudgetScope) => store.usage(b.scope, b.period);

export const charge = (store: Store, b: BudgetScope, tokens: number) => store.addUsage(b.scope, b.period, Math.max(0, Math.round(tokens)), Date.now());
