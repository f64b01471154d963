// Anchors the audit chain outside the store: every N records or T seconds, the head that is durable gets signed and
// written to an append-only file (and standard output, and optionally a webhook). Fed by the log's committed-record feed.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import type { AuditCheckpointsConfig } from '../../config/schema.ts';
import { parseDurationMs } from '../../config/duration.ts';
import type { Store } from '../store/store.ts';
import type { Logger } from '../telemetry/logger.ts';
import { anchorChains, storeChains, type ChainAnchor } from './anchor.ts';
import { checkpointSigned, loadSigningKey, parseCheckpoints, signCheckpoint, type Checkpoint } from './checkpoint.ts';
import type { AuditListener } from './log.ts';

export interface CheckpointOptions {
  node: string;
  privateKey: KeyObject;
  /** The append-only file. */
  file: string;
  every: number;
  intervalMs: number;
  /** Makes every committed record durable (fsynced): only a durable head is signed, or a crash makes a false alarm. */
  sync: () => void | Promise<void>;
  /** Standard output for a log shipper, when enabled. */
  stdout?: (line: string) => void;
  webhook?: string;
  log: Logger;
}

/** Fetch with a deadline, for the webhook: a slow receiver must not pile up checkpoints. */
const WEBHOOK_TIMEOUT_MS = 5000;

export class Checkpointer {
  private head?: { seq: number; hash: string };
  private signedSeq = -1;
  private sinceLast = 0;
  private running?: Promise<void>;
  private again = false;
  private readonly timer: NodeJS.Timeout;
  private readonly unsubscribe: () => void;
  /** The last checkpoint written, or found in the file at start-up (for the console and the admin API). */
  last?: Checkpoint;

  constructor(feed: { subscribe(listener: AuditListener): () => void }, private readonly opts: CheckpointOptions) {
    this.unsubscribe = feed.subscribe((record) => {
      this.head = { seq: record.seq, hash: record.hash };
      // Not inside the commit: signing and fsyncing wait for the next turn.
      if (++this.sinceLast === opts.every) setImmediate(() => void this.checkpoint());
    });
    this.timer = setInterval(() => void this.checkpoint(), opts.intervalMs).unref();
  }

  /** Signs and writes the current durable head, unless it is signed already. One at a time; a call meanwhile runs once more after. */
  checkpoint(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.write().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        void this.checkpoint();
      }
    });
    return this.running;
  }

  /** Settles when no checkpoint is being written. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Stops the schedule after one last checkpoint of what was committed (a graceful stop leaves nothing unsigned). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.unsubscribe();
    await this.running;
    await this.checkpoint();
  }

  private async write() {
    const head = this.head;
    if (!head || head.seq === this.signedSeq) return;
    this.sinceLast = 0;
    try {
      // Everything committed before this call is durable after it; `head` was committed before it.
      await this.opts.sync();
      const cp = signCheckpoint(this.opts.privateKey, { node: this.opts.node, seq: head.seq, hash: head.hash, ts: Date.now() });
      const line = `${JSON.stringify(cp)}\n`;
      appendDurably(this.opts.file, line);
      this.signedSeq = head.seq;
      this.last = cp;
      this.opts.stdout?.(line);
      if (this.opts.webhook) void this.post(cp);
    } catch (err) {
      // The gateway keeps serving (the store is still the record); the next checkpoint retries, and this is loud.
      this.opts.log.error({ err, seq: head.seq, file: this.opts.file }, 'audit checkpoint could not be written');
    }
  }

  private async post(cp: Checkpoint) {
    try {
      const res = await fetch(this.opts.webhook!, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(cp), signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
    } catch (err) {
      this.opts.log.warn({ err, seq: cp.seq }, 'audit checkpoint webhook failed');
    }
  }
}

/** Appends and fsyncs: a checkpoint that is reported written survives a crash. */
function appendDurably(file: string, line: string) {
  const fd = openSync(file, 'a', 0o644);
  try {
    writeSync(fd, line);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Starts checkpointing per `audit.checkpoints` (paths relative to `baseDir`). Throws, naming the key, if the signing key
 * cannot be used. Checks the store against this node's last checkpoint in the file and says loudly if it no longer
 * reaches it (the store was truncated, rewritten or restored from an older copy while the gateway was down).
 */
export async function startCheckpoints(cfg: AuditCheckpointsConfig, deps: {
  store: Store;
  feed: { subscribe(listener: AuditListener): () => void };
  log: Logger;
  baseDir: string;
  stdout?: (line: string) => void;
}): Promise<{ checkpointer: Checkpointer; atStart?: ChainAnchor }> {
  const at = (p: string) => (isAbsolute(p) ? p : resolve(deps.baseDir, p));
  let privateKey: KeyObject;
  try {
    privateKey = loadSigningKey(at(cfg.key));
  } catch (err) {
    throw new Error(`audit.checkpoints.key: ${(err as Error).message}`);
  }
  const file = at(cfg.file);
  try {
    // Fail at start-up, not at the first checkpoint: the file must be there to append to.
    closeSync(openSync(file, 'a', 0o644));
  } catch (err) {
    throw new Error(`audit.checkpoints.file: cannot append to ${file}: ${(err as Error).message}`);
  }
  const node = cfg.node ?? hostname();
  const checkpointer = new Checkpointer(deps.feed, {
    node, privateKey, file, every: cfg.every, intervalMs: parseDurationMs(cfg.interval),
    sync: () => deps.store.syncAudit(), stdout: cfg.stdout ? (deps.stdout ?? ((line) => process.stdout.write(line))) : undefined,
    webhook: cfg.webhook, log: deps.log,
  });
  const publicKey = createPublicKey(privateKey);
  const mine = existsSync(file)
    ? parseCheckpoints(readFileSync(file, 'utf8')).flatMap((l) => (l.checkpoint?.node === node && checkpointSigned(publicKey, l.checkpoint) ? [l.checkpoint] : []))
    : [];
  if (!mine.length) return { checkpointer };
  const [atStart] = await anchorChains(mine, storeChains(deps.store));
  checkpointer.last = mine.reduce((a, b) => (b.seq > a.seq ? b : a));
  if (!atStart.reaches) deps.log.error({ node, checkpoint: atStart.checkpoint.seq, head: atStart.head, detail: atStart.detail }, 'the audit store does not reach its last signed checkpoint');
  return { checkpointer, atStart };
}
