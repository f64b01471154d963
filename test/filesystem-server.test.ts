// The served directory end to end through a real MCP SDK client: every tool, grants and what they hide, sizes,
// atomic writes, approvals, guards on what is read, the audit naming the paths touched, start-up checks.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { renderReplay } from '../src/cli/sessions.ts';
import { lintConfig } from '../src/config/lint.ts';
import { parseConfig } from '../src/config/load.ts';
import { explainFs } from '../src/adapters/filesystem/policy.ts';
import { startGateway } from '../src/main.ts';
import { verifyAudit } from '../src/services/audit/log.ts';
import { auditRecords, gateway, waitFor } from './helpers/gateway.ts';
import { silent } from './support/log.ts';
import { AWS_KEY, fsAgent, makeWorkspace, type FsAgent, type Workspace } from './support/workspace.ts';

const APPROVER = { name: 'bob', key: 'b'.repeat(16), roles: ['approver' as const] };
const WRITER = `
      read: ["docs/**", "data/*.csv", "out/**"]
      write: ["out/**"]
      delete: ["out/**"]
      deny: ["**/.env", "**/*.pem", "**/.git/**"]
      max_file_size: 2KB
      approve: ["write out/reports/**"]
      guards: { secrets: redact, injection: flag }`;

let ws: Workspace;
let gw: Awaited<ReturnType<typeof gateway>>;
let writer: FsAgent;
let reader: FsAgent;

before(async () => {
  ws = makeWorkspace();
  gw = await gateway(`
approvals: { timeout: 3s }
connections:
  ws:
    kind: filesystem
    root: ${JSON.stringify(ws.root)}
    listen: 127.0.0.1:0
    approval_wait_ms: 5000
roles:
  writer:
    ws:${WRITER}
  reader:
    ws:
      read: ["**"]
      deny: ["**/.env", "private/**"]
`);
  writer = await fsAgent(gw.url('ws'), (await gw.mint('writer', 'writer')).token);
  reader = await fsAgent(gw.url('ws'), (await gw.mint('reader', 'reader')).token);
});

after(async () => {
  await writer?.close();
  await reader?.close();
  await gw?.close();
  rmSync(ws.base, { recursive: true, force: true });
});

test('tools are listed as the grant makes sense of them; an ungranted tool is an unknown tool', async () => {
  const all = (await writer.client.listTools()).tools.map((t) => t.name).sort();
  assert.deepEqual(all, ['create_directory', 'delete_file', 'edit_file', 'get_file_info', 'list_allowed_directories', 'list_directory', 'move_file', 'read_file', 'search_files', 'write_file']);
  const readOnly = (await reader.client.listTools()).tools.map((t) => t.name).sort();
  assert.deepEqual(readOnly, ['get_file_info', 'list_allowed_directories', 'list_directory', 'read_file', 'search_files']);
  await assert.rejects(reader.call('write_file', { path: 'out/x', content: 'x' }), (err: unknown) => err instanceof McpError && /unknown tool: write_file/.test(err.message));
  await assert.rejects(writer.call('format_disk', {}), (err: unknown) => err instanceof McpError && /unknown tool: format_disk/.test(err.message));
  assert.match(await writer.ok('list_allowed_directories', {}), /read: docs\/\*\*, data\/\*\.csv, out\/\*\*\nwrite: out\/\*\*/);
});

test('read_file reads whole files or their first and last lines', async () => {
  assert.equal(await writer.ok('read_file', { path: 'docs/guide.md' }), '# Guide\nline two\nline three\nline four\n');
  assert.equal(await writer.ok('read_file', { path: './docs//guide.md' }), '# Guide\nline two\nline three\nline four\n');
  assert.equal(await writer.ok('read_file', { path: 'docs/guide.md', head: 2 }), '# Guide\nline two');
  assert.equal(await writer.ok('read_file', { path: 'docs/guide.md', tail: 2 }), 'line four\n');
  assert.equal(await writer.ok('read_file', { path: 'data/a.csv' }), 'id,name\n1,needle\n');
  assert.match(await writer.refused('read_file', { path: 'data/b.txt' }), /^Gatehouse \[fs\.read\]: "data\/b\.txt": no read grant covers it/);
  assert.match(await writer.refused('read_file', { path: 'docs/missing.md' }), /\[fs\.not_found\]/);
  assert.match(await writer.refused('read_file', { path: 'docs' }), /\[fs\.is_directory\]/);
  assert.match(await writer.refused('read_file', { path: 'docs/guide.md', head: 1, tail: 1 }), /\[fs\.args\]/);
  assert.match(await writer.refused('read_file', { path: 42 }), /\[fs\.args\]/);
});

test('listing: a directory a grant covers (docs/** covers docs), denied and ungranted names hidden; the root only if granted', async () => {
  assert.equal(await writer.ok('list_directory', { path: 'docs' }), '[FILE] guide.md\n[FILE] keys.md\n[FILE] release.md\n[DIR] sub');
  assert.match(await writer.refused('list_directory', { path: '.' }), /\[fs\.read\]: "\. \(the root\)": no read or write grant covers it/);
  const root = await reader.ok('list_directory', { path: '' });
  assert.equal(root, '[DIR] data\n[DIR] docs\n[DIR] out');
  const info = await writer.ok('get_file_info', { path: 'docs/guide.md' });
  assert.match(info, /^path: docs\/guide\.md\ntype: file\nsize: 38\n/m);
  assert.match(info, /permissions: 6\d\d/);
});

test('search_files by name and by content, never showing what the grant hides', async () => {
  assert.equal(await writer.ok('search_files', { path: 'docs', pattern: '*.md' }), 'docs/guide.md\ndocs/keys.md\ndocs/release.md\ndocs/sub/deep.md');
  assert.equal(await writer.ok('search_files', { path: 'docs', pattern: '*', content: 'needle' }), 'docs/sub/deep.md:1: deep text with needle inside');
  assert.equal(await writer.ok('search_files', { path: 'docs', pattern: '*.md', excludePatterns: ['sub'] }), 'docs/guide.md\ndocs/keys.md\ndocs/release.md');
  const everything = await reader.ok('search_files', { path: '.', pattern: '*' });
  assert.doesNotMatch(everything, /\.env|private/);
  assert.match(everything, /docs\/\.git\/config/, 'the reader role does not deny .git');
  assert.equal(await reader.ok('search_files', { path: '.', pattern: '**/*.csv' }), 'data/a.csv');
});

test('writes are atomic, keep the file mode, and stay inside the write grant', async () => {
  assert.match(await writer.ok('write_file', { path: 'out/note.txt', content: 'first' }), /Wrote 5 bytes to out\/note\.txt/);
  chmodSync(ws.at('out/note.txt'), 0o600);
  await writer.ok('write_file', { path: 'out/note.txt', content: 'second' });
  assert.equal(readFileSync(ws.at('out/note.txt'), 'utf8'), 'second');
  assert.equal(statSync(ws.at('out/note.txt')).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(ws.at('out')).filter((n) => n.includes('gatehouse')), [], 'no temporary file is left behind');
  assert.match(await writer.refused('write_file', { path: 'docs/new.md', content: 'x' }), /\[fs\.write\]: "docs\/new\.md": no write grant covers it/);
  assert.match(await writer.refused('write_file', { path: 'out/nodir/x.txt', content: 'x' }), /\[fs\.not_found\].*create_directory first/);
  assert.equal(existsSync(ws.at('docs/new.md')), false);
});

test('create_directory, edit_file by exact replacement, move_file (delete + write), delete_file', async () => {
  assert.match(await writer.ok('create_directory', { path: 'out/a/b' }), /Created directory out\/a\/b/);
  assert.match(await writer.ok('create_directory', { path: 'out/a/b' }), /already exists/);
  assert.ok(statSync(ws.at('out/a/b')).isDirectory());
  await writer.ok('write_file', { path: 'out/a/b/doc.md', content: 'alpha beta\ngamma beta\n' });
  assert.match(await writer.refused('edit_file', { path: 'out/a/b/doc.md', edits: [{ oldText: 'beta', newText: 'x' }] }), /\[fs\.edit\].*more than once/);
  assert.match(await writer.refused('edit_file', { path: 'out/a/b/doc.md', edits: [{ oldText: 'delta', newText: 'x' }] }), /\[fs\.edit\].*not found/);
  const dry = await writer.ok('edit_file', { path: 'out/a/b/doc.md', edits: [{ oldText: 'alpha beta', newText: 'ALPHA' }], dryRun: true });
  assert.match(dry, /Dry run[\s\S]*-alpha beta\n\+ALPHA/);
  assert.equal(readFileSync(ws.at('out/a/b/doc.md'), 'utf8'), 'alpha beta\ngamma beta\n');
  await writer.ok('edit_file', { path: 'out/a/b/doc.md', edits: [{ oldText: 'alpha beta', newText: 'ALPHA' }, { oldText: 'gamma', newText: 'GAMMA' }] });
  assert.equal(readFileSync(ws.at('out/a/b/doc.md'), 'utf8'), 'ALPHA\nGAMMA beta\n');

  assert.match(await writer.ok('move_file', { source: 'out/a/b/doc.md', destination: 'out/moved.md' }), /Moved out\/a\/b\/doc\.md to out\/moved\.md/);
  assert.equal(readFileSync(ws.at('out/moved.md'), 'utf8'), 'ALPHA\nGAMMA beta\n');
  await writer.ok('write_file', { path: 'out/other.md', content: 'o' });
  assert.match(await writer.refused('move_file', { source: 'out/moved.md', destination: 'out/other.md' }), /\[fs\.exists\]/);
  assert.match(await writer.refused('move_file', { source: 'docs/guide.md', destination: 'out/guide.md' }), /\[fs\.delete\]: "docs\/guide\.md": no delete grant covers it/);
  assert.match(await writer.refused('move_file', { source: 'out/moved.md', destination: 'docs/moved.md' }), /\[fs\.write\]/);
  assert.match(await writer.ok('move_file', { source: 'out/a', destination: 'out/a2' }), /Moved out\/a to out\/a2/);
  assert.ok(statSync(ws.at('out/a2/b')).isDirectory());

  assert.match(await writer.ok('delete_file', { path: 'out/moved.md' }), /Deleted out\/moved\.md/);
  assert.equal(existsSync(ws.at('out/moved.md')), false);
  assert.match(await writer.refused('delete_file', { path: 'docs/guide.md' }), /\[fs\.delete\]/);
  assert.match(await writer.refused('delete_file', { path: 'out/a2' }), /\[fs\.is_directory\]/);
  assert.ok(existsSync(ws.at('docs/guide.md')));
});

test('max_file_size caps reads and writes', async () => {
  assert.match(await writer.refused('write_file', { path: 'out/big.txt', content: 'x'.repeat(3000) }), /\[fs\.max_file_size\]: the content is 3000 bytes, over the grant's max_file_size of 2048/);
  writeFileSync(ws.at('docs/big.md'), 'y'.repeat(4096));
  assert.match(await writer.refused('read_file', { path: 'docs/big.md' }), /\[fs\.max_file_size\]: "docs\/big\.md" is 4096 bytes/);
  rmSync(ws.at('docs/big.md'));
});

test('a write the grant sends to a human waits; approved it lands once, denied it never does', async () => {
  const approved = writer.call('write_file', { path: 'out/reports/q3.md', content: 'Q3 numbers' });
  const pending = await waitFor(async () => (await gw.services.approvals.list('pending'))[0]);
  assert.match(pending.summary, /write_file out\/reports\/q3\.md/);
  assert.equal(existsSync(ws.at('out/reports/q3.md')), false, 'held, not written');
  await gw.services.approvals.decide(pending.id, APPROVER, 'approve', 'ok');
  assert.equal((await approved).isError, undefined);
  assert.equal(readFileSync(ws.at('out/reports/q3.md'), 'utf8'), 'Q3 numbers');

  const denied = writer.call('write_file', { path: 'out/reports/q4.md', content: 'Q4' });
  await gw.services.approvals.decide((await waitFor(async () => (await gw.services.approvals.list('pending'))[0])).id, APPROVER, 'deny', 'not yet');
  const d = await denied;
  assert.equal(d.isError, true);
  assert.equal(existsSync(ws.at('out/reports/q4.md')), false);
});

test('what is read passes the guards: secrets redacted, injections flagged in the audit with file and line', async () => {
  const keys = await writer.ok('read_file', { path: 'docs/keys.md' });
  assert.doesNotMatch(keys, new RegExp(AWS_KEY));
  assert.match(keys, /deploy with .*REDACTED.* today/i);
  const release = await writer.ok('read_file', { path: 'docs/release.md' });
  assert.match(release, /ignore all previous instructions/, 'flag mode shows the text and records it');
  const record = await waitFor(async () => (await auditRecords(gw)).find((r) => r.kind === 'result' && Array.isArray(r.data.injection)));
  assert.deepEqual((record.data.injection as { path: string; lines: { line: number }[] }[])[0].path, 'docs/release.md');
  assert.deepEqual((record.data.injection as { lines: { line: number }[] }[])[0].lines.map((l) => l.line), [2]);
});

test('every call is audited with the paths actually touched; replay shows them; the chain verifies', async () => {
  await writer.ok('read_file', { path: 'docs/guide.md' });
  const requests = (await auditRecords(gw)).filter((r) => r.kind === 'request' && r.data.tool === 'read_file');
  const last = requests.at(-1)!;
  assert.equal(last.verdict, 'allow');
  assert.deepEqual(last.data.targets, [{ kind: 'path', name: 'docs/guide.md', access: 'read' }]);
  const refused = requests.find((r) => r.verdict === 'deny' && r.data.rule === 'fs.read');
  assert.ok(refused, 'refusals are audited too');
  const session = (await gw.services.store.sessionById(last.sessionId!))!;
  const replay = renderReplay(session, (await auditRecords(gw)).filter((r) => r.sessionId === session.id));
  assert.match(replay, /ALLOW  read_file docs\/guide\.md/);
  assert.match(replay, /DENY   read_file data\/b\.txt/);
  assert.equal((await verifyAudit(gw.services.store)).ok, true);
});

test('policy explain judges a call offline; lint and start-up name the bad key', async () => {
  const grant = parseConfig(`
connections: { ws: { kind: filesystem, root: ".", listen: "127.0.0.1:0" } }
roles: { writer: { ws: {${WRITER.replace(/\n\s+/g, ' ').replace(/(\]|\}|KB) (\w)/g, '$1, $2').trim()}} } }`, 'explain').roles.writer.ws as never;
  assert.equal(explainFs(grant, 'writer', 'ws', 'read_file', '{"path":"docs/a.md"}').kind, 'allow');
  assert.equal(explainFs(grant, 'writer', 'ws', 'read_file', '{"path":"docs/.env"}').kind, 'deny');
  assert.equal(explainFs(grant, 'writer', 'ws', 'write_file', '{"path":"out/reports/x.md","content":"x"}').kind, 'hold');
  assert.equal(explainFs(grant, 'writer', 'ws', 'move_file', '{"source":"docs/a.md","destination":"out/a.md"}').kind, 'deny');

  const lint = lintConfig(parseConfig(`
connections: { ws: { kind: filesystem, root: ".", listen: "127.0.0.1:0" } }
roles: { r: { ws: { read: ["/etc/**"], approve: ["delete out/**"] } } }`, 'lint'));
  assert.ok(lint.some((f) => f.severity === 'error' && f.path === 'roles.r.ws.read.0'));
  assert.ok(lint.some((f) => f.path === 'roles.r.ws.deny'));
  assert.ok(lint.some((f) => f.path === 'roles.r.ws.approve.0'));

  const start = (yaml: string) => startGateway(parseConfig(`admin: { listen: "127.0.0.1:0" }\nstore: "sqlite::memory:"\n${yaml}`, 'start'), { log: silent });
  await assert.rejects(start(`connections: { ws: { kind: filesystem, root: ${JSON.stringify(join(ws.base, 'nope'))}, listen: "127.0.0.1:0" } }`), /connections\.ws\.root .*no such directory/);
  await assert.rejects(start(`connections: { ws: { kind: filesystem, root: ${JSON.stringify(ws.root)}, listen: "127.0.0.1:0" } }\nroles: { r: { ws: { read: ["../**"] } } }`), /roles\.r\.ws: read\.0 "\.\.\/\*\*"/);
  assert.throws(() => parseConfig(`connections: { ws: { kind: filesystem, root: ".", listen: "127.0.0.1:0" } }\nroles: { r: { ws: { max_file_size: 5GB } } }`, 'size'), /max_file_size/);
});
