// The filesystem policy and path checks as pure functions: a table per rule, no disk, no gateway.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { filesystemGrant } from '../src/config/schema.ts';
import { checkPath } from '../src/adapters/filesystem/paths.ts';
import { compileFsGrant, decideFsCall, granted, visible, type FsCallFacts, type PathUse } from '../src/adapters/filesystem/policy.ts';
import { NEEDS, type ToolName } from '../src/adapters/filesystem/tools.ts';

const grant = compileFsGrant(filesystemGrant.parse({
  read: ['docs/**', 'data/*.csv'],
  write: ['out/**'],
  delete: ['out/tmp/**'],
  deny: ['**/.env', '**/*.pem', '**/.git/**'],
  max_file_size: '1KB',
  approve: ['write out/reports/**', 'delete out/tmp/keep/**'],
}));

const facts = (tool: ToolName, uses: PathUse[], extra: Partial<FsCallFacts> = {}): FsCallFacts =>
  ({ protocol: 'mcp', connection: 'ws', effect: 'read', summary: tool, targets: [], tool, known: true, uses, ...extra });
const use = (access: PathUse['access'], path: string, real = path): PathUse => ({ access, path, real });
const verdict = (tool: ToolName, uses: PathUse[], extra: Partial<FsCallFacts> = {}) => decideFsCall(facts(tool, uses, extra), grant, NEEDS[tool]);
const rule = (v: ReturnType<typeof verdict>) => (v.kind === 'deny' ? v.rule : v.kind);

test('paths as text: one spelling under the root, or a reason', () => {
  const ok: [string, string][] = [['docs/a.md', 'docs/a.md'], ['./docs//a.md/', 'docs/a.md'], ['', ''], ['.', ''], ['café.md', 'café.md'], ['%2e%2e', '%2e%2e'], ['a..b', 'a..b']];
  for (const [input, path] of ok) assert.deepEqual(checkPath(input), { ok: true, path, segments: path ? path.split('/') : [] }, input);
  const bad = ['/etc/passwd', '../x', 'docs/../../x', '~/x', '~', 'a\u0000b', 'a\\b', 'a\u200bb', 'a\u202eb', 'cafe\u0301.md', 'x'.repeat(256), 42, null];
  for (const input of bad) assert.equal(checkPath(input).ok, false, JSON.stringify(input));
});

test('globs: docs/** covers docs itself; * stays in its segment; case and width count for grants, not for deny', () => {
  assert.equal(granted(grant, 'list', 'docs'), 'docs/**');
  assert.equal(granted(grant, 'read', 'docs/a/b/c.md'), 'docs/**');
  assert.equal(granted(grant, 'read', 'data/a.csv'), 'data/*.csv');
  assert.equal(granted(grant, 'read', 'data/x/a.csv'), undefined);
  assert.equal(granted(grant, 'read', 'DOCS/a.md'), undefined);
  assert.equal(granted(grant, 'list', ''), undefined, 'the root is covered by no grant here');
  assert.equal(granted(grant, 'list', 'out/x'), 'out/**', 'write lets a directory be listed');
  for (const denied of ['docs/.env', 'docs/.ENV', 'docs/\uff0eenv', 'docs/k.PEM', 'docs/.git', 'docs/.git/config', 'docs/.GIT/HEAD']) assert.equal(visible(grant, denied), false, denied);
  assert.equal(visible(grant, 'docs/env'), true);
});

test('verdicts: deny wins, names before disk, links judged where they lead, sizes, approvals', () => {
  const rows: [string, ReturnType<typeof verdict>, string][] = [
    ['a granted read', verdict('read_file', [use('read', 'docs/a.md')]), 'allow'],
    ['deny over read', verdict('read_file', [use('read', 'docs/.env')]), 'fs.deny'],
    ['no grant', verdict('read_file', [use('read', 'private/a.md')]), 'fs.read'],
    ['a link into a denied file', verdict('read_file', [use('read', 'docs/link', '.env')]), 'fs.deny'],
    ['a link into an ungranted file', verdict('read_file', [use('read', 'docs/link', 'private/a.md')]), 'fs.read'],
    ['a text problem first', verdict('read_file', [], { problem: { stage: 'text', rule: 'fs.path', message: '..' } }), 'fs.path'],
    ['names before disk: an ungranted name hides its escape', verdict('read_file', [use('read', 'private/x')], { problem: { stage: 'disk', rule: 'fs.escape', message: 'out' } }), 'fs.read'],
    ['disk problems after names', verdict('read_file', [use('read', 'docs/x')], { problem: { stage: 'disk', rule: 'fs.escape', message: 'out' } }), 'fs.escape'],
    ['a write in grant', verdict('write_file', [use('write', 'out/a.md')], { writing: 10 }), 'allow'],
    ['a write over max_file_size', verdict('write_file', [use('write', 'out/a.md')], { writing: 2048 }), 'fs.max_file_size'],
    ['a write the grant sends to a person', verdict('write_file', [use('write', 'out/reports/q.md')], { writing: 1 }), 'hold'],
    ['a move needs delete at the source', verdict('move_file', [use('delete', 'out/a.md'), use('write', 'out/tmp/a.md')]), 'fs.delete'],
    ['a move needs write at the target', verdict('move_file', [use('delete', 'out/tmp/a.md'), use('write', 'docs/a.md')]), 'fs.write'],
    ['a move within grants', verdict('move_file', [use('delete', 'out/tmp/a.md'), use('write', 'out/a.md')]), 'allow'],
    ['a delete the grant sends to a person', verdict('delete_file', [use('delete', 'out/tmp/keep/a')]), 'hold'],
    ['an unknown tool', decideFsCall(facts('read_file', [], { known: false, tool: 'rm_rf' }), grant, undefined), 'fs.tool.unknown'],
  ];
  for (const [name, v, expected] of rows) assert.equal(rule(v), expected, name);
  const none = compileFsGrant(filesystemGrant.parse({ read: ['**'] }));
  assert.equal(rule(decideFsCall(facts('write_file', [use('write', 'a')]), none, NEEDS.write_file)), 'fs.tool.ungranted', 'a tool the grant has no use for is hidden');
});

test('grants that cannot mean a path under the root stop the start', () => {
  for (const glob of ['/etc/**', '../**', '~/x', 'a\\b', 'a/**b']) assert.throws(() => compileFsGrant(filesystemGrant.parse({ read: [glob] })), new RegExp(`read\\.0|\\*\\* must be a whole segment`), glob);
  assert.throws(() => compileFsGrant(filesystemGrant.parse({ approve: ['rename out/**'] })), /"rename" is not one of read, write, delete/);
  assert.equal(filesystemGrant.parse({ max_file_size: '5MB' }).max_file_size, 5 * 1024 * 1024);
  assert.equal(filesystemGrant.parse({ max_file_size: '512 KB' }).max_file_size, 512 * 1024);
  assert.equal(filesystemGrant.safeParse({ max_file_size: '5GB' }).success, false);
});
