// Moves SQLite's WAL checkpoints (copying committed pages into the database file, then fsync) off the event loop. Left
// to the connection that commits, a checkpoint runs inside whichever commit crosses the threshold and stalls every
// request for milliseconds of disk flushing; on its own thread with its own connection it overlaps with the commits.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** How often the thread checkpoints: the WAL then holds about this long's worth of commits. */
const EVERY_MS = 200;

// The thread needs nothing but better-sqlite3, so its source is a few lines of plain JavaScript: it then runs the same
// whether the gateway runs from TypeScript source or from its bundle, with no entry file of its own to build.
const SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 5000');
const checkpoint = () => { try { db.pragma('wal_checkpoint(PASSIVE)'); } catch (err) { parentPort.postMessage(err.message); } };
const timer = setInterval(checkpoint, workerData.everyMs);
parentPort.on('message', () => { clearInterval(timer); db.close(); parentPort.close(); });
`;

export interface Checkpointer { stop(): void }

/**
 * Starts checkpointing the database at `path` from a background thread. `onFailure` hears why the thread stopped
 * checkpointing (the store then goes back to checkpointing as it commits, so the WAL never grows without bound).
 */
export function startCheckpointer(path: string, onFailure: (reason: string) => void): Checkpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(SOURCE, { eval: true, workerData: { path, driver, everyMs: EVERY_MS } });
  worker.unref();
  let stopped = false;
  const fail = (reason: string) => {
    if (stopped) return;
    stopped = true;
    onFailure(reason);
    void worker.terminate();
  };
  worker.on('message', (reason: string) => fail(`a checkpoint failed: ${reason}`));
  worker.on('error', (err) => fail(err.message));
  worker.on('exit', (code) => fail(`the checkpoint thread stopped (exit code ${code})`));
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      // It closes the last connection after ours, so SQLite's final checkpoint on close happens there.
      worker.postMessage('stop');
    },
  };
}
