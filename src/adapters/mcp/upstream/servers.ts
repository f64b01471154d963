// The configured upstream servers, resolved once at start-up: how to reach each one, and the identity its pins are keyed by.
import { resolve } from 'node:path';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { McpServer } from '../../../config/schema.ts';
import type { PinnedServer } from '../pins.ts';
import { nodeFetch } from './http-fetch.ts';
import { resolveProgram, StdioUpstreamTransport } from './stdio.ts';

export interface ServerSpec extends PinnedServer {
  kind: 'stdio' | 'streamable-http' | 'sse';
  /** A fresh transport for one connection to the server. */
  transport(): Transport;
}

/**
 * Resolves every server of a connection; a program that cannot be found or a URL that is not http(s) stops the start.
 * `baseDir` is what relative working directories mean (the config file's directory).
 */
export function serverSpecs(servers: Record<string, McpServer>, baseDir: string, log: (server: string, line: string) => void): ServerSpec[] {
  return Object.entries(servers).map(([name, server]): ServerSpec => {
    if ('url' in server) {
      const url = new URL(server.url);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`server ${name}: url must be http:// or https://`);
      if (url.username || url.password) throw new Error(`server ${name}: put credentials in headers, not in the url`);
      const requestInit = { headers: server.headers };
      return {
        name, source: url.href, kind: server.transport,
        transport: () => server.transport === 'sse' ? new SSEClientTransport(url, { requestInit, fetch: nodeFetch }) : new StreamableHTTPClientTransport(url, { requestInit, fetch: nodeFetch }),
      };
    }
    const [program, ...args] = server.command;
    const command = [resolveProgram(program), ...args];
    const cwd = resolve(baseDir, server.cwd ?? '.');
    return {
      name, source: JSON.stringify(server.command), kind: 'stdio',
      transport: () => new StdioUpstreamTransport({ command, env: server.env, cwd, onStderr: (line) => log(name, line) }),
    };
  });
}
