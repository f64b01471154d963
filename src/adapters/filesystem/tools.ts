// The tools a directory is served with, named and shaped like MCP's reference filesystem server, each with the access it needs.
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

/** Globs an agent sends are compiled to regular expressions: a bounded number of wildcards keeps matching linear enough. */
const MAX_WILDCARDS = 8;
const glob = z.string().min(1).max(1024).refine((g) => (g.match(/[*?]/g) ?? []).length <= MAX_WILDCARDS, `at most ${MAX_WILDCARDS} wildcards (* or ?) in a pattern`);

const path = z.string().describe('A path relative to the workspace root, e.g. "docs/guide.md" ("." is the root)');

export const toolArgs = {
  read_file: z.strictObject({
    path,
    head: z.number().int().positive().optional().describe('Return only the first N lines'),
    tail: z.number().int().positive().optional().describe('Return only the last N lines'),
  }),
  list_directory: z.strictObject({ path }),
  search_files: z.strictObject({
    path,
    pattern: glob.describe('A glob over names ("*.md"), or over paths below `path` when it has a "/" ("**/*.csv")'),
    content: z.string().min(1).max(1024).optional().describe('Only files containing this exact text; each hit is given as path:line'),
    excludePatterns: z.array(glob).max(64).default([]).describe('Globs of names or paths to skip'),
  }),
  get_file_info: z.strictObject({ path }),
  list_allowed_directories: z.strictObject({}),
  write_file: z.strictObject({ path, content: z.string().describe('The whole new content (UTF-8)') }),
  edit_file: z.strictObject({
    path,
    edits: z.array(z.strictObject({ oldText: z.string().min(1).describe('Text to replace: must occur exactly once'), newText: z.string() })).min(1).max(256),
    dryRun: z.boolean().default(false).describe('Show the changes without writing them'),
  }),
  create_directory: z.strictObject({ path }),
  move_file: z.strictObject({ source: path, destination: path }),
  delete_file: z.strictObject({ path }),
} as const;

/** What a tool does to a path; `list` is seeing names and details (read or write on the directory). */
export type Access = 'read' | 'write' | 'delete' | 'list';

export type ToolName = keyof typeof toolArgs;
export type ArgsOf<T extends ToolName> = z.infer<(typeof toolArgs)[T]>;

/** What each tool needs of the grant (a move: delete on its source, write on its target). */
export const NEEDS: Record<ToolName, readonly Access[]> = {
  read_file: ['read'],
  list_directory: ['list'],
  search_files: ['list'],
  get_file_info: ['list'],
  list_allowed_directories: ['list'],
  write_file: ['write'],
  edit_file: ['read', 'write'],
  create_directory: ['write'],
  move_file: ['delete', 'write'],
  delete_file: ['delete'],
};

const DESCRIPTIONS: Record<ToolName, string> = {
  read_file: 'Read a text file in the workspace, whole or its first/last lines (head, tail).',
  list_directory: 'List a directory: [FILE], [DIR] and [LINK] entries you may see.',
  search_files: 'Find files below a directory by name glob, optionally only those containing some text (hits as path:line).',
  get_file_info: 'Size, times, type and permissions of a file or directory.',
  list_allowed_directories: 'What this token may read, write and delete in the workspace (path globs relative to its root).',
  write_file: 'Create or replace a file with the given content (atomically).',
  edit_file: 'Replace exact text in a file (each oldText must occur exactly once); returns a diff. dryRun shows it only.',
  create_directory: 'Create a directory (and its missing parents); succeeds if it exists.',
  move_file: 'Move or rename a file or directory; the destination must not exist.',
  delete_file: 'Delete a file (not a directory).',
};

export const isTool = (name: string): name is ToolName => Object.hasOwn(toolArgs, name);

/** The tools as MCP lists them, built once. */
export const TOOL_LIST: Record<ToolName, Tool> = Object.fromEntries(Object.entries(toolArgs).map(([name, schema]) => {
  const { $schema: _, ...inputSchema } = z.toJSONSchema(schema, { io: 'input' }) as Record<string, unknown>;
  const readOnly = NEEDS[name as ToolName].every((a) => a === 'read' || a === 'list');
  return [name, { name, description: DESCRIPTIONS[name as ToolName], inputSchema: inputSchema as Tool['inputSchema'], annotations: { readOnlyHint: readOnly, destructiveHint: name === 'delete_file' || name === 'move_file' || name === 'write_file' || name === 'edit_file' } }];
})) as Record<ToolName, Tool>;
