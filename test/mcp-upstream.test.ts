// The upstream side of the MCP gateway against real servers (a stdio child process, streamable HTTP, legacy SSE):
// environment isolation, namespacing, pinning and rug pulls, shadowing, servers that hang or crash.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Catalog, UpstreamError, type CatalogEvent } from '../src/adapters/mcp/catalog.ts';
import { acceptPin, checkPins } from '../src/adapters/mcp/pins.ts';
import { Upstream } from '../src/adapters/mcp/upstream/client.ts';
import { serverSpecs } from '../src/adapters/mcp/upstream/servers.ts';
import { resolveProgram } from '../src/adapters/mcp/upstream/stdio.ts';
import type { McpServer } from '../src/config/schema.ts';
import { mcpServer } from '../src/config/schema.ts';
import { scanInjection } from '../src/services/guards/index.ts';
import { openSqliteStore } from '../src/services/store/sqlite.ts';
import type { Store } from '../src/services/store/store.ts';
import { httpToolServer, type HttpToolServer } from './support/mcp-http.ts';

const SERVER = fileURLToPath(new URL('./support/mcp-tools-server.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-mcp-upstream-'));
const file = (name: string) => join(dir, name);
const calls = (name: string) => { try { return readFileSync(file(name), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)); } catch { return []; } };
const setVariant = (name: string, variant: string) => writeFileSync(file(name), JSON.stringify({ variant }));
const scan = (text: string) => { const s = scanInjection(text, { source: 'document' }); return s.flagged ? s.rules : []; };

let http: HttpToolServer;
before(async () => { http = await httpToolServer({ name: 'b', state: file('b.state'), calls: file('b.calls') }); });
after(async () => { await http.close(); rmSync(dir, { recursive: true, force: true }); });

/** A session's catalog over the given servers, with every event it reports. */
function session(servers: Record<string, unknown>, store: Store = openSqliteStore(':memory:'), timeoutMs = 5000) {
  const events: CatalogEvent[] = [];
  const specs = serverSpecs(Object.fromEntries(Object.entries(servers).map(([k, v]) => [k, mcpServer.parse(v)])) as Record<string, McpServer>, dir, () => {});
  const catalog = new Catalog(specs.map((s) => new Upstream(s, { capabilities: () => ({}), prepare: () => {}, connectTimeoutMs: 10_000 })), {
    timeoutMs, report: (e) => events.push(e), checkPins: (server, tools) => checkPins(store, server, tools, scan),
  });
  return { catalog, events, store, specs };
}
const stdio = (name: string, extra: Record<string, unknown> = {}) => ({
  command: ['node', SERVER], env: { SERVER_NAME: name, TOOLS_STATE: file(`${name}.state`), CALLS_LOG: file(`${name}.calls`), ...extra },
});
const textOf = (r: { content: unknown }) => (r.content as { text: string }[])[0].text;

test('a stdio server runs with exactly its configured environment and working directory, nothing of the gateway\'s', async () => {
  process.env.GATEHOUSE_TEST_SECRET = 'must-not-leak';
  const cwd = mkdtempSync(join(tmpdir(), 'gatehouse-mcp-cwd-'));
  const { catalog } = session({ s: { command: ['node', SERVER], env: { ONLY: 'this' }, cwd } });
  try {
    const tools = await catalog.listTools();
    const seen = JSON.parse(textOf(await catalog.callTool(tools.get('s__env')!, {}, {})));
    assert.deepEqual(seen.env, { ONLY: 'this' }, 'no PATH, HOME, USER or gateway secret is inherited');
    assert.equal(realpathSync(seen.cwd), realpathSync(cwd));
  } finally {
    delete process.env.GATEHOUSE_TEST_SECRET;
    await catalog.close();
    rmSync(cwd, { recursive: true, force: true });
  }
});

test('a bare program name is found on the gateway\'s PATH at start-up; a missing one stops the start', () => {
  assert.equal(resolveProgram('node'), resolveProgram(process.execPath));
  assert.match(resolveProgram('node'), /^\//);
  assert.throws(() => serverSpecs({ x: mcpServer.parse({ command: ['no-such-program-gatehouse'] }) }, dir, () => {}), /"no-such-program-gatehouse" was not found on PATH/);
});

test('servers are keyed by their configured name: tools come out as <server>__<tool>, and each call reaches its own server', async () => {
  const { catalog } = session({ a: stdio('a'), b: { url: `${http.url}/mcp`, headers: { Authorization: 'Bearer upstream-key' } } });
  try {
    const tools = await catalog.listTools();
    for (const name of ['a__echo', 'b__echo', 'a__create_comment', 'b__create_comment']) assert.ok(tools.has(name), name);
    assert.equal([...tools.keys()].some((n) => n === 'echo'), false, 'no tool keeps its bare name');
    assert.equal(textOf(await catalog.callTool(tools.get('a__echo')!, { text: 'to a' }, {})), 'echo: to a');
    assert.equal(textOf(await catalog.callTool(tools.get('b__echo')!, { text: 'to b' }, {})), 'echo: to b');
    assert.deepEqual(calls('a.calls').map((c) => c.args.text), ['to a']);
    assert.deepEqual(calls('b.calls').map((c) => c.args.text), ['to b']);
    assert.ok(http.seen.every((h) => h.authorization === 'Bearer upstream-key'), 'configured headers are sent on every request');
  } finally {
    await catalog.close();
  }
});

test('legacy SSE servers are reached too', async () => {
  const { catalog } = session({ old: { url: `${http.url}/sse`, transport: 'sse' } });
  try {
    const tools = await catalog.listTools();
    assert.equal(textOf(await catalog.callTool(tools.get('old__add')!, { a: 2, b: 3 }, {})), '5');
  } finally {
    await catalog.close();
  }
});

test('a server that never answers times out with a clear error, and the session goes on', async () => {
  const { catalog } = session({ a: stdio('a') }, undefined, 400);
  try {
    const tools = await catalog.listTools();
    const err = await catalog.callTool(tools.get('a__hang')!, {}, {}).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof UpstreamError);
    assert.equal(err.rule, 'upstream.timeout');
    assert.match(err.message, /server "a" did not answer tools\/call in time \(400 ms\)/);
    assert.equal(textOf(await catalog.callTool(tools.get('a__echo')!, { text: 'still here' }, {})), 'echo: still here');
  } finally {
    await catalog.close();
  }
});

test('a stdio server that crashes mid-call gives a clear error; the next call gets a fresh process; other servers never notice', async () => {
  const { catalog } = session({ a: stdio('a'), b: { url: `${http.url}/mcp` } });
  try {
    const tools = await catalog.listTools();
    const inflight = catalog.callTool(tools.get('b__slow')!, { ms: 300 }, {});
    const err = await catalog.callTool(tools.get('a__crash')!, {}, {}).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof UpstreamError);
    assert.equal(err.rule, 'upstream.closed');
    assert.match(err.message, /server "a" exited during tools\/call/);
    assert.equal(textOf(await inflight), 'done');
    const again = await catalog.listTools();
    assert.equal(textOf(await catalog.callTool(again.get('a__echo')!, { text: 'reborn' }, {})), 'echo: reborn');
  } finally {
    await catalog.close();
  }
});

test('tools are pinned when first seen; a changed description, schema or annotation is withheld with a diff until a person accepts it', async () => {
  const store = openSqliteStore(':memory:');
  setVariant('p.state', 'v1');
  const first = session({ p: stdio('p') }, store);
  assert.ok((await first.catalog.listTools()).has('p__echo'));
  await first.catalog.close();
  assert.ok(first.events.some((e) => e.kind === 'pinned' && e.tool === 'echo'));
  const pins = await store.toolPins('p', JSON.stringify(['node', SERVER]));
  assert.equal(pins.length, 13, 'one pin per tool, keyed by the configured name and command line');

  for (const [variant, field] of [['description', 'description'], ['schema', 'inputSchema'], ['annotations', 'annotations']]) {
    setVariant('p.state', variant);
    const later = session({ p: stdio('p') }, store);
    const tools = await later.catalog.listTools();
    await later.catalog.close();
    assert.equal(tools.has('p__echo'), false, `${variant}: the changed tool is withheld`);
    assert.ok(tools.has('p__add'), `${variant}: unchanged tools stay`);
    const withheld = later.events.find((e) => e.kind === 'withheld');
    assert.ok(withheld && withheld.kind === 'withheld');
    assert.equal(withheld.check.status, 'changed');
    assert.match(withheld.check.diff, new RegExp(`^${field}:\\n  - .*\\n  \\+ `, 'm'), `${variant}: the diff names ${field}`);
  }

  // A person accepts the last change: it becomes the pin, and the tool is back.
  const pending = session({ p: stdio('p') }, store);
  await pending.catalog.listTools();
  const withheld = pending.events.find((e) => e.kind === 'withheld');
  assert.ok(withheld && withheld.kind === 'withheld');
  await acceptPin(store, withheld.server, withheld.check);
  pending.catalog.forget('p');
  assert.ok((await pending.catalog.listTools()).has('p__echo'));
  await pending.catalog.close();
  setVariant('p.state', 'v1');
});

test('pins belong to the configured name and source, never to the name a server reports about itself', async () => {
  const store = openSqliteStore(':memory:');
  setVariant('q.state', 'v1');
  // The server calls itself "github"; that changes nothing about which pins it is judged against.
  const one = session({ q: stdio('q', { SERVER_NAME: 'github' }) }, store);
  await one.catalog.listTools();
  await one.catalog.close();
  assert.equal((await store.toolPins('q', JSON.stringify(['node', SERVER]))).length, 13);
  assert.equal((await store.toolPins('github', JSON.stringify(['node', SERVER]))).length, 0);
  // The same program under another configured name, or another command line, starts its own pins.
  setVariant('q.state', 'description');
  const renamed = session({ r: stdio('q') }, store);
  assert.ok((await renamed.catalog.listTools()).has('r__echo'), 'a new name is a new server: first sighting');
  await renamed.catalog.close();
  setVariant('q.state', 'v1');
});

test('hidden instructions in a description: the tool is withheld from its first sighting; look-alike names are withheld too', async () => {
  const store = openSqliteStore(':memory:');
  setVariant('z.state', 'poisoned');
  const s = session({ z: stdio('z') }, store);
  const tools = await s.catalog.listTools();
  assert.equal(tools.has('z__weather'), false);
  const flagged = s.events.find((e) => e.kind === 'withheld');
  assert.ok(flagged && flagged.kind === 'withheld' && flagged.check.status === 'suspicious');
  assert.ok(flagged.check.injection.includes('ignore-previous-instructions'));
  assert.equal((await store.toolPins('z', JSON.stringify(['node', SERVER]))).some((p) => p.tool === 'weather'), false, 'nothing is pinned for it');
  await s.catalog.close();

  setVariant('z.state', 'lookalike');
  const l = session({ z: stdio('z') }, store);
  const names = [...(await l.catalog.listTools()).keys()];
  assert.equal(names.some((n) => n.includes('lete_file')), false);
  assert.ok(l.events.some((e) => e.kind === 'invalid-name' && e.tool === 'd\u0435lete_file'));
  await l.catalog.close();
  setVariant('z.state', 'v1');
});

test('a resource URI listed by two servers is withheld from both; reads route by listing or template', async () => {
  const { catalog, events } = session({ a: stdio('a'), b: { url: `${http.url}/mcp` } });
  try {
    const resources = await catalog.listResources();
    assert.ok(resources.has('docs://a/readme') && resources.has('docs://b/readme'));
    assert.equal(resources.has('shared://notes'), false, 'neither server may shadow the other');
    assert.ok(events.some((e) => e.kind === 'shadowed' && e.uri === 'shared://notes'));
    assert.equal((await catalog.resourceServer('docs://b/readme'))?.spec.name, 'b');
    assert.equal((await catalog.resourceServer('docs://a/pages/intro'))?.spec.name, 'a', 'a template match');
    assert.equal(await catalog.resourceServer('shared://notes'), undefined);
    const read = await catalog.readResource((await catalog.resourceServer('docs://b/readme'))!, 'docs://b/readme');
    assert.equal((read.contents[0] as { text: string }).text, 'contents of docs://b/readme from b');
  } finally {
    await catalog.close();
  }
});

test('an unreachable server is reported and left out; the others are still listed', async () => {
  const { catalog, events } = session({ a: stdio('a'), gone: { url: 'http://127.0.0.1:9/mcp' } });
  try {
    const tools = await catalog.listTools();
    assert.ok(tools.has('a__echo'));
    assert.equal([...tools.keys()].some((n) => n.startsWith('gone__')), false);
    assert.ok(events.some((e) => e.kind === 'unavailable' && e.server.name === 'gone' && /server "gone" is unavailable/.test(e.error)));
  } finally {
    await catalog.close();
  }
});
