// MCP policy and the shared constraint language: grants, namespacing, list filtering, and the argument-constraint bypass table.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ambiguousUri, compileMcpGrant, decideToolCall, explainMcp, mayCall, mayListTemplate, promptRule, resourceRule, type ToolCallFacts } from '../src/adapters/mcp/policy.ts';
import { canonicalJson } from '../src/adapters/kit/mcp/canonical.ts';
import { mcpConnection, mcpGrant } from '../src/config/schema.ts';
import { compileCheck, pathGlob, unnormalisedPath } from '../src/services/policy/constraints.ts';

const SERVERS = ['github', 'search', 'a', 'b'];
const grantOf = (g: unknown) => compileMcpGrant(mcpGrant.parse(g), SERVERS);
const call = (tool: string, args: unknown, known = true): ToolCallFacts =>
  ({ protocol: 'mcp', connection: 'tools', effect: 'call', summary: tool, targets: [], tool, args: args as Record<string, unknown>, known });

const researcher = grantOf({
  call: ['search__*', 'github__get_issue', { tool: 'github__create_comment', args: { '$.repo': { in: ['acme/docs'] }, '$.body': { max_length: 20 } } }],
  approve: ['github__create_comment'],
  resources: ['docs://acme/**', 'docs://other/*/readme'],
  prompts: ['search__summarize'],
});

test('unknown and ungranted tools are refused alike; granted ones pass, held ones wait', () => {
  const unknown = decideToolCall(call('github__delete_repo', {}, false), researcher);
  const ungranted = decideToolCall(call('github__delete_repo', {}), researcher);
  assert.deepEqual([unknown.kind, ungranted.kind], ['deny', 'deny']);
  assert.equal((unknown as { rule: string }).rule, 'mcp.tool.unknown');
  assert.equal((ungranted as { rule: string }).rule, 'mcp.tool.ungranted');
  assert.equal(decideToolCall(call('search__query', { q: 'x' }), researcher).kind, 'allow');
  assert.equal(decideToolCall(call('github__get_issue', { n: 1 }), researcher).kind, 'allow');
  const held = decideToolCall(call('github__create_comment', { repo: 'acme/docs', body: 'thanks' }), researcher);
  assert.equal(held.kind, 'hold');
  assert.match((held as { reason: string }).reason, /approve rule "github__create_comment"/);
});

test('argument constraints hold on the parsed arguments: every type confusion is refused, the exact value passes (bypass table)', () => {
  const refused: [string, unknown][] = [
    ['another repo', { repo: 'evil/x', body: 'hi' }],
    ['case variant', { repo: 'ACME/docs', body: 'hi' }],
    ['trailing space', { repo: 'acme/docs ', body: 'hi' }],
    ['array holding the value', { repo: ['acme/docs'], body: 'hi' }],
    ['array of values', { repo: ['acme/docs', 'evil/x'], body: 'hi' }],
    ['object holding the value', { repo: { 0: 'acme/docs' }, body: 'hi' }],
    ['number', { repo: 1, body: 'hi' }],
    ['null', { repo: null, body: 'hi' }],
    ['missing', { body: 'hi' }],
    ['__proto__ smuggling', JSON.parse('{"__proto__": {"repo": "acme/docs"}, "body": "hi"}')],
    ['duplicate key, last one wins and is judged', JSON.parse('{"repo": "acme/docs", "repo": "evil/x", "body": "hi"}')],
    ['body too long', { repo: 'acme/docs', body: 'x'.repeat(21) }],
    ['body as an array of short strings', { repo: 'acme/docs', body: ['short', 'short'] }],
    ['body as an object', { repo: 'acme/docs', body: { text: 'short' } }],
    ['body as a number', { repo: 'acme/docs', body: 12 }],
    ['astral characters count double', { repo: 'acme/docs', body: '😀'.repeat(11) }],
  ];
  for (const [why, args] of refused) {
    const v = decideToolCall(call('github__create_comment', args), researcher);
    assert.equal(v.kind, 'deny', why);
    assert.equal((v as { rule: string }).rule, 'mcp.args', why);
  }
  // The must-allow twins.
  for (const args of [{ repo: 'acme/docs', body: 'x'.repeat(20) }, JSON.parse('{"repo": "evil/x", "repo": "acme/docs", "body": ""}'), { repo: 'acme/docs', body: 'hi', extra: 1 }]) {
    assert.equal(decideToolCall(call('github__create_comment', args), researcher).kind, 'hold', JSON.stringify(args));
  }
  const msg = (decideToolCall(call('github__create_comment', { repo: 'evil/x', body: 'hi' }), researcher) as { message: string }).message;
  assert.match(msg, /"github__create_comment" requires argument \$\.repo that must be one of "acme\/docs"/);
});

test('approve: entries read as the shared grammar: a tool glob, or "call <tool glob>"; other verbs stop the start', () => {
  const g = grantOf({ call: ['a__*', 'github.create_comment'], approve: ['call a__del*', 'github.create_comment'] });
  assert.equal(decideToolCall(call('a__delete_file', {}), g).kind, 'hold');
  assert.equal(decideToolCall(call('a__echo', {}), g).kind, 'allow');
  assert.equal(decideToolCall(call('github__create_comment', {}), g).kind, 'hold');
  assert.throws(() => grantOf({ approve: ['write a__x'] }), /"write" is not one of call/);
});

test('one rule without constraints is enough; several constrained rules are tried in turn', () => {
  const g = grantOf({ call: [{ tool: 'a__add', args: { '$.a': { max: 10 } } }, { tool: 'a__add', args: { '$.a': { min: 100 } } }] });
  assert.equal(decideToolCall(call('a__add', { a: 5 }), g).kind, 'allow');
  assert.equal(decideToolCall(call('a__add', { a: 500 }), g).kind, 'allow');
  assert.equal(decideToolCall(call('a__add', { a: 50 }), g).kind, 'deny');
  assert.equal(decideToolCall(call('a__add', { a: '5' }), g).kind, 'deny', 'a numeric string is not a number');
  assert.equal(decideToolCall(call('a__add', { a: JSON.parse('1e400') }), g).kind, 'deny', 'Infinity is not a finite number');
  const open = grantOf({ call: ['a__add', { tool: 'a__add', args: { '$.a': { max: 10 } } }] });
  assert.equal(decideToolCall(call('a__add', { a: 50 }), open).kind, 'allow');
});

test('path globs in argument constraints match plain paths only (bypass table)', () => {
  const g = grantOf({ call: [{ tool: 'a__read_file', args: { '$.path': { glob: 'docs/**' } } }] });
  for (const path of ['docs', 'docs/a.md', 'docs/x/y/z.txt']) assert.equal(decideToolCall(call('a__read_file', { path }), g).kind, 'allow', path);
  for (const path of ['docs/../.env', 'docs/./a', './docs/a', 'docs//a', 'docs/', '/docs/a', 'docs\\..\\.env', 'docs/\u0000', 'docsx/a', 'doc', '', 'docs/a\nb', ['docs/a']]) {
    assert.equal(decideToolCall(call('a__read_file', { path }), g).kind, 'deny', JSON.stringify(path));
  }
  const re = (glob: string) => pathGlob(glob);
  assert.ok(re('**/*.md').test('a.md') && re('**/*.md').test('x/y/a.md') && !re('**/*.md').test('a.txt'));
  assert.ok(re('/data/*.csv').test('/data/q1.csv') && !re('/data/*.csv').test('/data/x/q1.csv') && !re('/data/*.csv').test('data/q1.csv'));
  assert.ok(re('out/**/report.txt').test('out/report.txt') && re('out/**/report.txt').test('out/a/b/report.txt'));
  assert.throws(() => pathGlob('docs/../**'), /not a plain path/);
  assert.throws(() => pathGlob('docs/a**'), /whole segment/);
  assert.equal(unnormalisedPath('a/b'), undefined);
});

test('the shared constraint language: in, max_length, pattern, literal lists; text mode for query strings', () => {
  const json = (c: unknown, v: unknown) => compileCheck(c as never, 'json')(v);
  const text = (c: unknown, v: unknown) => compileCheck(c as never, 'text')(v);
  assert.equal(json({ in: ['a', 1] }, 1), undefined);
  assert.match(json({ in: ['a', 1] }, '1')!, /must be one of "a", 1/);
  assert.equal(text({ in: ['a', 1] }, '1'), undefined, 'query values are strings');
  assert.equal(json({ max_length: 3 }, 'abc'), undefined);
  assert.match(json({ max_length: 3 }, 'abcd')!, /at most 3 characters/);
  assert.match(json({ max_length: 3 }, ['a'])!, /must be a string/);
  assert.match(json({ pattern: '[a-z]+', max_length: 2 }, 'abc')!, /at most 2/, 'every key given must hold');
  assert.match(json({ in: ['ab', 'abc'], pattern: 'a.' }, 'abc')!, /must match/);
  assert.match(json('*', { a: 1 })!, /must be a value/);
  assert.match(json(['x', 'y'], 'z')!, /one of "x", "y"/);
});

test('grants may spell <server>.<tool>; globs never cross from one server to another', () => {
  const g = grantOf({ call: ['github.create_comment', 'search.*', 'a__echo'] });
  assert.ok(mayCall(g, 'github__create_comment'));
  assert.ok(mayCall(g, 'search__anything'));
  assert.ok(mayCall(g, 'a__echo'));
  assert.equal(mayCall(g, 'b__echo'), false, 'b cannot shadow a: its echo is another tool');
  assert.equal(mayCall(g, 'github__create_commentx'), false);
  assert.equal(mayCall(grantOf({ call: ['unknownserver.tool'] }), 'unknownserver__tool'), false, 'a dot stays a dot unless it follows a configured server');
});

test('resources and prompts are filtered by their own globs; ambiguous URIs never match', () => {
  assert.equal(resourceRule(researcher, 'docs://acme/readme'), 'docs://acme/**');
  assert.ok(resourceRule(researcher, 'docs://acme/a/b/c'));
  assert.equal(resourceRule(researcher, 'docs://other/x/readme'), 'docs://other/*/readme');
  for (const uri of ['docs://acme/../secrets', 'docs://acme/%2e%2e/secrets', 'docs://acme%2f..%2fsecrets', 'docs://acmex/readme', 'docs://other/x/y/readme', 'docs://acme\\..\\x', 'file:///etc/passwd']) {
    assert.equal(resourceRule(researcher, uri), undefined, uri);
  }
  assert.match(ambiguousUri('docs://acme/./x')!, /segments/);
  assert.ok(promptRule(researcher, 'search__summarize'));
  assert.equal(promptRule(researcher, 'search__admin_only'), undefined);
  assert.ok(mayListTemplate(researcher, 'docs://acme/pages/{page}'));
  assert.ok(mayListTemplate(researcher, 'docs://{org}/x'), 'a template that could produce granted URIs is listed; reads are judged one by one');
  assert.equal(mayListTemplate(researcher, 'mail://{box}'), false);
  assert.throws(() => grantOf({ resources: ['docs://acme/../**'] }), /resource glob/);
});

test('the configuration: server names cannot hold "__", a server is a url or a command, grants default to nothing', () => {
  const base = { kind: 'mcp', listen: '127.0.0.1:0' };
  for (const name of ['a__b', 'a_', '_a', 'A', 'a.b', 'a___b']) {
    assert.equal(mcpConnection.safeParse({ ...base, servers: { [name]: { url: 'http://127.0.0.1:1/mcp' } } }).success, false, name);
  }
  assert.equal(mcpConnection.safeParse({ ...base, servers: {} }).success, false, 'at least one server');
  assert.equal(mcpConnection.safeParse({ ...base, servers: { x: { url: 'http://127.0.0.1:1/mcp', command: ['node'] } } }).success, false);
  const ok = mcpConnection.parse({ ...base, servers: { 'my-tools': { command: ['node', 'x.js'] }, gh_api: { url: 'http://127.0.0.1:1/mcp' } } });
  assert.equal(ok.approval_wait_ms < 60_000, true, 'a held call answers before the SDK client gives up (60 s)');
  const g = mcpGrant.parse({});
  assert.deepEqual([g.call, g.approve, g.resources, g.prompts, g.sampling, g.elicitation], [[], [], [], [], false, false]);
});

test('canonical JSON ignores key order and keeps everything else', () => {
  assert.equal(canonicalJson({ b: 1, a: [{ d: 2, c: null }], e: 'x' }), '{"a":[{"c":null,"d":2}],"b":1,"e":"x"}');
  assert.equal(canonicalJson({ a: undefined, b: [undefined] }), '{"b":[null]}');
  assert.notEqual(canonicalJson({ a: 1 }), canonicalJson({ a: '1' }));
});

test('policy explain: one call judged offline as the gateway would (the tool assumed to exist)', () => {
  const grant = mcpGrant.parse({ call: [{ tool: 'github__create_comment', args: { '$.repo': { in: ['acme/docs'] } } }], approve: ['github.create_comment'] });
  assert.equal(explainMcp(grant, 'r', 'tools', SERVERS, 'github__create_comment', '{"repo":"acme/docs"}').kind, 'hold');
  assert.equal((explainMcp(grant, 'r', 'tools', SERVERS, 'github__create_comment', '{"repo":"x/y"}') as { rule: string }).rule, 'mcp.args');
  assert.equal((explainMcp(grant, 'r', 'tools', SERVERS, 'github__delete_repo') as { rule: string }).rule, 'mcp.tool.ungranted');
  assert.match((explainMcp(grant, 'r', 'tools', SERVERS, 'github__create_comment', '[1]') as { message: string }).message, /JSON object/);
  assert.equal((explainMcp(undefined, 'r', 'tools', SERVERS, 'x') as { rule: string }).rule, 'grant.none');
});
