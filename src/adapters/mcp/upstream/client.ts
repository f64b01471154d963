// One upstream server as one agent session reaches it: an SDK client connected on first use, and again after the server went away.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { ClientCapabilities } from '@modelcontextprotocol/sdk/types.js';
import type { ServerSpec } from './servers.ts';

export const CLIENT_INFO = { name: 'gatehouse', version: '0.1.0' };

export interface UpstreamOptions {
  /** What the gateway offers the server on this session's behalf (sampling, elicitation: only when granted), read at each connect. */
  capabilities(): ClientCapabilities;
  /** Registers handlers (server-initiated requests, notifications) on a fresh client before it connects. */
  prepare(client: Client): void;
  /** How long connecting (spawn and initialize) may take. */
  connectTimeoutMs: number;
}

export class Upstream {
  private connecting?: Promise<Client>;
  private live?: Client;
  private closed = false;

  constructor(readonly spec: ServerSpec, private readonly opts: UpstreamOptions) {}

  /** The connected client; a server that crashed or hung up is connected afresh (a stdio server is spawned again). */
  client(): Promise<Client> {
    if (this.closed) return Promise.reject(new Error('the session is closed'));
    if (!this.connecting) {
      const attempt = this.connect();
      this.connecting = attempt;
      attempt.catch(() => { if (this.connecting === attempt) this.connecting = undefined; });
    }
    return this.connecting;
  }

  private async connect(): Promise<Client> {
    const client = new Client(CLIENT_INFO, { capabilities: this.opts.capabilities() });
    this.opts.prepare(client);
    // Once this client's server went away, the next use connects again.
    client.onclose = () => {
      if (this.live !== client) return;
      this.live = undefined;
      this.connecting = undefined;
    };
    try {
      await client.connect(this.spec.transport(), { timeout: this.opts.connectTimeoutMs });
    } catch (err) {
      await client.close().catch(() => undefined);
      throw new Error(`server "${this.spec.name}" is unavailable: ${(err as Error).message}`);
    }
    if (this.closed) {
      await client.close();
      throw new Error('the session is closed');
    }
    this.live = client;
    return client;
  }

  async close(): Promise<void> {
    this.closed = true;
    const connecting = this.connecting;
    this.connecting = undefined;
    this.live = undefined;
    const client = await connecting?.catch(() => undefined);
    await client?.close().catch(() => undefined);
  }
}
