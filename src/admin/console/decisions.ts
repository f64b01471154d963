// The live decisions feed: turns committed audit records into decisions (allowed / refused / masked / held) with who asked.
import type { Config, SqlGrant } from '../../config/schema.ts';
import type { AuditRecord, Store } from '../../services/store/store.ts';
import type { Decision } from './wire.ts';

interface Who { label: string | null; role: string | null; runId: string | null; step: string | null }

/** Decisions the live feed keeps for consoles that open later. */
export const KEEP = 500;
/** Bounded caches: the feed must not grow with the life of the gateway. */
const CACHE = 5000;

const decisionId = (chain: string | undefined, seq: number) => (chain ? `${chain}/${seq}` : String(seq));

export class DecisionFeed {
  /** Newest last; at most KEEP. */
  private readonly recent: Decision[] = [];
  /** By Decision.id: a result record names its request by sequence number in the same chain. */
  private readonly byId = new Map<string, Decision>();
  private readonly byApproval = new Map<string, Decision>();
  /** The latest held request per session, waiting for its `approval.requested` record. */
  private readonly lastHold = new Map<string, Decision>();
  private readonly sessions = new Map<string, Who>();
  private readonly tokens = new Map<string, Who>();

  constructor(private readonly store: Store, private readonly config: Config, private readonly keep = KEEP) {}

  /**
   * Loads the recent past from the store — from every node's chain in a shared store — so the feed is not empty when
   * the console opens. Resolves to where each chain was read up to.
   */
  async seed(window = 4000): Promise<Map<string | undefined, number>> {
    const chains = this.store.auditNodes ? await this.store.auditNodes() : [undefined];
    const read = new Map<string | undefined, number>();
    for (const chain of chains) {
      const last = (await this.store.lastAudit(chain))?.seq ?? 0;
      const records = await this.store.readAudit(Math.max(0, last - window), window, undefined, chain);
      await this.learn(records);
      for (const r of records) this.ingest(r, chain);
      read.set(chain, last);
    }
    // Chains were read one after the other: the recent past is put back in time order.
    this.recent.sort((a, b) => a.ts - b.ts);
    return read;
  }

  /**
   * Looks up who is behind the records' sessions and tokens that the feed has not seen open (opened by another
   * process, or before the feed's window), so `ingest` names them without reading the store itself.
   */
  async learn(records: readonly AuditRecord[]) {
    // Sessions opened within these records are named by their own session.open record.
    const opened = new Set(records.flatMap((r) => (r.kind === 'session.open' && r.sessionId ? [r.sessionId] : [])));
    for (const r of records) {
      if (r.sessionId && !opened.has(r.sessionId) && !this.sessions.has(r.sessionId)) {
        const s = await this.store.sessionById(r.sessionId);
        if (s) { remember(this.sessions, s.id, { label: s.label, role: s.role, runId: s.runId, step: s.step }); continue; }
      }
      if (r.tokenId && !this.tokens.has(r.tokenId) && !(r.sessionId && (opened.has(r.sessionId) || this.sessions.has(r.sessionId)))) {
        const t = await this.store.tokenById(r.tokenId);
        if (t) remember(this.tokens, t.id, { label: t.label, role: t.role, runId: null, step: null });
      }
    }
  }

  /** Newest first. */
  list(limit = this.keep): Decision[] {
    return this.recent.slice(-limit).reverse();
  }

  /**
   * Folds one record of `chain` (this node's when absent) in; returns the decision it created or changed (to push to
   * live consoles), if any.
   */
  ingest(r: AuditRecord, chain = this.store.node): Decision | undefined {
    if (r.kind === 'session.open' && r.sessionId) {
      remember(this.sessions, r.sessionId, { label: str(r.data.label), role: str(r.data.role), runId: str(r.data.runId), step: str(r.data.step) });
      return undefined;
    }
    if (r.kind === 'request') return this.add(this.fromRequest(r, chain));
    if (r.kind.startsWith('auth.')) return this.add(this.fromAuth(r, chain));
    if (r.kind === 'result') return this.fromResult(r, chain);
    if (r.kind === 'approval.requested') return this.linkApproval(r);
    if (r.kind.startsWith('approval.')) return this.approvalChanged(r);
    return undefined;
  }

  private add(d: Decision): Decision {
    this.recent.push(d);
    this.byId.set(d.id, d);
    if (this.recent.length > this.keep) {
      const gone = this.recent.shift()!;
      this.byId.delete(gone.id);
      if (gone.approval) this.byApproval.delete(gone.approval.id);
    }
    return d;
  }

  private fromRequest(r: AuditRecord, chain: string | undefined): Decision {
    const who = this.who(r);
    const d = this.base(r, chain, who, 'request');
    d.protocol = str(r.data.protocol);
    d.effect = str(r.data.effect);
    d.summary = String(r.data.summary ?? '');
    if (r.verdict === 'deny') {
      Object.assign(d, { verdict: 'refused', detail: str(r.data.message), rule: str(r.data.rule) });
    } else if (r.verdict === 'hold') {
      Object.assign(d, { verdict: 'held', detail: str(r.data.reason), rule: str(r.data.grant) });
      if (r.sessionId) this.lastHold.set(r.sessionId, d);
    } else {
      d.rule = str(r.data.grant);
      const masked = this.maskedColumns(who.role, r.connection, r.data.targets);
      if (masked.length) Object.assign(d, { verdict: 'masked', detail: `masked: ${masked.join(', ')}`, maskedColumns: masked });
    }
    return d;
  }

  private fromAuth(r: AuditRecord, chain: string | undefined): Decision {
    const who = this.who(r);
    const d = this.base(r, chain, who, 'auth');
    const reason = str(r.data.message) ?? str(r.data.reason);
    Object.assign(d, {
      verdict: 'refused', summary: `sign-in${r.data.user ? ` as "${String(r.data.user)}"` : ''}${r.data.client ? ` from ${String(r.data.client)}` : ''}`,
      detail: reason, rule: r.kind,
    });
    if (!who.label && typeof r.data.user === 'string') d.label = r.data.user;
    return d;
  }

  private fromResult(r: AuditRecord, chain: string | undefined): Decision | undefined {
    const d = typeof r.data.request === 'number' ? this.byId.get(decisionId(chain, r.data.request)) : undefined;
    if (!d) return undefined;
    const statements = Array.isArray(r.data.statements) ? (r.data.statements as { rows?: number; error?: string; tag?: string }[]) : undefined;
    const rows = statements ? statements.reduce((n, s) => n + (s.rows ?? 0), 0) : num(r.data.rows);
    const error = statements ? statements.find((s) => s.error)?.error : str(r.data.error) ?? undefined;
    const tags = statements ? statements.map((s) => s.tag).filter(Boolean).join('; ') : str(r.data.tag);
    d.outcome = { ms: num(r.data.ms), rows, tag: tags || undefined, error: error ?? undefined, masked: num(r.data.masked), status: num(r.data.status) };
    if (d.verdict === 'allowed' && (d.outcome.masked ?? 0) > 0) Object.assign(d, { verdict: 'masked', detail: `${d.outcome.masked} value(s) masked in the response` });
    if (typeof r.data.rule === 'string' && d.verdict !== 'refused') Object.assign(d, { verdict: 'refused', detail: str(r.data.error), rule: r.data.rule });
    return d;
  }

  private linkApproval(r: AuditRecord): Decision | undefined {
    const id = str(r.data.id);
    const d = r.sessionId ? this.lastHold.get(r.sessionId) : undefined;
    if (!id || !d || d.approval) return undefined;
    if (r.sessionId) this.lastHold.delete(r.sessionId);
    d.approval = { id, status: 'pending' };
    this.byApproval.set(id, d);
    return d;
  }

  private approvalChanged(r: AuditRecord): Decision | undefined {
    const d = this.byApproval.get(String(r.data.id));
    if (!d?.approval) return undefined;
    const status = r.kind === 'approval.forwarded' ? 'forwarded' : str(r.data.status) ?? r.kind.slice('approval.'.length);
    d.approval = { ...d.approval, status, ...(r.data.by ? { by: String(r.data.by), reason: str(r.data.reason) } : {}) };
    return d;
  }

  private base(r: AuditRecord, chain: string | undefined, who: Who, source: Decision['source']): Decision {
    return {
      id: decisionId(chain, r.seq), seq: r.seq, ...(chain ? { node: chain } : {}), ts: r.ts, source, sessionId: r.sessionId, tokenId: r.tokenId, ...who, connection: r.connection,
      protocol: null, effect: null, verdict: 'allowed', summary: '', detail: null, rule: null,
    };
  }

  private who(r: AuditRecord): Who {
    if (r.sessionId) {
      const known = this.sessions.get(r.sessionId);
      if (known) return known;
    }
    if (r.tokenId) {
      const known = this.tokens.get(r.tokenId);
      if (known) return known;
    }
    return { label: null, role: null, runId: null, step: null };
  }

  /** Masked columns of the relations an allowed SQL request reads, from the role's grant (masking happens on the rows). */
  private maskedColumns(role: string | null, connection: string | null, targets: unknown): string[] {
    if (!role || !connection || !Array.isArray(targets)) return [];
    const mask = (this.config.roles[role]?.[connection] as Partial<SqlGrant> | undefined)?.mask;
    if (!mask || !Object.keys(mask).length) return [];
    const read = (targets as { kind?: string; name?: string }[]).filter((t) => t.kind === 'relation' && typeof t.name === 'string').map((t) => t.name!.toLowerCase());
    return Object.keys(mask).filter((column) => {
      const table = column.toLowerCase().split('.').slice(0, -1);
      return read.some((name) => {
        const rel = name.split('.');
        return rel.at(-1) === table.at(-1) && (table.length < 2 || rel.length < 2 || rel[0] === table[0]);
      });
    });
  }
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

function remember<V>(map: Map<string, V>, key: string, value: V): V {
  if (map.size >= CACHE) map.delete(map.keys().next().value!);
  map.set(key, value);
  return value;
}
