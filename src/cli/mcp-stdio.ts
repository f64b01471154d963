// `gatehouse mcp-stdio --url ...`: a stdio MCP server that relays to a Gatehouse MCP endpoint, for clients that only launch stdio servers.
import type { Command } from 'commander';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { isJSONRPCRequest, isJSONRPCResultResponse, type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { CliError } from './client.ts';

/** The token comes from the environment only: a command line is visible to every user of the machine (`ps`). */
export const TOKEN_ENV = 'GATEHOUSE_TOKEN';

export function mcpStdioCommands(program: Command) {
  program.command('mcp-stdio')
    .description(`relay stdio MCP to a Gatehouse MCP endpoint; the token is read from ${TOKEN_ENV}, never from the command line`)
    .requiredOption('--url <url>', 'the endpoint, e.g. http://127.0.0.1:8090/mcp')
    .action(async (o: { url: string }) => {
      const token = process.env[TOKEN_ENV];
      if (!token) throw new CliError(`set ${TOKEN_ENV} to the token (it is never taken from the command line)`, 2);
      let url: URL;
      try { url = new URL(o.url); } catch { throw new CliError(`--url "${o.url}" is not a URL`, 2); }
      await relay(url, token);
    });
}

/** Relays JSON-RPC messages both ways until either side closes. */
async function relay(url: URL, token: string): Promise<void> {
  const gateway = new StreamableHTTPClientTransport(url, { requestInit: { headers: { Authorization: `Bearer ${token}` } } });
  const agent = new StdioServerTransport();
  const initializing = new Set<string | number>();
  const done = new Promise<void>((resolve) => {
    gateway.onclose = resolve;
    // The client closing our stdin is how a stdio session ends.
    process.stdin.once('end', resolve);
  });
  agent.onmessage = (message: JSONRPCMessage) => {
    if (isJSONRPCRequest(message) && message.method === 'initialize') initializing.add(message.id);
    gateway.send(message).catch((err: Error) => {
      // The agent must not wait for an answer that will never come: its request fails with the gateway's reason.
      if (isJSONRPCRequest(message)) void agent.send({ jsonrpc: '2.0', id: message.id, error: { code: -32000, message: `Gatehouse: ${err.message}` } });
      else process.stderr.write(`gatehouse mcp-stdio: ${err.message}\n`);
    });
  };
  gateway.onmessage = (message: JSONRPCMessage) => {
    // Later requests carry the protocol version the session agreed on, as the SDK's own client does.
    if (isJSONRPCResultResponse(message) && initializing.delete(message.id)) {
      const version = (message.result as { protocolVersion?: string }).protocolVersion;
      if (version) gateway.setProtocolVersion(version);
    }
    void agent.send(message);
  };
  gateway.onerror = (err) => process.stderr.write(`gatehouse mcp-stdio: ${err.message}\n`);
  await gateway.start();
  await agent.start();
  await done;
  await gateway.terminateSession().catch(() => {});
  await Promise.all([gateway.close(), agent.close()]);
}
