// Running a judged call: every path walked again under the root, compared with what was judged, then used by descriptor.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { link, mkdir, open, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { nameGlob, pathGlob } from '../../pipeline/approve.ts';
import { checkRegular, FsError, seams, type Jail, type Place } from './jail.ts';
import type { Plan, Target } from './plan.ts';
import { denied, granted, visible, type CompiledFsGrant } from './policy.ts';
import type { ArgsOf } from './tools.ts';
import { subtree, walkTree } from './tree.ts';
import { MAX_MOVE_ENTRIES } from './plan.ts';

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_DIRECTORY } = constants;

/** Search bounds: entries looked at, hits returned, characters of a matching line shown. */
const SEARCH_ENTRIES = 50_000;
const SEARCH_HITS = 500;
const HIT_LINE_CHARS = 200;

export interface Workspace {
  jail: Jail;
  grant: CompiledFsGrant;
}

const text = (t: string): CallToolResult => ({ content: [{ type: 'text', text: t }] });
const shown = (real: string[]) => real.join('/') || '.';
const changed = (what: string) => new FsError('fs.changed', `"${what}" changed between the check and its use (replaced, moved or turned into a link); nothing was done — try again`);

/** Walks a target again: it must lead where it led when judged, to the same file. */
async function relocate(jail: Jail, target: Target): Promise<Place> {
  const place = await jail.locate(target.segments, target.follow);
  const was = target.resolved;
  const same = place.real.join('/') === was.real.join('/') && place.kind === was.kind
    && (!was.stat || !place.stat || (was.stat.ino === place.stat.ino && was.stat.dev === place.stat.dev));
  if (!same) {
    await place.release();
    throw changed(shown(was.real));
  }
  return place;
}

/** Runs `plan`, whose every path the policy has judged; a path that now leads elsewhere refuses the call. */
export async function runCall(ws: Workspace, plan: Plan): Promise<CallToolResult> {
  for (const t of Object.values(plan.targets)) await seams.race?.('checked', shown(t.resolved.real));
  const target = plan.targets.path;
  switch (plan.tool) {
    case 'read_file': return readFile(ws, target, plan.args as ArgsOf<'read_file'>);
    case 'list_directory': return listDirectory(ws, target);
    case 'search_files': return searchFiles(ws, target, plan.args as ArgsOf<'search_files'>);
    case 'get_file_info': return fileInfo(ws, target);
    case 'list_allowed_directories': return allowed(ws.grant);
    case 'write_file': return writeFile(ws, target, (plan.args as ArgsOf<'write_file'>).content);
    case 'edit_file': return editFile(ws, target, plan.args as ArgsOf<'edit_file'>);
    case 'create_directory': return createDirectory(ws, target);
    case 'delete_file': return deleteFile(ws, target);
    case 'move_file': return moveFile(ws, plan);
  }
}

/** Reads a whole regular file through a verified descriptor, refusing more than `max` bytes. */
async function readVerified(jail: Jail, place: Place, max: number): Promise<Buffer> {
  const handle = await jail.openFile(place);
  try {
    const { size } = await handle.stat();
    if (size > max) throw new FsError('fs.max_file_size', `"${shown(place.real)}" is ${size} bytes, over the grant's max_file_size of ${max}`);
    // One byte more than allowed: a file that grew since fstat is refused, not cut.
    const buf = Buffer.allocUnsafe(Math.min(size, max) + 1);
    let filled = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, filled, buf.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
      if (filled === buf.length) {
        if (filled > max) throw new FsError('fs.max_file_size', `"${shown(place.real)}" grew past the grant's max_file_size of ${max} while it was read`);
        break;
      }
    }
    return buf.subarray(0, filled);
  } finally {
    await handle.close();
  }
}

async function readFile(ws: Workspace, target: Target, args: ArgsOf<'read_file'>): Promise<CallToolResult> {
  if (args.head !== undefined && args.tail !== undefined) throw new FsError('fs.args', 'give head or tail, not both');
  const place = await relocate(ws.jail, target);
  let content: string;
  try {
    content = (await readVerified(ws.jail, place, ws.grant.maxFileSize)).toString('utf8');
  } finally {
    await place.release();
  }
  if (args.head !== undefined) content = content.split('\n').slice(0, args.head).join('\n');
  else if (args.tail !== undefined) content = content.split('\n').slice(-args.tail).join('\n');
  return text(content);
}

async function listDirectory(ws: Workspace, target: Target): Promise<CallToolResult> {
  const place = await relocate(ws.jail, target);
  let dir: FileHandle;
  try {
    dir = await ws.jail.openDir(place);
  } finally {
    await place.release();
  }
  try {
    const base = place.real.join('/');
    const lines = (await readdir(ws.jail.at(dir), { withFileTypes: true }))
      .filter((d) => (d.isFile() || d.isDirectory() || d.isSymbolicLink()) && visible(ws.grant, base ? `${base}/${d.name}` : d.name))
      .sort((a, b) => (a.name < b.name ? -1 : 1))
      .map((d) => `${d.isDirectory() ? '[DIR]' : d.isSymbolicLink() ? '[LINK]' : '[FILE]'} ${d.name}`);
    return text(lines.length ? lines.join('\n') : '(no entries you may see)');
  } finally {
    await dir.close();
  }
}

async function fileInfo(ws: Workspace, target: Target): Promise<CallToolResult> {
  const place = await relocate(ws.jail, target);
  await place.release();
  const st = place.stat;
  if (!st) throw new FsError('fs.not_found', `no such file or directory: "${shown(place.real)}"`);
  const type = st.isFile() ? 'file' : st.isDirectory() ? 'directory' : 'special file';
  return text([
    `path: ${shown(place.real)}`, `type: ${type}`, `size: ${st.size}`, `created: ${st.birthtime.toISOString()}`,
    `modified: ${st.mtime.toISOString()}`, `accessed: ${st.atime.toISOString()}`, `permissions: ${(st.mode & 0o777).toString(8)}`, `links: ${st.nlink}`,
  ].join('\n'));
}

function allowed(g: CompiledFsGrant): CallToolResult {
  const list = (rules: { text: string }[]) => (rules.length ? rules.map((r) => r.text).join(', ') : '(none)');
  return text([
    'Paths are relative to the workspace root.', `read: ${list(g.read)}`, `write: ${list(g.write)}`, `delete: ${list(g.delete)}`,
    `deny (wins over the others): ${list(g.deny)}`, `max_file_size: ${g.maxFileSize} bytes`,
  ].join('\n'));
}

/** A glob over names (no "/") or over paths below the search directory. */
const globTest = (glob: string) => (glob.includes('/') ? pathGlob(glob) : ((test) => (rel: string) => test(rel.slice(rel.lastIndexOf('/') + 1)))(nameGlob(glob)));

async function searchFiles(ws: Workspace, target: Target, args: ArgsOf<'search_files'>): Promise<CallToolResult> {
  const place = await relocate(ws.jail, target);
  await place.release();
  const base = place.real.join('/');
  const matches = globTest(args.pattern);
  const excluded = args.excludePatterns.map(globTest);
  const hits: string[] = [];
  let truncated = false;
  const finished = await walkTree(ws.jail, place.real, SEARCH_ENTRIES, async (e) => {
    const path = base ? `${base}/${e.rel}` : e.rel;
    // Denied places are not entered, and nothing below them is shown.
    if (denied(ws.grant, path) || excluded.some((x) => x(e.rel))) return 'skip';
    if (!matches(e.rel) || !visible(ws.grant, path)) return;
    if (args.content === undefined) hits.push(path);
    else if (e.kind === 'file' && granted(ws.grant, 'read', path)) hits.push(...(await contentHits(ws, e.dir, e.name, path, args.content)));
    if (hits.length >= SEARCH_HITS) { truncated = true; return 'stop'; }
  });
  const note = truncated ? `\n(stopped at ${SEARCH_HITS} hits)` : finished ? '' : `\n(stopped after ${SEARCH_ENTRIES} entries)`;
  return text((hits.length ? hits.slice(0, SEARCH_HITS).join('\n') : 'No matches found') + note);
}

/** `path:line: text` for each line of a file holding `needle`; files that are not plain, single-link and small enough are passed over. */
async function contentHits(ws: Workspace, dir: FileHandle, name: string, path: string, needle: string): Promise<string[]> {
  let handle: FileHandle;
  try {
    handle = await open(ws.jail.at(dir, name), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch {
    return [];
  }
  try {
    const st = await handle.stat();
    if (!st.isFile() || st.nlink > 1 || st.size > ws.grant.maxFileSize) return [];
    const content = (await handle.readFile()).toString('utf8');
    if (!content.includes(needle)) return [];
    const out: string[] = [];
    content.split('\n').forEach((line, i) => { if (line.includes(needle)) out.push(`${path}:${i + 1}: ${line.length > HIT_LINE_CHARS ? `${line.slice(0, HIT_LINE_CHARS)}…` : line}`); });
    return out;
  } finally {
    await handle.close();
  }
}

/**
 * Replaces the file at `place` atomically: a new file beside it (same directory descriptor, O_EXCL, O_NOFOLLOW),
 * written and synced, renamed over the name. The new file's descriptor then says where it landed; anywhere else than
 * `place` (its directory was moved meanwhile) and it is removed and the call refused.
 */
async function replaceFile(jail: Jail, place: Place, data: Buffer, mode: number) {
  const name = place.name!;
  const temp = `.gatehouse-${randomBytes(8).toString('hex')}.tmp`;
  await seams.race?.('opening', shown(place.real));
  const handle = await open(jail.at(place.dir, temp), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
  let renamed = false;
  try {
    await handle.writeFile(data);
    await handle.datasync();
    await rename(jail.at(place.dir, temp), jail.at(place.dir, name));
    renamed = true;
    const landed = await jail.whereIs(handle.fd);
    if (landed?.join('/') !== place.real.join('/')) {
      await unlink(jail.at(place.dir, name)).catch(() => {});
      throw changed(shown(place.real));
    }
  } catch (err) {
    if (!renamed) await unlink(jail.at(place.dir, temp)).catch(() => {});
    throw err;
  } finally {
    await handle.close();
  }
}

async function writeFile(ws: Workspace, target: Target, content: string): Promise<CallToolResult> {
  const data = Buffer.from(content, 'utf8');
  if (data.length > ws.grant.maxFileSize) throw new FsError('fs.max_file_size', `the content is ${data.length} bytes, over the grant's max_file_size of ${ws.grant.maxFileSize}`);
  const place = await relocate(ws.jail, target);
  try {
    if (place.kind === 'missing' && place.existing < place.real.length - 1) throw new FsError('fs.not_found', `the directory of "${shown(place.real)}" does not exist (create_directory first)`);
    if (place.kind !== 'missing') checkRegular(place.stat!, shown(place.real));
    await replaceFile(ws.jail, place, data, place.stat ? place.stat.mode & 0o777 : 0o644);
  } finally {
    await place.release();
  }
  return text(`Wrote ${data.length} bytes to ${shown(place.real)}`);
}

async function editFile(ws: Workspace, target: Target, args: ArgsOf<'edit_file'>): Promise<CallToolResult> {
  const place = await relocate(ws.jail, target);
  try {
    const before = (await readVerified(ws.jail, place, ws.grant.maxFileSize)).toString('utf8');
    let after = before;
    const diff: string[] = [];
    args.edits.forEach(({ oldText, newText }, i) => {
      const at = after.indexOf(oldText);
      if (at < 0) throw new FsError('fs.edit', `edit ${i + 1}: oldText was not found in "${shown(place.real)}"`);
      if (after.indexOf(oldText, at + 1) >= 0) throw new FsError('fs.edit', `edit ${i + 1}: oldText occurs more than once in "${shown(place.real)}"; include more context`);
      after = after.slice(0, at) + newText + after.slice(at + oldText.length);
      const line = before.slice(0, before.indexOf(oldText) >= 0 ? before.indexOf(oldText) : 0).split('\n').length;
      diff.push(`@@ edit ${i + 1}, near line ${line} @@`, ...oldText.split('\n').map((l) => `-${l}`), ...newText.split('\n').map((l) => `+${l}`));
    });
    const data = Buffer.from(after, 'utf8');
    if (data.length > ws.grant.maxFileSize) throw new FsError('fs.max_file_size', `the edited file would be ${data.length} bytes, over the grant's max_file_size of ${ws.grant.maxFileSize}`);
    if (!args.dryRun) await replaceFile(ws.jail, place, data, place.stat!.mode & 0o777);
    return text(`${args.dryRun ? 'Dry run, nothing written' : `Edited ${shown(place.real)}`}\n--- ${shown(place.real)}\n+++ ${shown(place.real)}\n${diff.join('\n')}`);
  } finally {
    await place.release();
  }
}

async function createDirectory(ws: Workspace, target: Target): Promise<CallToolResult> {
  const place = await relocate(ws.jail, target);
  try {
    if (place.kind === 'directory') return text(`${shown(place.real)} already exists`);
    await seams.race?.('opening', shown(place.real));
    // Each missing directory is made inside the one before it, by descriptor.
    let dir: FileHandle | number = place.dir;
    try {
      for (const name of place.real.slice(place.existing)) {
        await mkdir(ws.jail.at(dir, name), 0o755).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'EEXIST') throw err; });
        const next: FileHandle = await open(ws.jail.at(dir, name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW).catch(() => { throw changed(shown(place.real)); });
        if (dir !== place.dir) await (dir as FileHandle).close();
        dir = next;
      }
      await ws.jail.confirm((dir as FileHandle).fd, place.real);
    } finally {
      if (dir !== place.dir) await (dir as FileHandle).close();
    }
  } finally {
    await place.release();
  }
  return text(`Created directory ${shown(place.real)}`);
}

async function deleteFile(ws: Workspace, target: Target): Promise<CallToolResult> {
  const place = await relocate(ws.jail, target);
  try {
    if (place.kind === 'missing') throw new FsError('fs.not_found', `no such file: "${shown(place.real)}"`);
    if (place.kind !== 'symlink') checkRegular(place.stat!, shown(place.real));
    await seams.race?.('opening', shown(place.real));
    await unlink(ws.jail.at(place.dir, place.name));
  } finally {
    await place.release();
  }
  return text(`Deleted ${shown(place.real)}`);
}

async function moveFile(ws: Workspace, plan: Plan): Promise<CallToolResult> {
  const source = await relocate(ws.jail, plan.targets.source);
  let destination: Place | undefined;
  try {
    destination = await relocate(ws.jail, plan.targets.destination);
    if (source.kind === 'missing') throw new FsError('fs.not_found', `no such file or directory: "${shown(source.real)}"`);
    if (destination.kind !== 'missing' || destination.existing < destination.real.length - 1) throw changed(shown(destination.real));
    const from = ws.jail.at(source.dir, source.name);
    const to = ws.jail.at(destination.dir, destination.name);
    await seams.race?.('opening', shown(source.real));
    if (source.kind === 'directory') {
      // What moves is what was judged: a directory whose contents changed since is refused.
      const below = await subtree(ws.jail, plan.targets.source.segments, MAX_MOVE_ENTRIES + 1);
      if (below.join('\n') !== (plan.below ?? []).join('\n')) throw changed(shown(source.real));
      await rename(from, to);
    } else {
      // A new name first (which fails if the destination appeared meanwhile), then the old one goes: nothing is replaced.
      await link(from, to).catch((err: NodeJS.ErrnoException) => {
        throw err.code === 'EEXIST' ? new FsError('fs.exists', `the destination "${shown(destination!.real)}" exists; move_file does not replace`) : err;
      });
      await unlink(from);
    }
  } finally {
    await source.release();
    await destination?.release();
  }
  return text(`Moved ${shown(source.real)} to ${shown(destination.real)}`);
}
