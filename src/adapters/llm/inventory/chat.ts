// The OpenAI chat completions, legacy completions and embeddings request fields, as walk.ts reads them.
import { as, capability, json, kinds, list, object, opaque, plain, settings, tagged, text, url, type Field, type Fields } from './walk.ts';

/** Sampling and bookkeeping fields every OpenAI endpoint shares: understood, no text, no capability. */
const SETTINGS = ['model', 'user', 'seed', 'temperature', 'top_p', 'n', 'stop', 'stream', 'frequency_penalty', 'presence_penalty', 'logit_bias', 'logprobs', 'max_tokens'] as const;
const settingsOf = (names: readonly string[]): Fields => Object.fromEntries(names.map((n) => [n, plain]));

const parts = tagged('type', {
  text: object({ text: text() }),
  image_url: object({ image_url: object({ url, detail: plain }) }),
  input_audio: object({ input_audio: opaque('an input_audio content part') }),
  file: object({ file: opaque('a file content part') }),
  refusal: object({ refusal: text() }),
});
const content = kinds({ string: text(), array: list(parts) });
const call = object({ name: text(), arguments: text() });
const toolCall = tagged('type', { function: object({ id: plain, function: call }), custom: object({ id: plain, custom: object({ name: text(), input: text() }) }) }, 'function');

/** Tool definitions are read by the model as instructions: scanned as documents (a poisoned tool description is an injection). */
const definitions = as('tools', list(tagged('type', {
  function: object({ function: object({ name: text(), description: text(), parameters: json(), strict: plain }) }),
  custom: object({ custom: object({ name: text(), description: text(), format: json() }) }),
})));

export const CHAT: Fields = {
  ...settingsOf(SETTINGS),
  ...settingsOf(['max_completion_tokens', 'top_logprobs', 'parallel_tool_calls', 'tool_choice', 'function_call', 'reasoning_effort',
    'service_tier', 'store', 'modalities', 'audio', 'verbosity', 'safety_identifier', 'prompt_cache_key']),
  stream_options: settings(),
  metadata: settings(),
  messages: list(tagged('role', {
    system: object({ content, name: text() }),
    developer: object({ content, name: text() }),
    user: object({ content, name: text() }),
    assistant: object({ content, name: text(), refusal: text(), tool_calls: list(toolCall), function_call: call, audio: plain }),
    tool: object({ content, tool_call_id: plain, name: text() }),
    function: object({ content, name: text() }),
  })),
  tools: definitions,
  functions: as('tools', list(object({ name: text(), description: text(), parameters: json() }))),
  response_format: tagged('type', {
    text: object({}),
    json_object: object({}),
    json_schema: object({ json_schema: as('tools', object({ name: text(), description: text(), schema: json(), strict: plain })) }),
  }),
  prediction: object({ type: plain, content: as('assistant', kinds({ string: text(), array: list(tagged('type', { text: object({ text: text() }) })) })) }),
  web_search_options: capability('web_search', settings()),
};

/** A prompt as a string, a list of strings, or token ids (which cannot be read). */
const prompt: Field = kinds({ string: text(), array: list(kinds({ string: text(), number: opaque('a prompt given as token ids'), array: opaque('a prompt given as token ids') })) });

export const COMPLETIONS: Fields = {
  ...settingsOf(SETTINGS),
  ...settingsOf(['best_of', 'echo']),
  stream_options: settings(),
  prompt,
  suffix: text(),
};

export const EMBEDDINGS: Fields = { model: plain, user: plain, dimensions: plain, encoding_format: plain, input: prompt };
