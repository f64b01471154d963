// The OpenAI Responses API request fields, as walk.ts reads them.
import { as, json, kinds, list, object, opaque, plain, roleField, settings, tagged, text, url, type Field, type Fields } from './walk.ts';

const parts = tagged('type', {
  input_text: object({ text: text() }),
  output_text: object({ text: text(), annotations: plain, logprobs: plain }),
  refusal: object({ refusal: text() }),
  input_image: object({ image_url: url, detail: plain, file_id: opaque('a stored image file') }),
  input_file: opaque('an input_file part'),
  input_audio: opaque('an input_audio part'),
});
const content = kinds({ string: text(), array: list(parts) });
const output = as('tool', kinds({ string: text(), array: list(parts) }));

const items: Field = list(tagged('type', {
  message: object({ role: roleField(['user', 'system', 'developer', 'assistant']), content, id: plain, status: plain }),
  function_call: as('assistant', object({ call_id: plain, name: text(), arguments: text(), id: plain, status: plain })),
  function_call_output: object({ call_id: plain, output, id: plain, status: plain }),
  custom_tool_call: as('assistant', object({ call_id: plain, name: text(), input: text(), id: plain })),
  custom_tool_call_output: object({ call_id: plain, output, id: plain }),
  reasoning: as('assistant', object({ id: plain, summary: list(tagged('type', { summary_text: object({ text: text() }) })), encrypted_content: plain, status: plain })),
  item_reference: opaque('a reference to a stored item'),
}, 'message'));

/** Hosted tools act for the agent: each is offered by its type name and must be in the grant's tools (see the dialect). */
const tools = as('tools', list(tagged('type', {
  function: object({ name: text(), description: text(), parameters: json(), strict: plain }),
  custom: object({ name: text(), description: text(), format: json() }),
  mcp: object({ server_label: plain, server_url: plain, server_description: text(), headers: plain, allowed_tools: plain, require_approval: plain, connector_id: plain, authorization: plain }),
  'web_search*': settings(),
  file_search: settings(),
  code_interpreter: settings(),
  image_generation: settings(),
  computer_use_preview: settings(),
  local_shell: settings(),
})));

export const RESPONSES: Fields = {
  ...Object.fromEntries(['model', 'stream', 'temperature', 'top_p', 'max_output_tokens', 'user', 'store', 'parallel_tool_calls', 'tool_choice',
    'truncation', 'service_tier', 'include', 'max_tool_calls', 'top_logprobs', 'safety_identifier', 'prompt_cache_key', 'background'].map((n) => [n, plain])),
  metadata: settings(),
  stream_options: settings(),
  reasoning: settings(),
  instructions: as('system', kinds({ string: text(), array: items })),
  input: as('user', kinds({ string: text(), array: items })),
  tools,
  text: object({ verbosity: plain, format: tagged('type', {
    text: object({}),
    json_object: object({}),
    json_schema: as('tools', object({ name: text(), description: text(), schema: json(), strict: plain })),
  }) }),
  // The model reads a stored conversation or prompt template that Gatehouse never sees.
  previous_response_id: opaque('a stored previous response'),
  conversation: opaque('a stored conversation'),
  prompt: opaque('a stored prompt template'),
};
