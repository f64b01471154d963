// The other nodes' records, for a console on this one. In a store several nodes share, each node keeps its own audit
// chain; the console reads the others' new records every second, after where it last read each, and shows them like
// this node's own (decisions, sessions opening, tokens revoked). A console on any node sees the whole cluster.
import type { AuditRecord, Store } from '../../services/store/store.ts';

/** Records read per chain and query: a node that fell far behind is caught up in steps. */
const BATCH = 500;

/**
 * Follows every chain but this node's from `read` (chain → last sequence number read; a chain first seen later starts
 * `window` records before its head). Returns the function that stops following.
 */
export function followPeers(store: Store, read: Map<string | undefined, number>, deliver: (records: AuditRecord[], chain: string) => Promise<void>, opts: { intervalMs?: number; window?: number } = {}): () => void {
  const { auditNodes, node } = store;
  if (!auditNodes || !node) return () => undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const poll = async () => {
    for (const chain of await auditNodes.call(store)) {
      if (chain === node) continue;
      if (!read.has(chain)) read.set(chain, Math.max(0, ((await store.lastAudit(chain))?.seq ?? 0) - (opts.window ?? BATCH)));
      for (let more = true; more && !stopped;) {
        const records = await store.readAudit(read.get(chain)!, BATCH, undefined, chain);
        if (records.length) {
          read.set(chain, records.at(-1)!.seq);
          await deliver(records, chain);
        }
        more = records.length === BATCH;
      }
    }
  };
  const next = () => {
    // A store that is briefly unreachable is asked again at the next turn; nothing read is lost, only delayed.
    timer = setTimeout(() => void poll().catch(() => undefined).finally(() => { if (!stopped) next(); }), opts.intervalMs ?? 1000);
    timer.unref();
  };
  next();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
