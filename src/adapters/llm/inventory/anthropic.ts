// The Anthropic Messages API request fields and beta flags, as walk.ts reads them.
import { as, capability, json, kinds, list, object, opaque, plain, settings, tagged, text, type Field, type Fields } from './walk.ts';

const cache = { cache_control: plain };
const textBlock = object({ text: text(), citations: plain, ...cache });
const image = object({ source: tagged('type', { base64: settings(), url: settings(), file: settings() }), ...cache });
const document = object({
  source: tagged('type', {
    text: object({ media_type: plain, data: text() }),
    content: object({ content: kinds({ string: text(), array: list(tagged('type', { text: textBlock, image })) }) }),
    base64: opaque('a base64 document'),
    url: opaque('a document fetched by URL'),
    file: opaque('a stored file'),
  }),
  title: text(), context: text(), citations: plain, ...cache,
});
const searchResult = object({ source: plain, title: text(), content: list(tagged('type', { text: textBlock })), citations: plain, ...cache });
const toolUse = object({ id: plain, name: text(), input: json(), ...cache });

const blocks = tagged('type', {
  text: textBlock,
  image,
  document,
  search_result: searchResult,
  tool_use: toolUse,
  server_tool_use: toolUse,
  mcp_tool_use: object({ id: plain, name: text(), server_name: plain, input: json(), ...cache }),
  // What tools returned is untrusted content: scanned as documents, and spotlighted when the grant asks.
  tool_result: as('tool', object({ tool_use_id: plain, is_error: plain, content: kinds({ string: text(), array: list(tagged('type', { text: textBlock, image, document, search_result: searchResult })) }), ...cache })),
  mcp_tool_result: as('tool', object({ tool_use_id: plain, is_error: plain, content: kinds({ string: text(), array: list(tagged('type', { text: textBlock })) }), ...cache })),
  'web_search_tool_result': as('tool', object({ tool_use_id: plain, content: json(), ...cache })),
  'web_fetch_tool_result': as('tool', object({ tool_use_id: plain, content: json(), ...cache })),
  thinking: object({ thinking: text(), signature: plain }),
  redacted_thinking: object({ data: plain }), // the model's own earlier reasoning, encrypted by the provider
  container_upload: opaque('a container upload'),
});
const content: Field = kinds({ string: text(), array: list(blocks) });

/** Server tools (type `web_search_20250305`, `bash_20250124`…) are offered by name and must be in the grant's tools. */
const tools = as('tools', list(tagged('type', {
  custom: object({ name: text(), description: text(), input_schema: json(), ...cache }),
  'web_search_*': settings(), 'web_fetch_*': settings(), 'bash_*': settings(), 'text_editor_*': settings(),
  'computer_*': settings(), 'code_execution_*': settings(), 'memory_*': settings(),
}, 'custom')));

export const MESSAGES: Fields = {
  ...Object.fromEntries(['model', 'max_tokens', 'stop_sequences', 'stream', 'temperature', 'top_k', 'top_p', 'tool_choice', 'service_tier'].map((n) => [n, plain])),
  metadata: settings(),
  thinking: settings(),
  system: as('system', kinds({ string: text(), array: list(tagged('type', { text: textBlock })) })),
  messages: list(tagged('role', { user: object({ content }), assistant: object({ content }) })),
  tools,
  // Remote MCP servers and code-execution containers act for the agent outside the tools list.
  mcp_servers: capability('mcp_servers', list(settings())),
  container: capability('container'),
  context_management: settings(),
};

/** `anthropic-beta` flags Gatehouse knows: the capability each grants, or null for those that change no capability. */
export const BETAS: Record<string, string | null> = {
  'mcp-client-2025-04-04': 'mcp_servers',
  'code-execution-2025-05-22': 'code_execution',
  'files-api-2025-04-14': 'files',
  'computer-use-2024-10-22': 'computer_use',
  'computer-use-2025-01-24': 'computer_use',
  'web-fetch-2025-09-10': 'web_fetch',
  'skills-2025-10-02': 'container',
  'prompt-caching-2024-07-31': null,
  'extended-cache-ttl-2025-04-11': null,
  'token-efficient-tools-2025-02-19': null,
  'fine-grained-tool-streaming-2025-05-14': null,
  'interleaved-thinking-2025-05-14': null,
  'output-128k-2025-02-19': null,
  'context-1m-2025-08-07': null,
  'context-management-2025-06-27': null,
  'pdfs-2024-09-25': null,
};
