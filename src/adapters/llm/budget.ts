// Token budgets (`budget: { tokens, per }`), persisted in the store: `per: token` is a token's lifetime allowance,
// `per: hour|day|week|month` is shared by every token of the role on this connection, in UTC calendar windows.
import type { LlmGrant } from '../../config/schema.ts';
import type { Store, TokenRecord } from '../../services/store/store.ts';
import type { LlmRequest } from './dialect.ts';

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

export const charge = (store: Store, b: BudgetScope, tokens: number) => store.addUsage(b.scope, b.period, Math.max(0, Math.round(tokens)), Date.now());

/** What a budget window has spent plus what calls in flight, on every node sharing the store, have reserved of it. */
export async function committed(store: Store, b: BudgetScope): Promise<number> {
  const [spent, reserved] = await Promise.all([store.usage(b.scope, b.period), store.reservedUsage(b.scope, b.period)]);
  return spent + reserved;
}

/**
 * Reserves what a call can spend at most, in the store, before it is judged: calls in flight on every node together
 * cannot spend one remainder twice. `release` ends the reservation, once (after the call's usage is charged, or when it
 * is refused); when the budget cannot cover the call nothing is reserved, and `committed` says what was spent and reserved.
 */
export async function reserve(store: Store, b: BudgetScope, tokens: number, onReleaseError: (err: Error) => void): Promise<{ committed: number; release?: () => void }> {
  const { committed, id } = await store.reserveUsage(b.scope, b.period, tokens, b.limit, Date.now());
  if (!id) return { committed };
  let released = false;
  return {
    committed,
    release: () => {
      if (released) return;
      released = true;
      // A reservation that cannot be ended holds its tokens until this node restarts: spends less, never more.
      store.releaseUsage(id).catch(onReleaseError);
    },
  };
}

/**
 * A prompt's reservation: an upper estimate rather than the 4-characters-a-token average, since text in other scripts
 * runs nearer one token a character — ASCII characters / 4, one token per other character, 4 per text (message framing).
 */
export function promptReservation(texts: string[]): number {
  let tokens = 0;
  for (const t of texts) {
    let ascii = 0;
    for (let i = 0; i < t.length; i++) if (t.charCodeAt(i) < 0x80) ascii++;
    tokens += Math.ceil(ascii / 4) + (t.length - ascii) + 4;
  }
  return tokens;
}

/**
 * What a call can spend at most: its prompt reservation plus its output cap for each choice. When the request names no
 * output cap, or one larger than what is left of the budget allows, the cap is lowered to fit (`capped` says so).
 */
export function planSpend(call: LlmRequest, body: Record<string, unknown>, available: number): { need: number; capped?: string } {
  const prompt = promptReservation(call.slots.map((s) => s.get()));
  const choices = typeof call.choices === 'number' && Number.isInteger(call.choices) && call.choices > 0 ? call.choices : 1;
  const fields = call.maxTokenFields.length ? call.maxTokenFields : call.capField ? [call.capField] : [];
  if (!fields.length) return { need: prompt };
  // The largest of the fields present: providers differ in which one they obey (max_tokens or max_completion_tokens).
  const asked = Math.max(...fields.map((f) => (typeof body[f] === 'number' ? body[f] as number : Infinity)));
  const room = Math.floor((available - prompt) / choices);
  if (room < 1) return { need: prompt + choices * (Number.isFinite(asked) ? asked : 1) };
  if (asked <= room) return { need: prompt + choices * asked };
  for (const f of fields) body[f] = room;
  return { need: prompt + choices * room, capped: `${fields.join(', ')}=${room} (what is left of the budget)` };
}
