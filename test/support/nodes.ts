// Several `gatehouse serve` processes, each its own node, sharing one PostgreSQL store — what an operator runs behind a
// load balancer — and the admin API each of them answers.
import { serve, type Served } from './serve.ts';

export interface Node extends Served {
  id: string;
  /** Calls this node's admin API with `key`; resolves to the status and the parsed body. */
  api<T = Record<string, unknown>>(method: string, path: string, key: string, body?: unknown): Promise<{ status: number; body: T }>;
  /** SIGTERM, then resolves once the process has exited (with its code). */
  stop(): Promise<number | null>;
}

/** Starts one node: `yaml(id)` is its config. */
export async function startNode(id: string, yaml: (id: string) => string, env: NodeJS.ProcessEnv = {}): Promise<Node> {
  const served = await serve(yaml(id), [], env);
  return {
    ...served,
    id,
    async api<T>(method: string, path: string, key: string, body?: unknown) {
      const res = await fetch(`${served.adminUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as T };
    },
    async stop() {
      served.child.kill('SIGTERM');
      return (await served.exited).code;
    },
  };
}

/** Starts the nodes together, as a rollout does (their migrations run once, under the store's advisory lock). */
export async function startNodes(ids: string[], yaml: (id: string) => string, env: NodeJS.ProcessEnv = {}): Promise<Node[]> {
  const started = await Promise.allSettled(ids.map((id) => startNode(id, yaml, env)));
  const failed = started.find((s) => s.status === 'rejected');
  if (!failed) return started.map((s) => (s as PromiseFulfilledResult<Node>).value);
  // One node that cannot start fails the whole set: the others are not left running.
  for (const s of started) if (s.status === 'fulfilled') s.value.child.kill('SIGKILL');
  throw failed.reason;
}

/** `host:port` → the two parts, for clients that want them apart. */
export function hostPort(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  return { host: address.slice(0, at), port: Number(address.slice(at + 1)) };
}
