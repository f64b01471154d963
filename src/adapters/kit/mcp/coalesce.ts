// One packet per answer on the agent-facing MCP endpoint, instead of three.
//
// The SDK's streamable HTTP server answers a POST with an SSE stream, written through @hono/node-server: the headers
// are flushed on their own as soon as the stream exists, then the one event, then the chunked terminator, each its own
// socket write, so an agent's client wakes three times per tools/call and the gateway pays three syscalls. Here the
// headers wait for the first event (or a short while, so a call held for approval still starts its stream promptly),
// and everything written in the same turn of the event loop leaves in one write.
import type { ServerResponse } from 'node:http';

/** A stream with nothing to say yet still sends its headers after this long (a held call, progress to come). */
const HEADERS_AT_THE_LATEST_MS = 50;

export function coalesceWrites(res: ServerResponse): ServerResponse {
  const flushHeaders = res.flushHeaders.bind(res);
  // Whether anything was written (headers go with the first write); `headersSent` is already true after writeHead.
  let wrote = false;
  let timer: NodeJS.Timeout | undefined;
  res.flushHeaders = () => {
    if (wrote || timer) return;
    timer = setTimeout(() => { if (!wrote && !res.writableEnded && !res.destroyed) flushHeaders(); }, HEADERS_AT_THE_LATEST_MS);
  };
  let corked = false;
  const write = res.write.bind(res) as (...args: unknown[]) => boolean;
  res.write = ((...args: unknown[]) => {
    wrote = true;
    if (!corked) {
      corked = true;
      res.cork();
      setImmediate(() => {
        corked = false;
        res.uncork();
      });
    }
    return write(...args);
  }) as ServerResponse['write'];
  res.once('close', () => clearTimeout(timer));
  return res;
}
