// The one place that calls the real PostgreSQL parser (libpg-query, WASM) and cuts the input into statements.
import { loadModule, parseSync, type Node } from 'libpg-query';

// The WASM module must be instantiated once before parseSync can run; importers wait for it here.
await loadModule();

export interface ParsedStatement {
  node: Node;
  /** The statement's own slice of the input, trimmed. */
  text: string;
}

export type ParseOutcome = { ok: true; statements: ParsedStatement[] } | { ok: false; error: string };

/** Parse `text`; never throws. Locations from the parser are UTF-8 byte offsets, so slicing goes through bytes. */
export function parseStatements(text: string): ParseOutcome {
  let stmts;
  try {
    stmts = parseSync(text).stmts ?? [];
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
  const bytes = Buffer.from(text, 'utf8');
  const statements: ParsedStatement[] = [];
  for (const raw of stmts) {
    if (!raw.stmt) return { ok: false, error: 'the parser returned a statement without a body' };
    const start = raw.stmt_location ?? 0;
    const end = raw.stmt_len ? start + raw.stmt_len : bytes.length;
    statements.push({ node: raw.stmt, text: bytes.subarray(start, end).toString('utf8').trim() });
  }
  return { ok: true, statements };
}
