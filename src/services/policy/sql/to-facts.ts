// Turns an SQL analysis (PostgreSQL's or MySQL's) into the protocol-neutral Facts the audit log records.
import type { Effect, Facts, Target } from '../facts.ts';
import type { SqlAnalysis, SqlStatement } from './facts.ts';

/** Higher is more consequential; the request's effect is its most consequential statement's. */
const effectRank: Record<Effect, number> = { session: 0, complete: 0, read: 1, write: 2, ddl: 3, call: 4, unknown: 5 };

/**
 * One Facts for a whole query string. Relations and functions are named as written (`public.documents`,
 * `documents`), after PostgreSQL's identifier folding; statements appear as `statement` targets by kind.
 */
export function sqlFacts(analysis: SqlAnalysis, connection: string, summary: string = analysis.text, protocol: Facts['protocol'] = 'postgres'): Facts {
  const targets = new Map<string, Target>();
  let effect: Effect = 'session';
  let unknown: string | undefined;
  for (const statement of flatten(analysis.statements)) {
    if (effectRank[statement.effect] > effectRank[effect]) effect = statement.effect;
    if (statement.kind === 'unknown') unknown ??= statement.reason;
    const found: Target[] = [
      { kind: 'statement', name: statement.kind, access: 'execute' },
      ...statement.relations.map((r): Target => ({ kind: 'relation', name: qualified(r), access: r.access })),
      ...statement.functions.map((f): Target => ({ kind: 'function', name: qualified(f), access: 'execute' })),
    ];
    for (const target of found) targets.set(`${target.kind}:${target.name}:${target.access}`, target);
  }
  return { protocol, connection, effect, summary, targets: [...targets.values()], ...(unknown !== undefined && { unknown }) };
}

function* flatten(statements: readonly SqlStatement[]): Generator<SqlStatement> {
  for (const statement of statements) {
    yield statement;
    if (statement.inner) yield* flatten([statement.inner]);
  }
}

const qualified = (n: { schema: string | null; name: string }) => (n.schema ? `${n.schema}.${n.name}` : n.name);
