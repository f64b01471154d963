// The gateway's reading of LangChain correlation: application_name, HTTP headers, LLM request metadata.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { correlationFromApplicationName, correlationFromHeaders, correlationFromMetadata } from '../src/pipeline/correlation.ts';

const RUN = '0193f2a4-7b1c-7d2e-9f00-1234567890ab';

test('application_name: run= and step= anywhere after the client\'s own name, in either order', () => {
  assert.deepEqual(correlationFromApplicationName(`langchain run=${RUN} step=retrieve`), { runId: RUN, step: 'retrieve' });
  assert.deepEqual(correlationFromApplicationName(`step=query_sql run=${RUN}`), { runId: RUN, step: 'query_sql' });
  assert.deepEqual(correlationFromApplicationName(`my-app run=${RUN}`), { runId: RUN, step: null });
  assert.deepEqual(correlationFromApplicationName('step=chat'), { runId: null, step: 'chat' });
  assert.deepEqual(correlationFromApplicationName('psql'), { runId: null, step: null });
  assert.deepEqual(correlationFromApplicationName(''), { runId: null, step: null });
  assert.deepEqual(correlationFromApplicationName(undefined), { runId: null, step: null });
});

test('application_name: only whole words count, and only plain ids are taken', () => {
  assert.deepEqual(correlationFromApplicationName(`rerun=${RUN} mystep=x`), { runId: null, step: null }, 'run= must start a word');
  // A value with anything but letters, digits and _ . : - is refused whole, never cut down to a prefix.
  assert.deepEqual(correlationFromApplicationName('run=abc;DROP step=a\'b'), { runId: null, step: null });
  assert.deepEqual(correlationFromApplicationName(`run=${'x'.repeat(65)} step=${'s'.repeat(64)}`), { runId: null, step: 's'.repeat(64) });
  assert.deepEqual(correlationFromApplicationName('run=a.b:c-d_e step=ns:tool.v2'), { runId: 'a.b:c-d_e', step: 'ns:tool.v2' });
});

test('headers: X-Gatehouse-Run / X-Gatehouse-Step from Node headers, plain records and fetch Headers', () => {
  assert.deepEqual(correlationFromHeaders({ 'x-gatehouse-run': RUN, 'x-gatehouse-step': 'billing_get' }), { runId: RUN, step: 'billing_get' });
  assert.deepEqual(correlationFromHeaders({ 'X-Gatehouse-Run': RUN, 'X-Gatehouse-Step': 'chat' }), { runId: RUN, step: 'chat' });
  assert.deepEqual(correlationFromHeaders(new Headers({ 'X-Gatehouse-Run': RUN, 'X-Gatehouse-Step': 'chat' })), { runId: RUN, step: 'chat' });
  assert.deepEqual(correlationFromHeaders({ 'x-gatehouse-step': 'chat' }), { runId: null, step: 'chat' });
  assert.deepEqual(correlationFromHeaders({}), { runId: null, step: null });
  // The earlier header name is still read; the new one wins when both are sent.
  assert.deepEqual(correlationFromHeaders({ 'x-gatehouse-run-id': 'old' }), { runId: 'old', step: null });
  assert.deepEqual(correlationFromHeaders({ 'x-gatehouse-run-id': 'old', 'x-gatehouse-run': 'new' }), { runId: 'new', step: null });
});

test('headers: repeated, malformed or oversized values are ignored', () => {
  assert.deepEqual(correlationFromHeaders({ 'x-gatehouse-run': [RUN, 'other'], 'x-gatehouse-step': ['a', 'b'] }), { runId: null, step: null });
  const repeated = new Headers();
  repeated.append('x-gatehouse-run', 'a');
  repeated.append('x-gatehouse-run', 'b');
  assert.deepEqual(correlationFromHeaders(repeated), { runId: null, step: null }, 'fetch joins repeats as "a, b"');
  assert.deepEqual(correlationFromHeaders({ 'x-gatehouse-run': 'a b', 'x-gatehouse-step': '<script>' }), { runId: null, step: null });
  assert.deepEqual(correlationFromHeaders({ 'x-gatehouse-run': 'r'.repeat(65) }), { runId: null, step: null });
  assert.deepEqual(correlationFromHeaders({ 'x-gatehouse-run': `  ${RUN}  ` }), { runId: RUN, step: null }, 'surrounding blanks are trimmed');
});

test('LLM request metadata: gatehouse_run / gatehouse_step', () => {
  assert.deepEqual(correlationFromMetadata({ gatehouse_run: RUN, gatehouse_step: 'chat', other: 1 }), { runId: RUN, step: 'chat' });
  assert.deepEqual(correlationFromMetadata({ gatehouse_run: 42 }), { runId: null, step: null });
  for (const bad of [undefined, null, 'run', [RUN]]) assert.deepEqual(correlationFromMetadata(bad), { runId: null, step: null });
});
