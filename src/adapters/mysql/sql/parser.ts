// The grammar: datafusion's sqlparser-rs (MySQL dialect, WebAssembly), fed only the lexer's canonical text. Loaded once per process.
import { init, parse } from '@guanmingchiu/sqlparser-ts';

let loading: Promise<void> | undefined;
let loaded = false;

/** Loads the WebAssembly parser; listeners await it at start-up, so analysis never waits on a request. */
export function loadParser(): Promise<void> {
  loading ??= init().then(() => { loaded = true; });
  return loading;
}

export type Ast = Record<string, unknown>;
export type ParseResult = { ok: true; ast: Ast } | { ok: false; error: string };

/** Parses exactly one statement of canonical text. */
export function parseOne(canonical: string): ParseResult {
  if (!loaded) return { ok: false, error: 'the SQL parser is not loaded' };
  let statements: unknown;
  try {
    statements = parse(canonical, 'mysql');
  } catch (error) {
    return { ok: false, error: String((error as Error).message ?? error).replace(/^sql parser error: /, '') };
  }
  if (!Array.isArray(statements) || statements.length !== 1 || typeof statements[0] !== 'object' || statements[0] === null) {
    return { ok: false, error: 'expected exactly one statement' };
  }
  return { ok: true, ast: statements[0] as Ast };
}
