// A held MCP request waits a bounded time: MCP clients give up on a silent request (the SDK's after 60 s), so it is answered before that.
import { APPROVAL_PENDING, type Forward, type Held, type Refuse } from '../../../pipeline/gate.ts';

/** How often a waiting request reports progress, when its client asked for progress (resetting the client's timeout). */
export const PROGRESS_EVERY_MS = 10_000;

export interface Waiting {
  /** How long to wait for people before answering "awaits approval" (the request stays pending for a retry). */
  waitMs: number;
  /** The client cancelled the request (or went away): the approval request is withdrawn. */
  signal?: AbortSignal;
  /** Tells the client the request is still waiting (`progress` grows each time); only given when the client asked for progress. */
  progress?: (progress: number, message: string) => Promise<void>;
}

/**
 * Waits for the people deciding on `held`, at most `waitMs`. Then the request is detached, not withdrawn: it stays
 * pending, and once approved the identical request made again passes once. The refusal says so and gives the id.
 */
export async function awaitApproval(held: Held, w: Waiting): Promise<Forward | Refuse> {
  const id = held.approval;
  if (w.signal?.aborted) held.withdraw('the client cancelled the request');
  const cancel = () => held.withdraw('the client cancelled the request');
  w.signal?.addEventListener('abort', cancel, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const started = Date.now();
  let ticks = 0;
  const ticker = w.progress && setInterval(() => {
    const waited = Math.round((Date.now() - started) / 1000);
    void w.progress!(++ticks, `waiting for a person to approve ${id} (${waited} s)`).catch(() => {});
  }, Math.min(PROGRESS_EVERY_MS, w.waitMs / 4));
  const timedOut = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), w.waitMs); });
  try {
    const first = await Promise.race([held.settled, timedOut]);
    if (first !== 'timeout') return first;
    held.detach();
    return {
      kind: 'refuse', rule: APPROVAL_PENDING, approval: id,
      message: `this call awaits approval ${id}; make the same call again (same arguments) once a person has approved it`,
    };
  } finally {
    clearTimeout(timer);
    if (ticker) clearInterval(ticker);
    w.signal?.removeEventListener('abort', cancel);
  }
}
