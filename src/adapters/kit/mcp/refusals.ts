// How an MCP server side refuses, in the two shapes agents and their frameworks expect.
import { ErrorCode, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';

/** A JSON-RPC error with exactly this code and message on the wire (the SDK's McpError would prefix its message). */
export class RpcError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

/**
 * The one answer for a tool that does not exist, is withheld, or is not granted: the same code and text in every case,
 * so an agent cannot learn which tools exist beyond its grant.
 */
export const unknownTool = (name: string) => new RpcError(ErrorCode.InvalidParams, `unknown tool: ${name}`);

/** The same for resources and prompts. */
export const unknownResource = (uri: string) => new RpcError(ErrorCode.InvalidParams, `unknown resource: ${uri}`);
export const unknownPrompt = (name: string) => new RpcError(ErrorCode.InvalidParams, `unknown prompt: ${name}`);

/**
 * A granted tool whose call was refused (an argument constraint, a guard, an approval denied or pending, an upstream
 * failure): a tool result with `isError`, which agent frameworks show the model as a tool error it can act on.
 */
export function toolError(rule: string, message: string, approval?: string): CallToolResult {
  return {
    content: [{ type: 'text', text: `Gatehouse [${rule}]: ${message}` }],
    isError: true,
    _meta: { gatehouse: { rule, ...(approval ? { approval } : {}) } },
  };
}
