// Checks audit chains against signed checkpoints: a chain that no longer reaches its latest checkpoint was truncated or
// rolled back, one whose record there has another hash was rewritten. Names the missing or rewritten record numbers.
import type { KeyObject } from 'node:crypto';
import type { Store } from '../store/store.ts';
import { checkpointSigned, keyId, parseCheckpoints, type Checkpoint } from './checkpoint.ts';

/** Read access to the chains as stored (the store itself, or the admin API). */
export interface ChainReader {
  /** The last stored record of a node's chain. */
  head(node: string): Promise<{ seq: number; hash: string } | undefined>;
  /** The stored hash of record `seq` of a node's chain. */
  hashAt(node: string, seq: number): Promise<string | undefined>;
}

export interface ChainAnchor {
  node: string;
  /** The latest checkpoint of this chain. */
  checkpoint: { seq: number; hash: string; ts: number };
  /** The last stored record (0: none). */
  head: number;
  reaches: boolean;
  /** Records the checkpoint covers that are gone: truncated, deleted and re-numbered, or an older copy restored. */
  missing?: { from: number; to: number };
  /** The first rewritten record lies in this range: after the last checkpoint that still matches, up to the first that does not. */
  rewritten?: { after: number; upTo: number };
  detail: string;
}

export interface AnchorReport {
  ok: boolean;
  /** Checkpoints whose signature holds. */
  checkpoints: number;
  chains: ChainAnchor[];
  /** Lines of the checkpoint file that cannot be trusted (forged, altered, malformed). */
  problems: string[];
  /** Harmless findings, e.g. a last line a crash cut short. */
  notes: string[];
}

/** Checks a checkpoint file's text: every line's signature, then every chain against its latest checkpoint. */
export async function checkCheckpointFile(text: string, publicKey: KeyObject, chains: ChainReader): Promise<AnchorReport> {
  const id = keyId(publicKey);
  const problems: string[] = [];
  const notes: string[] = [];
  const good: Checkpoint[] = [];
  for (const { line, checkpoint, problem } of parseCheckpoints(text)) {
    if (problem === 'torn') notes.push(`line ${line} is incomplete (a write cut short by a crash) and was skipped`);
    else if (problem) problems.push(`line ${line}: ${problem}`);
    else if (checkpoint!.key !== id || !checkpointSigned(publicKey, checkpoint!)) {
      problems.push(`line ${line}: the checkpoint of record #${checkpoint!.seq} is not signed by this public key (forged, altered, or signed with another key)`);
    } else good.push(checkpoint!);
  }
  if (!good.length && !problems.length) problems.push('the checkpoint file holds no checkpoint');
  const anchors = await anchorChains(good, chains);
  return { ok: !problems.length && anchors.every((a) => a.reaches), checkpoints: good.length, chains: anchors, problems, notes };
}

/** Each node's chain against its latest checkpoint (signatures already checked). */
export async function anchorChains(checkpoints: Checkpoint[], chains: ChainReader): Promise<ChainAnchor[]> {
  const byNode = new Map<string, Checkpoint[]>();
  for (const c of checkpoints) byNode.set(c.node, [...(byNode.get(c.node) ?? []), c]);
  const out: ChainAnchor[] = [];
  for (const [node, list] of byNode) out.push(await anchorChain(node, list, chains));
  return out;
}

async function anchorChain(node: string, list: Checkpoint[], chains: ChainReader): Promise<ChainAnchor> {
  const sorted = [...list].sort((a, b) => a.seq - b.seq);
  const latest = sorted[sorted.length - 1];
  const head = (await chains.head(node))?.seq ?? 0;
  const anchor: ChainAnchor = { node, checkpoint: { seq: latest.seq, hash: latest.hash, ts: latest.ts }, head, reaches: true, detail: '' };
  // Checkpoints the stored chain is long enough to be compared with.
  const comparable = sorted.filter((c) => c.seq <= head);
  // Every one is compared, not only the latest: a store rolled back and written on since may reach past the latest
  // checkpoint again, but no longer matches the ones it rolled back over.
  let firstMismatch: Checkpoint | undefined;
  let lastMatch = 0;
  for (const c of comparable) {
    if ((await chains.hashAt(node, c.seq)) === c.hash) { if (!firstMismatch) lastMatch = c.seq; }
    else firstMismatch ??= c;
  }
  const parts: string[] = [];
  if (firstMismatch) {
    anchor.reaches = false;
    anchor.rewritten = { after: lastMatch, upTo: firstMismatch.seq };
    parts.push(`record #${firstMismatch.seq} does not match its checkpoint: the chain was rewritten from a record in #${lastMatch + 1}–#${firstMismatch.seq} onwards`);
  }
  if (head < latest.seq) {
    anchor.reaches = false;
    anchor.missing = { from: head + 1, to: latest.seq };
    const range = head + 1 === latest.seq ? `record #${latest.seq} is` : `records #${head + 1}–#${latest.seq} are`;
    parts.push(`${range} missing: the chain ends at #${head} but a checkpoint covers #${latest.seq} (truncated, or an older copy restored)`);
  }
  anchor.detail = anchor.reaches
    ? `reaches its latest checkpoint (#${latest.seq})${head > latest.seq ? `; ${head - latest.seq} later record(s) not checkpointed yet` : ''}`
    : parts.join('; ');
  return anchor;
}

/** The chain as this gateway's store holds it (one chain per store in this release, whatever the node). */
export function storeChains(store: Pick<Store, 'lastAudit' | 'readAudit'>): ChainReader {
  return {
    head: async () => store.lastAudit(),
    hashAt: async (_node, seq) => (await store.readAudit(seq - 1, 1)).find((r) => r.seq === seq)?.hash,
  };
}
