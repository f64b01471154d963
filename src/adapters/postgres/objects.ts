// The session's prepared statements and portals as the upstream has confirmed them, never as the client announced them.
//
// PostgreSQL keeps one namespace for SQL PREPARE and protocol Parse, and one for SQL cursors and protocol portals.
// An entry is made or dropped only when the upstream confirms it (ParseComplete, BindComplete, CloseComplete, a
// statement's CommandComplete), so a statement that failed upstream — a name reused, a PREPARE that errored — cannot
// leave the gateway believing something else runs under a name than what does.
import type { Forward } from '../../pipeline/gate.ts';
import type { RowBudget } from './results.ts';
import type { SqlStatement } from './sql/analyze.ts';

/** What a forwarded request's result is recorded with once the upstream answers. */
export type ResultRecord = Forward['done'];

export interface PreparedStatement {
  statement: SqlStatement;
  /** Records the result of each execution against the request that judged it. */
  done?: ResultRecord;
}

export interface Portal {
  /** Records its results against the request that judged the statement it runs. */
  done?: ResultRecord;
  budget: RowBudget;
  /** A cursor declared WITH HOLD outlives its transaction; every other portal ends with it. */
  holdable: boolean;
}

export class SessionObjects {
  /** Prepared statements by name ('' is the unnamed one). Read by policy to judge EXECUTE. */
  readonly statements = new Map<string, PreparedStatement>();
  readonly portals = new Map<string, Portal>();

  prepared(name: string, entry: PreparedStatement) {
    this.statements.set(name, entry);
  }

  /** A portal (Bind) or SQL cursor (DECLARE) the upstream has opened; its row budget starts at zero. */
  opened(name: string, done: ResultRecord | undefined, holdable = false) {
    this.portals.set(name, { done, budget: { delivered: 0 }, holdable });
  }

  /** Applies what one simple-query statement did to the namespaces, once the upstream said it completed. */
  completed(statement: SqlStatement, done: ResultRecord | undefined) {
    const { kind, name } = statement;
    if (kind === 'prepare' && name !== undefined && statement.inner) this.prepared(name, { statement: statement.inner, done });
    else if (kind === 'deallocate') name === undefined ? this.statements.clear() : this.statements.delete(name);
    else if (kind === 'declare_cursor' && name !== undefined) this.opened(name, done, statement.holdable === true);
    else if (kind === 'close') name === undefined ? this.portals.clear() : this.portals.delete(name);
    else if (kind === 'discard' && statement.label === 'DISCARD ALL') {
      this.statements.clear();
      this.portals.clear();
    }
  }

  /** The transaction ended (ReadyForQuery 'I'): PostgreSQL dropped every portal but the holdable cursors. */
  transactionEnded() {
    for (const [name, portal] of this.portals) if (!portal.holdable) this.portals.delete(name);
  }
}
