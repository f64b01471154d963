// Walking below a directory by descriptors: each subdirectory opened inside its verified parent, links never followed.
import { constants } from 'node:fs';
import { open, readdir, type FileHandle } from 'node:fs/promises';
import type { Jail, Kind } from './jail.ts';

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW } = constants;

export interface Entry {
  /** Path relative to where the walk started. */
  rel: string;
  name: string;
  kind: Kind;
  /** The open directory holding the entry: open it as `jail.at(dir, name)`. */
  dir: FileHandle;
}

/** What a visit says: `skip` does not descend into a directory; `stop` ends the walk. */
export type Visit = (entry: Entry) => Promise<'skip' | 'stop' | void> | 'skip' | 'stop' | void;

/** Visits what lies below `segments` (depth first, names sorted); at most `limit` entries. Returns whether it finished. */
export async function walkTree(jail: Jail, segments: string[], limit: number, visit: Visit): Promise<boolean> {
  const place = await jail.locate(segments, true);
  let top: FileHandle;
  try {
    top = await jail.openDir(place);
  } finally {
    await place.release();
  }
  let seen = 0;
  const descend = async (dir: FileHandle, prefix: string): Promise<boolean> => {
    const entries = (await readdir(jail.at(dir), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const d of entries) {
      if (++seen > limit) return false;
      const kind: Kind = d.isFile() ? 'file' : d.isDirectory() ? 'directory' : d.isSymbolicLink() ? 'symlink' : 'special';
      const rel = prefix ? `${prefix}/${d.name}` : d.name;
      const said = await visit({ rel, name: d.name, kind, dir });
      if (said === 'stop') return false;
      if (kind !== 'directory' || said === 'skip') continue;
      let sub: FileHandle;
      try {
        sub = await open(jail.at(dir, d.name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
      } catch {
        continue; // replaced by a link or removed meanwhile: not walked
      }
      try {
        if (!(await descend(sub, rel))) return false;
      } finally {
        await sub.close();
      }
    }
    return true;
  };
  try {
    return await descend(top, '');
  } finally {
    await top.close();
  }
}

/** Every entry below `segments`, as paths relative to it (at most `limit`). */
export async function subtree(jail: Jail, segments: string[], limit: number): Promise<string[]> {
  const out: string[] = [];
  await walkTree(jail, segments, limit, (e) => { out.push(e.rel); });
  return out;
}
