// The filesystem bypass suite: every way out of the root or past a deny that we know of, through a real MCP SDK
// client. One row per escape; it only ever grows. Races are driven through the jail's seam between check and use.
import assert from 'node:assert/strict';
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import { seams } from '../src/adapters/filesystem/jail.ts';
import { auditRecords, gateway } from './helpers/gateway.ts';
import { fsAgent, makeWorkspace, mkfifo, OUTSIDE_SECRET, type FsAgent, type Workspace } from './support/workspace.ts';

let ws: Workspace;
let gw: Awaited<ReturnType<typeof gateway>>;
let agent: FsAgent;

before(async () => {
  ws = makeWorkspace('gatehouse-fs-bypass-');
  const { at, outside, root } = ws;
  symlinkSync(join(outside, 'secret.txt'), at('docs/escape-file'));
  symlinkSync('../../outside', at('docs/escape-dir'));
  symlinkSync('/etc/passwd', at('docs/passwd'));
  symlinkSync('/proc/self/environ', at('docs/environ'));
  symlinkSync('../.env', at('docs/env-link'));
  symlinkSync('../private/plan.md', at('docs/plan-link'));
  symlinkSync('guide.md', at('docs/guide-link'));
  symlinkSync(join(root, 'docs/guide.md'), at('docs/abs-link'));
  symlinkSync('loop-b', at('docs/loop-a'));
  symlinkSync('loop-a', at('docs/loop-b'));
  linkSync(join(outside, 'secret.txt'), at('docs/hard.md'));
  mkfifo(at('docs/pipe'));
  writeFileSync(at('docs/.ENV'), 'UPPER=secret\n');
  writeFileSync(at('docs/\uff0eenv'), 'FULLWIDTH=secret\n');
  symlinkSync('../docs', at('out/linkdir'));
  symlinkSync('../../outside', at('out/away'));
  symlinkSync(join(outside, 'secret.txt'), at('out/evil.txt'));
  gw = await gateway(`
connections:
  ws:
    kind: filesystem
    root: ${JSON.stringify(root)}
    listen: 127.0.0.1:0
roles:
  writer:
    ws:
      read: ["docs/**", "data/*.csv", "out/**"]
      write: ["out/**"]
      delete: ["out/**"]
      deny: ["**/.env", "**/*.pem", "**/.git/**"]
`);
  agent = await fsAgent(gw.url('ws'), (await gw.mint('writer', 'attacker')).token);
});

afterEach(() => { seams.race = undefined; });

after(async () => {
  await agent?.close();
  await gw?.close();
  rmSync(ws.base, { recursive: true, force: true });
});

const outsideUntouched = () => {
  assert.deepEqual(readdirSync(ws.outside), ['secret.txt'], 'nothing was created outside the root');
  assert.equal(readFileSync(join(ws.outside, 'secret.txt'), 'utf8'), OUTSIDE_SECRET, 'the file outside is unchanged');
};

/** Each row: a call that must be refused with this rule, and never show what lies outside. */
const ROWS: [string, string, Record<string, unknown>, RegExp][] = [
  ['.. out of the root', 'read_file', { path: '../outside/secret.txt' }, /\[fs\.path\].*"\.\." is not accepted/],
  ['.. after a granted prefix', 'read_file', { path: 'docs/../../outside/secret.txt' }, /\[fs\.path\]/],
  ['.. back into a denied file', 'read_file', { path: 'docs/../.env' }, /\[fs\.path\]/],
  ['an absolute path', 'read_file', { path: '/etc/passwd' }, /\[fs\.path\].*absolute paths are not accepted/],
  ['the root\'s own absolute path', 'read_file', { path: '@ROOT@/docs/guide.md' }, /\[fs\.path\].*absolute/],
  ['/proc/self/environ', 'read_file', { path: '/proc/self/environ' }, /\[fs\.path\]/],
  ['/proc/self/fd of the root', 'list_directory', { path: '/proc/self/fd' }, /\[fs\.path\]/],
  ['a home directory', 'read_file', { path: '~/.ssh/id_rsa' }, /\[fs\.path\].*"~"/],
  ['a NUL byte', 'read_file', { path: 'docs/guide.md\u0000.png' }, /\[fs\.path\].*NUL/],
  ['backslashes', 'read_file', { path: 'docs\\..\\.env' }, /\[fs\.path\].*backslashes/],
  ['a zero-width space inside .env', 'read_file', { path: 'docs/.e\u200bnv' }, /\[fs\.path\].*invisible/],
  ['a decomposed (NFD) name', 'read_file', { path: 'docs/cafe\u0301.md' }, /\[fs\.path\].*NFC/],
  ['percent-encoded dots are names, not ..', 'read_file', { path: 'docs/%2e%2e/%2e%2e/outside/secret.txt' }, /\[fs\.not_found\]/],
  ['an encoded slash is a name at the root, ungranted', 'read_file', { path: 'docs%2f..%2f.env' }, /\[fs\.read\]/],
  ['a symlink to a file outside', 'read_file', { path: 'docs/escape-file' }, /\[fs\.escape\].*"docs\/escape-file"/],
  ['a symlink to a directory outside', 'read_file', { path: 'docs/escape-dir/secret.txt' }, /\[fs\.escape\]/],
  ['listing through a symlinked directory outside', 'list_directory', { path: 'docs/escape-dir' }, /\[fs\.escape\]/],
  ['details through a symlink outside', 'get_file_info', { path: 'docs/escape-file' }, /\[fs\.escape\]/],
  ['searching through a symlinked directory outside', 'search_files', { path: 'docs/escape-dir', pattern: '*' }, /\[fs\.escape\]/],
  ['an absolute symlink to /etc/passwd', 'read_file', { path: 'docs/passwd' }, /\[fs\.escape\]/],
  ['a symlink to /proc/self/environ', 'read_file', { path: 'docs/environ' }, /\[fs\.escape\]/],
  ['an in-root symlink to a denied file', 'read_file', { path: 'docs/env-link' }, /\[fs\.deny\]: "docs\/env-link" leads to "\.env", which deny rule "\*\*\/\.env" covers it/],
  ['an in-root symlink to an ungranted file', 'read_file', { path: 'docs/plan-link' }, /\[fs\.read\]: "docs\/plan-link" leads to "private\/plan\.md"/],
  ['a symlink loop', 'read_file', { path: 'docs/loop-a' }, /\[fs\.loop\]/],
  ['a hard link to a file outside', 'read_file', { path: 'docs/hard.md' }, /\[fs\.links\].*2 hard links/],
  ['a FIFO (would block a reader)', 'read_file', { path: 'docs/pipe' }, /\[fs\.special\]/],
  ['deny beats read: .env below a read glob', 'read_file', { path: 'docs/.env' }, /\[fs\.deny\].*"\*\*\/\.env"/],
  ['deny beats read: a key file', 'read_file', { path: 'docs/server.pem' }, /\[fs\.deny\].*"\*\*\/\*\.pem"/],
  ['deny beats read: inside .git', 'read_file', { path: 'docs/.git/config' }, /\[fs\.deny\].*"\*\*\/\.git\/\*\*"/],
  ['deny in another case', 'read_file', { path: 'docs/.ENV' }, /\[fs\.deny\]/],
  ['deny in full-width characters', 'read_file', { path: 'docs/\uff0eenv' }, /\[fs\.deny\]/],
  ['a grant in another case', 'read_file', { path: 'DOCS/guide.md' }, /\[fs\.read\]/],
  ['a move out of the root', 'move_file', { source: 'out/x.txt', destination: '../outside/x.txt' }, /\[fs\.path\]/],
  ['a move out through a symlinked directory', 'move_file', { source: 'out/x.txt', destination: 'out/away/x.txt' }, /\[fs\.escape\]/],
  ['a move of a denied file', 'move_file', { source: 'out/.env', destination: 'out/env.txt' }, /\[fs\.deny\]/],
  ['a move onto a denied name', 'move_file', { source: 'out/x.txt', destination: 'out/.env' }, /\[fs\.deny\]/],
  ['a move of a directory holding a denied file', 'move_file', { source: 'out/bundle', destination: 'out/bundle2' }, /\[fs\.deny\].*out\/bundle\/\.env/],
  ['a write through a symlinked parent into an ungranted place', 'write_file', { path: 'out/linkdir/new.md', content: 'x' }, /\[fs\.write\]: "out\/linkdir\/new\.md" leads to "docs\/new\.md"/],
  ['a write through a symlinked parent outside', 'write_file', { path: 'out/away/new.txt', content: 'x' }, /\[fs\.escape\]/],
  ['a write onto a symlink pointing outside', 'write_file', { path: 'out/evil.txt', content: 'overwritten' }, /\[fs\.escape\]/],
  ['an edit through a symlink pointing outside', 'edit_file', { path: 'out/evil.txt', edits: [{ oldText: 'outside', newText: 'x' }] }, /\[fs\.escape\]/],
  ['a directory created through a symlink outside', 'create_directory', { path: 'out/away/newdir' }, /\[fs\.escape\]/],
  ['a write to a denied name', 'write_file', { path: 'out/.env', content: 'X=1' }, /\[fs\.deny\]/],
];

for (const [name, tool, args, refusal] of ROWS) {
  test(`bypass: ${name}`, async () => {
    if (name.startsWith('a move')) {
      writeFileSync(ws.at('out/x.txt'), 'x');
      writeFileSync(ws.at('out/.env'), 'MOVED=1');
      mkdirSync(ws.at('out/bundle'), { recursive: true });
      writeFileSync(ws.at('out/bundle/.env'), 'B=1');
    }
    const resolved = JSON.parse(JSON.stringify(args).replace('@ROOT@', ws.root));
    const text = await agent.refused(tool, resolved);
    assert.match(text, refusal);
    assert.doesNotMatch(text, new RegExp(OUTSIDE_SECRET));
    assert.doesNotMatch(text, /root-secret|\/proc\/self\/fd\/\d/, 'neither secrets nor the gateway\'s descriptors are shown');
    outsideUntouched();
  });
}

test('bypass: what may be read through in-root links is read; deleting a link outside removes only the link', async () => {
  assert.equal(await agent.ok('read_file', { path: 'docs/guide-link' }), readFileSync(ws.at('docs/guide.md'), 'utf8'));
  assert.equal(await agent.ok('read_file', { path: 'docs/abs-link' }), readFileSync(ws.at('docs/guide.md'), 'utf8'));
  symlinkSync(join(ws.outside, 'secret.txt'), ws.at('out/doomed-link'));
  await agent.ok('delete_file', { path: 'out/doomed-link' });
  assert.equal(existsSync(ws.at('out/doomed-link')), false);
  outsideUntouched();
});

test('bypass: listing and search never show denied names, links out, or what lies outside', async () => {
  const listing = await agent.ok('list_directory', { path: 'docs' });
  assert.doesNotMatch(listing, /\.env|\.pem|\.git|\.ENV|\uff0eenv/);
  const found = await agent.ok('search_files', { path: 'docs', pattern: '*', content: 'outside-the-root' });
  assert.equal(found, 'No matches found', 'links are not followed and hard-linked files are not searched');
  const names = await agent.ok('search_files', { path: 'docs', pattern: '*' });
  assert.doesNotMatch(names, /docs\/escape-dir\/|\.env|config/);
});

test('bypass: refusals of escapes are audited with the rule', async () => {
  await agent.refused('read_file', { path: 'docs/escape-file' });
  const record = (await auditRecords(gw)).filter((r) => r.kind === 'request' && r.data.rule === 'fs.escape').at(-1);
  assert.ok(record);
  assert.equal(record.verdict, 'deny');
});

// The check-then-use gap: the seam runs after the policy judged the paths (checked) or just before a name is opened.

test('race: a file swapped for a symlink outside after the check is not read', async () => {
  writeFileSync(ws.at('docs/swap.md'), 'harmless');
  seams.race = (stage) => {
    if (stage !== 'checked') return;
    rmSync(ws.at('docs/swap.md'));
    symlinkSync(join(ws.outside, 'secret.txt'), ws.at('docs/swap.md'));
  };
  assert.match(await agent.refused('read_file', { path: 'docs/swap.md' }), /\[fs\.(changed|escape)\]/);
  rmSync(ws.at('docs/swap.md'));
});

test('race: a directory on the path swapped for a symlink outside after the check is not entered', async () => {
  mkdirSync(ws.at('docs/swapdir'));
  writeFileSync(ws.at('docs/swapdir/secret.txt'), 'harmless');
  seams.race = (stage) => {
    if (stage !== 'checked') return;
    renameSync(ws.at('docs/swapdir'), ws.at('docs/swapdir-old'));
    symlinkSync(ws.outside, ws.at('docs/swapdir'));
  };
  assert.match(await agent.refused('read_file', { path: 'docs/swapdir/secret.txt' }), /\[fs\.(changed|escape)\]/);
  rmSync(ws.at('docs/swapdir'));
});

test('race: a file swapped for a symlink just before it is opened (O_NOFOLLOW) is refused', async () => {
  writeFileSync(ws.at('docs/late.md'), 'harmless');
  seams.race = (stage) => {
    if (stage !== 'opening') return;
    rmSync(ws.at('docs/late.md'));
    symlinkSync(join(ws.outside, 'secret.txt'), ws.at('docs/late.md'));
  };
  assert.match(await agent.refused('read_file', { path: 'docs/late.md' }), /\[fs\.changed\]/);
  rmSync(ws.at('docs/late.md'));
});

test('race: a file swapped for another just before it is opened is refused by inode', async () => {
  writeFileSync(ws.at('docs/inode.md'), 'harmless');
  seams.race = (stage) => {
    if (stage !== 'opening') return;
    renameSync(ws.at('docs/inode.md'), ws.at('docs/inode-judged.md'));
    writeFileSync(ws.at('docs/inode.md'), 'another file in its place');
  };
  assert.match(await agent.refused('read_file', { path: 'docs/inode.md' }), /\[fs\.changed\]/);
  rmSync(ws.at('docs/inode.md'));
  rmSync(ws.at('docs/inode-judged.md'));
});

test('race: the target directory moved out and replaced by a symlink outside while a write is under way: nothing lands outside', async () => {
  mkdirSync(ws.at('out/racy'));
  seams.race = (stage) => {
    if (stage !== 'opening') return;
    renameSync(ws.at('out/racy'), ws.at('out/racy-old'));
    symlinkSync(ws.outside, ws.at('out/racy'));
  };
  assert.match(await agent.refused('write_file', { path: 'out/racy/r.txt', content: 'payload' }), /\[fs\.changed\]/);
  outsideUntouched();
  assert.deepEqual(readdirSync(ws.at('out/racy-old')), [], 'the write was undone where it landed');
  rmSync(ws.at('out/racy'));
});

test('race: a symlink planted after the check on a write target is not written through', async () => {
  seams.race = (stage) => {
    if (stage !== 'checked') return;
    symlinkSync(join(ws.outside, 'secret.txt'), ws.at('out/planted.txt'));
  };
  assert.match(await agent.refused('write_file', { path: 'out/planted.txt', content: 'overwrite' }), /\[fs\.(changed|escape)\]/);
  outsideUntouched();
  rmSync(ws.at('out/planted.txt'));
});

test('race: a directory moved after its contents were judged is not moved', async () => {
  mkdirSync(ws.at('out/tree'));
  writeFileSync(ws.at('out/tree/a.txt'), 'a');
  seams.race = (stage) => {
    if (stage !== 'checked') return;
    writeFileSync(ws.at('out/tree/.env'), 'SNUCK=in');
  };
  assert.match(await agent.refused('move_file', { source: 'out/tree', destination: 'out/tree2' }), /\[fs\.changed\]/);
  assert.ok(existsSync(ws.at('out/tree/.env')));
});

test('bypass: a search pattern built to backtrack for ever is refused before it is compiled', async () => {
  const started = performance.now();
  assert.match(await agent.refused('search_files', { path: 'docs', pattern: `${'*a'.repeat(40)}*b` }), /\[fs\.args\].*at most 8 wildcards/);
  assert.ok(performance.now() - started < 5000);
});
