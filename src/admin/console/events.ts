// What the live consoles hear: approval changes (admins and approvers), audit records and decisions (admins only).
import type { Services } from '../../services/services.ts';
import type { AuditRecord } from '../../services/store/store.ts';
import type { DecisionFeed } from './decisions.ts';
import { followPeers } from './peers.ts';
import type { EventHub } from './sse.ts';

const admins = (s: { admin: boolean }) => s.admin;

/**
 * Subscribes the hub to the services — and, once the feed holds the recent past, to the other nodes' records in a shared
 * store; returns the function that unsubscribes.
 */
export function wireEvents(services: Pick<Services, 'audit' | 'approvals' | 'store' | 'log'>, hub: EventHub, feed: DecisionFeed): () => void {
  // Audit listeners run inside `append`, on the request's path: only queue the record there, and do the work
  // (decisions, JSON, socket writes) once per turn of the event loop, in order.
  let queue: AuditRecord[] = [];
  let scheduled: NodeJS.Immediate | undefined;
  // Batches are sent in order: one waits for the one before it (the feed may look up who is behind a record first).
  let sending = Promise.resolve();
  let stopped = false;
  const flush = () => {
    scheduled = undefined;
    const batch = queue;
    queue = [];
    enqueue(batch);
  };
  const send = async (batch: AuditRecord[], chain?: string) => {
    await feed.learn(batch).catch(() => undefined);
    if (stopped) return;
    for (const record of batch) {
      // The feed is kept up to date even with no console open, so one opened later starts from the recent past.
      const decision = feed.ingest(record, chain);
      hub.send('audit', record, admins);
      if (decision) hub.send('decision', decision, admins);
    }
  };
  // One batch failing must not stop the ones after it.
  const enqueue = (batch: AuditRecord[], chain?: string) => (sending = sending.then(() => send(batch, chain)).catch((err: Error) => services.log.warn({ err }, 'cannot show audit records on the console')));
  const offAudit = services.audit.subscribe((record) => {
    queue.push(record);
    scheduled ??= setImmediate(flush);
  });
  const offApprovals = services.approvals.onChange((record) => hub.send('approval', record));
  let offPeers = () => undefined as void;
  // The recent past arrives shortly after start-up; live records are fed in meanwhile.
  void feed.seed().then((read) => {
    if (stopped) return;
    offPeers = followPeers(services.store, read, (records, chain) => enqueue(records, chain));
  }, (err: Error) => services.log.warn({ err }, 'cannot load recent decisions from the store'));
  return () => {
    stopped = true;
    offPeers();
    offAudit();
    offApprovals();
    if (scheduled) clearImmediate(scheduled);
    queue = [];
  };
}
