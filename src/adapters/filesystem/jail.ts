// Confinement to the root: paths are walked a segment at a time from an open descriptor of the root, never as strings.
//
// Node has no openat(2), but on Linux `/proc/self/fd/<dir>/<name>` is resolved by the kernel relative to the directory
// that descriptor holds, whatever has since been renamed or replaced above it: so every step below opens one name
// inside an already verified directory, with O_NOFOLLOW, and symbolic links are followed by hand (read, resolved
// against the segments walked so far, refused if they leave the root). What is finally opened is confirmed once more by
// the descriptor's own path (`/proc/self/fd/<n>`) and inode, so the path the policy judged is the file that is used.
import { constants, type Stats } from 'node:fs';
import { lstat, open, readlink, realpath, stat, type FileHandle } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK } = constants;
/** The most symbolic links one path may pass through (Linux's own limit). */
const MAX_LINK_HOPS = 40;

/** A refusal or failure the agent is told as a tool error naming its rule. */
export class FsError extends Error {
  constructor(readonly rule: string, message: string) {
    super(message);
  }
}

export type Kind = 'file' | 'directory' | 'symlink' | 'special' | 'missing';

/** Where a path leads: the real segments under the root (symbolic links resolved) and what is there now. */
export interface Resolved {
  real: string[];
  kind: Kind;
  /** How many leading segments of `real` exist (all of them unless `kind` is missing). */
  existing: number;
  /** The final name's own status (not followed), when it exists. */
  stat?: Stats;
}

/** A resolved path held open: the verified directory it lives in (a descriptor) and its name there. */
export interface Place extends Resolved {
  /** The directory holding the first missing segment, or the final name. */
  dir: FileHandle | number;
  /** That name; undefined for the root itself. */
  name?: string;
  release(): Promise<void>;
}

/**
 * Test seam for the check-then-use gap: called after a path was checked (`checked`) and just before a name is opened
 * (`opening`), so a test can swap what is on disk at exactly those moments. Unset in production.
 */
export const seams: { race?: (stage: 'checked' | 'opening', path: string) => void | Promise<void> } = {};

const fdOf = (dir: FileHandle | number) => (typeof dir === 'number' ? dir : dir.fd);
const code = (err: unknown) => (err as NodeJS.ErrnoException).code;

export class Jail {
  private constructor(
    /** The root's real absolute path. */
    readonly root: string,
    /** Held open for the jail's life: every walk starts here. */
    private readonly rootFd: FileHandle,
  ) {}

  /** Opens the root; fails at start-up if it is missing, not a directory, or the platform cannot confine. */
  static async open(root: string): Promise<Jail> {
    const real = await realpath(root);
    if (!(await stat(real)).isDirectory()) throw new Error(`${root} is not a directory`);
    const fd = await open(real, O_RDONLY | O_DIRECTORY);
    const jail = new Jail(real, fd);
    // Confinement rests on /proc/self/fd (Linux): without it the gateway refuses to serve the directory at all.
    if ((await readlink(`/proc/self/fd/${fd.fd}`).catch(() => undefined)) !== real) {
      await fd.close();
      throw new Error('serving a directory needs /proc/self/fd (Linux) to confine paths; it is not available here');
    }
    return jail;
  }

  async close() {
    await this.rootFd.close();
  }

  /**
   * The kernel path of `name` inside the directory descriptor `dir`, or of the directory itself (as `<fd>/.`: the
   * descriptor's own entry is a link, which O_NOFOLLOW would refuse).
   */
  at(dir: FileHandle | number, name = '.'): string {
    return `/proc/self/fd/${fdOf(dir)}/${name}`;
  }

  /** Where `segments` lead, released at once (for judging before use). */
  async resolve(segments: string[], follow: boolean): Promise<Resolved> {
    const place = await this.locate(segments, follow);
    await place.release();
    return { real: place.real, kind: place.kind, existing: place.existing, stat: place.stat };
  }

  /**
   * Walks `segments` from the root, one name inside one open directory at a time. Symbolic links are followed by hand
   * (the last one only when `follow`), each resolved against the real segments walked so far and refused when it
   * leaves the root. The caller releases the place.
   */
  async locate(segments: string[], follow: boolean): Promise<Place> {
    let queue = [...segments];
    let walked: string[] = [];
    let dir: FileHandle | number = fdOf(this.rootFd);
    let hops = 0;
    const leave = async () => { if (typeof dir !== 'number') await dir.close(); };
    const done = (place: Omit<Place, 'dir' | 'release'>): Place => {
      const held = dir;
      return { ...place, dir: held, release: async () => { if (typeof held !== 'number') await held.close(); } };
    };
    try {
      while (queue.length > 0) {
        const name = queue[0];
        const last = queue.length === 1;
        let link: string | undefined;
        if (!last) {
          // A directory on the way, opened without following: a symbolic link (or a file) fails, and is looked at.
          let next: FileHandle | undefined;
          try {
            next = await open(this.at(dir, name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
          } catch (err) {
            if (code(err) === 'ENOENT') return done({ real: [...walked, ...queue], kind: 'missing', existing: walked.length, name });
            if (code(err) !== 'ENOTDIR' && code(err) !== 'ELOOP') throw err;
            if (!(await lstat(this.at(dir, name))).isSymbolicLink()) throw new FsError('fs.not_directory', `"${[...walked, name].join('/')}" is not a directory`);
          }
          if (next) {
            await leave();
            dir = next;
            walked.push(name);
            queue.shift();
            continue;
          }
          link = await readlink(this.at(dir, name));
        } else {
          let st: Stats;
          try {
            st = await lstat(this.at(dir, name));
          } catch (err) {
            if (code(err) === 'ENOENT') return done({ real: [...walked, name], kind: 'missing', existing: walked.length, name });
            throw err;
          }
          if (!st.isSymbolicLink() || !follow) return done({ real: [...walked, name], kind: kindOf(st), existing: walked.length + 1, stat: st, name });
          link = await readlink(this.at(dir, name));
        }
        if (++hops > MAX_LINK_HOPS) throw new FsError('fs.loop', `"${segments.join('/')}" passes through more than ${MAX_LINK_HOPS} symbolic links`);
        queue = [...this.follow(link, walked, name, segments), ...queue.slice(1)];
        // Start again from the root: the link's target is walked with the same checks as any path.
        await leave();
        dir = fdOf(this.rootFd);
        walked = [];
      }
      const st = await stat(this.at(dir));
      return done({ real: walked, kind: 'directory', existing: walked.length, stat: st, name: undefined });
    } catch (err) {
      await leave();
      throw err;
    }
  }

  /** The segments a symbolic link at `walked/name` points to, under the root, or a refusal naming the link. */
  private follow(target: string, walked: string[], name: string, asked: string[]): string[] {
    const escape = () => new FsError('fs.escape', `"${asked.join('/')}" leads outside the root through the symbolic link "${[...walked, name].join('/')}"`);
    let base: string[];
    let rest: string;
    if (target.startsWith('/')) {
      const inside = relative(this.root, target);
      if (inside === '..' || inside.startsWith(`..${sep}`) || inside.startsWith(sep)) throw escape();
      base = [];
      rest = inside;
    } else {
      base = [...walked];
      rest = target;
    }
    for (const seg of rest.split('/')) {
      if (seg === '' || seg === '.') continue;
      if (seg === '..') {
        if (base.length === 0) throw escape();
        base.pop();
      } else base.push(seg);
    }
    return base;
  }

  /**
   * Opens the regular file at `place` for use, refusing what changed since it was located (a symbolic link or another
   * file put in its place), special files and files with more than one hard link (the same bytes under another,
   * possibly ungranted, name), then confirms the descriptor's own path is `place.real`.
   */
  async openFile(place: Place, flags = O_RDONLY): Promise<FileHandle> {
    const shown = place.real.join('/');
    await seams.race?.('opening', shown);
    let handle: FileHandle;
    try {
      handle = await open(this.at(place.dir, place.name), flags | O_NOFOLLOW | O_NONBLOCK);
    } catch (err) {
      if (code(err) === 'ELOOP') throw changed(shown);
      if (code(err) === 'ENOENT') throw new FsError('fs.not_found', `no such file: "${shown}"`);
      throw err;
    }
    try {
      const st = await handle.stat();
      if (place.stat && (st.ino !== place.stat.ino || st.dev !== place.stat.dev)) throw changed(shown);
      checkRegular(st, shown);
      await this.confirm(handle.fd, place.real);
      return handle;
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  /** Opens the directory at `place` (the root too) for listing, with the same checks. */
  async openDir(place: Place): Promise<FileHandle> {
    const shown = place.real.join('/') || '.';
    await seams.race?.('opening', shown);
    let handle: FileHandle;
    try {
      handle = await open(this.at(place.dir, place.name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    } catch (err) {
      if (code(err) === 'ELOOP' || code(err) === 'ENOTDIR') throw changed(shown);
      if (code(err) === 'ENOENT') throw new FsError('fs.not_found', `no such directory: "${shown}"`);
      throw err;
    }
    try {
      await this.confirm(handle.fd, place.real);
      return handle;
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  /** The descriptor's own path must be `real` under the root: what was judged is what is used. */
  async confirm(fd: number, real: string[]) {
    const now = await readlink(`/proc/self/fd/${fd}`);
    if (now !== join(this.root, ...real)) throw changed(real.join('/') || '.');
  }

  /** Where the descriptor's file is now, under the root (undefined if outside it or deleted). */
  async whereIs(fd: number): Promise<string[] | undefined> {
    const now = await readlink(`/proc/self/fd/${fd}`);
    const inside = relative(this.root, now);
    if (now.endsWith(' (deleted)') || inside.startsWith('..') || inside.startsWith(sep)) return undefined;
    return inside === '' ? [] : inside.split(sep);
  }
}

export function kindOf(st: Stats): Kind {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  return 'special';
}

/** A file Gatehouse reads or replaces: regular, and reachable by one name only. */
export function checkRegular(st: Stats, shown: string) {
  if (st.isDirectory()) throw new FsError('fs.is_directory', `"${shown}" is a directory`);
  if (!st.isFile()) throw new FsError('fs.special', `"${shown}" is not a regular file (a device, FIFO or socket); it is never opened`);
  if (st.nlink > 1) throw new FsError('fs.links', `"${shown}" has ${st.nlink} hard links (the same bytes under other names); such files are refused`);
}

const changed = (shown: string) => new FsError('fs.changed', `"${shown}" changed between the check and its use (replaced, moved or turned into a link); nothing was done — try again`);
