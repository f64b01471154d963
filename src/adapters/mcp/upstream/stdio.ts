// A stdio MCP server spawned with exactly its configured environment: the SDK's own transport adds the gateway's HOME, PATH, USER...
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { ReadBuffer, serializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

export interface StdioLaunch {
  /** An absolute program path (see `resolveProgram`) and its arguments. */
  command: string[];
  /** The child's whole environment. */
  env: Record<string, string>;
  cwd: string;
  /** One line of the child's stderr (it is the server's log, never protocol). */
  onStderr?: (line: string) => void;
}

/** A bare program name is found on the gateway's PATH once, at start-up, so the child's environment need not carry one. */
export function resolveProgram(program: string, path = process.env.PATH ?? ''): string {
  if (program.includes('/')) return program;
  for (const dir of path.split(delimiter)) {
    if (!dir || !isAbsolute(dir)) continue;
    const candidate = join(dir, program);
    try {
      if (statSync(candidate).isFile()) { accessSync(candidate, constants.X_OK); return candidate; }
    } catch { /* not here */ }
  }
  throw new Error(`program "${program}" was not found on PATH`);
}

/** How long a closing child gets after stdin ends, then after SIGTERM, before it is killed. */
const GRACE_MS = 1000;

export class StdioUpstreamTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  private child?: ChildProcessByStdio<Writable, Readable, Readable>;
  private readonly buffer = new ReadBuffer();

  constructor(private readonly launch: StdioLaunch) {}

  start(): Promise<void> {
    if (this.child) throw new Error('stdio transport already started');
    const [program, ...args] = this.launch.command;
    return new Promise((resolve, reject) => {
      const child = spawn(program, args, { env: this.launch.env, cwd: this.launch.cwd, stdio: ['pipe', 'pipe', 'pipe'], shell: false });
      this.child = child;
      child.once('error', (err) => { reject(err); this.onerror?.(err); });
      child.once('spawn', () => resolve());
      child.once('close', () => {
        this.child = undefined;
        this.onclose?.();
      });
      child.stdin.on('error', (err) => this.onerror?.(err));
      child.stdout.on('data', (chunk: Buffer) => {
        try {
          this.buffer.append(chunk);
        } catch (err) {
          // More than the buffer's cap without a newline: the server is broken, and the session with it.
          this.onerror?.(err as Error);
          void this.close();
          return;
        }
        for (;;) {
          let message: JSONRPCMessage | null;
          try {
            message = this.buffer.readMessage();
          } catch (err) {
            this.onerror?.(err as Error);
            continue;
          }
          if (!message) break;
          this.onmessage?.(message);
        }
      });
      let partial = '';
      child.stderr.setEncoding('utf8').on('data', (text: string) => {
        const lines = (partial + text).split('\n');
        partial = lines.pop()!.slice(-4096);
        for (const line of lines) if (line) this.launch.onStderr?.(line.slice(0, 4096));
      });
    });
  }

  send(message: JSONRPCMessage): Promise<void> {
    const stdin = this.child?.stdin;
    if (!stdin || stdin.destroyed) return Promise.reject(new Error('the server process is not running'));
    return new Promise((resolve) => {
      if (stdin.write(serializeMessage(message))) resolve();
      else stdin.once('drain', resolve);
    });
  }

  /** Ends stdin, then escalates to SIGTERM and SIGKILL if the child does not exit. */
  async close(): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
    const within = (ms: number) => Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]);
    child.stdin.end();
    if (await within(GRACE_MS)) return;
    child.kill('SIGTERM');
    if (await within(GRACE_MS)) return;
    child.kill('SIGKILL');
    await exited;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }
}
