// `gatehouse serve` as an operator (or the container image) runs it: a child process with a config file, its JSON logs
// read for where it listens.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The command the image's ENTRYPOINT runs (see Dockerfile and test/deploy.test.ts), after `node`. */
export const SERVE = ['bin/gatehouse.js', 'serve'];

export interface Served {
  child: ChildProcess;
  dir: string;
  /** Every log line so far, parsed. */
  logs: Record<string, unknown>[];
  adminUrl: string;
  /** `host:port` of each connection. */
  address: Record<string, string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Writes `yaml` to a fresh directory (the store goes beside it) and starts `gatehouse serve` on it. */
export async function serve(yaml: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Served> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-ops-serve-'));
  writeFileSync(join(dir, 'gatehouse.yaml'), yaml);
  const child = spawn(process.execPath, [...SERVE, '--config', join(dir, 'gatehouse.yaml'), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const started = new Promise<void>((resolve, reject) => {
    let buffered = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        try { logs.push(JSON.parse(line) as Record<string, unknown>); } catch { /* not a log line */ }
        if (line.includes('admin API and console listening')) resolve();
      }
    });
    void exited.then(({ code }) => reject(new Error(`gatehouse serve exited (${code}) before listening:\n${stderr}`)));
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  void exited.then(() => clearTimeout(timer));
  await started;
  const address = Object.fromEntries(logs.filter((l) => l.msg === 'connection listening').map((l) => [l.connection as string, l.address as string]));
  return { child, dir, logs, adminUrl: logs.find((l) => l.msg === 'admin API and console listening')!.url as string, address, exited };
}
