// Simulates a store that can no longer write the audit log (disk full).
import type { Store } from '../../src/services/store/store.ts';

/** Breaks audit writes until the returned function is called. */
export function breakAuditWrites(store: Store, message = 'disk full'): () => void {
  const { appendAudit } = store;
  store.appendAudit = () => Promise.reject(new Error(message));
  return () => { store.appendAudit = appendAudit; };
}
