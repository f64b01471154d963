// Runs one Gatehouse gateway in its own process for the bench, so its CPU time and RSS can be read from /proc/<pid>.
// Usage: spawned by bench/lib/gateway.ts, bundled by scripts/runtime.js, with an IPC channel and a <config.yaml> argument.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pino } from 'pino';
import { parseConfig } from '../src/config/load.ts';
import { startGateway } from '../src/main.ts';

export type ToChild = { id: number; type: 'mint'; role: string; label: string } | { id: number; type: 'stop' } | { id: number; type: 'usage'; gc?: boolean };
export type FromChild =
  | { type: 'ready'; listeners: { name: string; kind: string; address: string }[]; adminUrl: string }
  | { type: 'failed'; error: string }
  | { id: number; type: 'minted'; token: string }
  | { id: number; type: 'usage'; cpuUs: number; rssMb: number; heapMb: number; eldP99Ms: number }
  | { id: number; type: 'stopped' };

const file = process.argv[2];
if (!file || !process.send) {
  console.error('usage: spawned by the bench with an IPC channel: gateway-child.ts <config.yaml>');
  process.exit(2);
}
const send = (m: FromChild) => process.send!(m);

// Event-loop delay since the last usage report (the soak reads it each minute).
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();

try {
  const config = parseConfig(readFileSync(file, 'utf8'), file);
  const gateway = await startGateway(config, { baseDir: dirname(resolve(file)), log: pino({ level: 'silent' }) });
  process.on('message', async (m: ToChild) => {
    if (m.type === 'mint') {
      const { token } = await gateway.services.tokens.mint({ role: m.role, label: m.label, ttlSeconds: 3600, createdBy: 'bench' });
      send({ id: m.id, type: 'minted', token });
    } else if (m.type === 'usage') {
      // With --expose-gc, a full collection first: RSS then reflects what is live, not when V8 last collected.
      if (m.gc) (globalThis as { gc?: () => void }).gc?.();
      const u = process.cpuUsage();
      const eldP99Ms = loopDelay.percentile(99) / 1e6;
      loopDelay.reset();
      send({ id: m.id, type: 'usage', cpuUs: u.user + u.system, rssMb: process.memoryUsage.rss() / 1024 / 1024, heapMb: process.memoryUsage().heapUsed / 1024 / 1024, eldP99Ms });
    } else if (m.type === 'stop') {
      await gateway.close().catch(() => undefined);
      send({ id: m.id, type: 'stopped' });
      // Exit normally so --cpu-prof writes its profile.
      setTimeout(() => process.exit(0), 50);
    }
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', listeners: gateway.listeners.map((l) => ({ name: l.name, kind: l.kind, address: l.address })), adminUrl: gateway.adminUrl });
} catch (err) {
  send({ type: 'failed', error: (err as Error).stack ?? String(err) });
  process.exit(1);
}
