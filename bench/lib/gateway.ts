// Starts Gatehouse in a child process (bench/gateway-child.ts) and talks to it over IPC: mint tokens, stop, kill -9.
// The child runs as `npx gatehouse` does: bundled by scripts/runtime.js, on plain Node with its V8 flags, no TypeScript loader.
import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runtime, V8_FLAGS } from '../../scripts/runtime.js';
import type { FromChild, ToChild } from '../gateway-child.ts';

export interface GatewayChild {
  pid: number;
  adminUrl: string;
  address(name: string): { host: string; port: number };
  mint(role: string, label: string): Promise<string>;
  /** CPU time, RSS, heap in use and event-loop delay p99 since the last call, as the gateway sees them; `gc` collects first (needs execArgv --expose-gc). */
  usage(gc?: boolean): Promise<{ cpuUs: number; rssMb: number; heapMb: number; eldP99Ms: number }>;
  stop(): Promise<void>;
  kill9(): Promise<void>;
}

export async function startGatewayChild(dir: string, yaml: string, opts: { profileDir?: string; execArgv?: string[] } = {}): Promise<GatewayChild> {
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, yaml);
  const execArgv = [...V8_FLAGS, ...(opts.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.profileDir}`] : []), ...(opts.execArgv ?? [])];
  const child = fork(await runtime('bench/gateway-child.ts'), [file], { execArgv, stdio: ['ignore', 'inherit', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => { stderr = (stderr + c.toString()).slice(-4000); });
  let nextId = 1;
  const waiting = new Map<number, (m: FromChild) => void>();
  const ready = await new Promise<Extract<FromChild, { type: 'ready' }>>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`gateway did not start in 30 s\n${stderr}`)); }, 30_000);
    child.on('message', (m: FromChild) => {
      if (m.type === 'ready') { clearTimeout(timer); resolve(m); }
      else if (m.type === 'failed') { clearTimeout(timer); reject(new Error(`gateway failed to start: ${m.error}`)); }
      else if ('id' in m) { waiting.get(m.id)?.(m); waiting.delete(m.id); }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`gateway exited (${code}) before it was ready\n${stderr}`)); });
  });
  type Ask = ToChild extends infer M ? (M extends ToChild ? Omit<M, 'id'> : never) : never;
  const ask = <T extends FromChild>(m: Ask): Promise<T> => new Promise((resolve, reject) => {
    const id = nextId++;
    const timer = setTimeout(() => { waiting.delete(id); reject(new Error(`gateway did not answer ${m.type}`)); }, 15_000);
    waiting.set(id, (r) => { clearTimeout(timer); resolve(r as T); });
    child.send({ ...m, id } as ToChild);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    pid: child.pid!,
    adminUrl: ready.adminUrl,
    address(name) {
      const l = ready.listeners.find((x) => x.name === name);
      if (!l) throw new Error(`no listener ${name}`);
      const i = l.address.lastIndexOf(':');
      return { host: l.address.slice(0, i), port: Number(l.address.slice(i + 1)) };
    },
    mint: async (role, label) => (await ask<Extract<FromChild, { type: 'minted' }>>({ type: 'mint', role, label })).token,
    usage: async (gc = false) => {
      const u = await ask<Extract<FromChild, { type: 'usage' }>>({ type: 'usage', gc });
      return { cpuUs: u.cpuUs, rssMb: u.rssMb, heapMb: u.heapMb, eldP99Ms: u.eldP99Ms };
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      await ask({ type: 'stop' }).catch(() => child.kill('SIGKILL'));
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
    async kill9() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}
