// Runs a real command-line client asynchronously: the gateway under test shares this process's event loop.
import { spawn } from 'node:child_process';

export interface RunResult { status: number | null; stdout: string; stderr: string }

/** `onStdout` sees the output so far as it arrives, for a test that reacts to what the command prints. */
export function run(command: string, args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 30_000, onStdout?: (soFar: string) => void): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      onStdout?.(stdout);
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr }); });
  });
}
