// Says what one MySQL statement is: its kind, the grants it needs, what it touches. What is not recognised is `unknown` (refused).
import type { Effect } from '../../../services/policy/facts.ts';
import type { SqlKind, SqlNeed, SqlSetting, SqlStatement } from '../../../services/policy/sql/facts.ts';
import { lex, render, type LexedStatement, type LexMode, type ServerFlavor, type Token } from './lexer.ts';
import { parseOne, type Ast } from './parser.ts';
import { asksReadWrite, classifySet } from './settings.ts';
import { Collector, nameParts, statementScope, variantOf, type Collected, type Names, type Scope } from './walk.ts';

export interface ClassifyContext {
  names: Names;
  mode: LexMode;
  server: ServerFlavor;
}

type Body = Record<string, unknown>;

interface Parts {
  kind: SqlKind;
  label: string;
  needs?: SqlNeed[];
  collected?: Collected;
  inner?: SqlStatement;
  name?: string;
  setting?: SqlSetting;
  readWrite?: boolean;
  reason?: string;
}

/** Kinds whose effect follows from the relations they touch. */
const dataKinds: ReadonlySet<SqlKind> = new Set(['select', 'insert', 'update', 'delete', 'explain', 'prepare']);
const fixedEffects: Partial<Record<SqlKind, Effect>> = {
  execute: 'write', truncate: 'write', lock: 'write', two_phase: 'write', ddl: 'ddl', grant: 'ddl', alter_system: 'ddl',
  maintenance: 'ddl', call: 'call', unknown: 'unknown',
};
const nothing: Collected = { relations: [], functions: [], columnRefs: { refs: [], sources: [] } };

function build(text: string, parts: Parts): SqlStatement {
  const collected = parts.collected ?? parts.inner ?? nothing;
  const writes = collected.relations.some((r) => r.access !== 'read');
  const effect = dataKinds.has(parts.kind) ? (writes ? 'write' : 'read') : fixedEffects[parts.kind] ?? 'session';
  const statement: SqlStatement = {
    kind: parts.kind, label: parts.label, text, effect,
    relations: collected.relations, functions: collected.functions, needs: parts.needs ?? [], columnRefs: collected.columnRefs,
  };
  for (const key of ['reason', 'inner', 'name', 'setting', 'readWrite'] as const) {
    if (parts[key] !== undefined) Object.assign(statement, { [key]: parts[key] });
  }
  return statement;
}

export function unknownStatement(text: string, reason: string): SqlStatement {
  return build(text, { kind: 'unknown', label: 'unknown', reason });
}

const word = (t: Token | undefined) => (t?.kind === 'word' ? t.value.toUpperCase() : undefined);

/** Server administration: never an agent's business, whatever the grant. */
const administration: ReadonlySet<string> = new Set([
  'KILL', 'FLUSH', 'RESET', 'PURGE', 'CHANGE', 'STOP', 'INSTALL', 'UNINSTALL', 'SHUTDOWN', 'RESTART', 'BINLOG', 'CACHE', 'BACKUP', 'HELP',
  'CLONE', 'IMPORT',
]);
/** Compound statements (stored-program syntax MariaDB also runs outside stored programs). */
const compound: ReadonlySet<string> = new Set(['IF', 'CASE', 'WHILE', 'LOOP', 'REPEAT', 'DECLARE', 'LEAVE', 'ITERATE', 'RETURN', 'SIGNAL', 'RESIGNAL', 'GET', 'FOR']);
const maintenance: ReadonlySet<string> = new Set(['ANALYZE', 'OPTIMIZE', 'REPAIR', 'CHECK', 'CHECKSUM']);
const dataStarts: ReadonlySet<string> = new Set(['SELECT', 'WITH', 'VALUES', 'INSERT', 'REPLACE', 'UPDATE', 'DELETE', 'TABLE']);

export function classify(stmt: LexedStatement, ctx: ClassifyContext): SqlStatement {
  const { tokens, text } = stmt;
  const first = word(tokens[0]);
  const second = word(tokens[1]);
  const refuse = (reason: string) => unknownStatement(text, reason);

  if (tokens[0]?.kind === 'op' && tokens[0].value === '(') return data(stmt, ctx);
  if (!first) return refuse('the statement does not start with a keyword');
  if (dataStarts.has(first)) {
    const into = tokens.findIndex((t, i) => word(t) === 'INTO' && (word(tokens[i + 1]) === 'OUTFILE' || word(tokens[i + 1]) === 'DUMPFILE'));
    if (into !== -1) return refuse(`SELECT ... INTO ${word(tokens[into + 1])} writes a file on the database server`);
    // LOCK IN SHARE MODE is MySQL's older spelling of FOR SHARE, which the grammar reads.
    const share = tokens.findIndex((t, i) => word(t) === 'LOCK' && word(tokens[i + 1]) === 'IN' && word(tokens[i + 2]) === 'SHARE' && word(tokens[i + 3]) === 'MODE');
    if (share !== -1) {
      const forShare: Token[] = [{ kind: 'word', value: 'FOR', canonical: 'FOR' }, { kind: 'word', value: 'SHARE', canonical: 'SHARE' }];
      return data(stmt, ctx, render([...tokens.slice(0, share), ...forShare, ...tokens.slice(share + 4)]));
    }
    return data(stmt, ctx);
  }
  if (administration.has(first) || (first === 'START' && second !== 'TRANSACTION')) return refuse(`${first} is a server administration statement`);
  if (compound.has(first) || tokens[1]?.value === ':' || (first === 'BEGIN' && second !== undefined && second !== 'WORK')) {
    return refuse('compound statements (BEGIN ... END, IF, loops, DECLARE) are not accepted');
  }
  switch (first) {
    case 'DO': return doStatement(stmt, ctx);
    case 'EXPLAIN': case 'DESCRIBE': case 'DESC': return explain(stmt, ctx);
    case 'SHOW': return show(stmt);
    case 'USE': {
      const db = tokens[1];
      if (tokens.length !== 2 || (db.kind !== 'word' && db.kind !== 'quoted')) return refuse('USE takes one database name');
      return build(text, { kind: 'set', label: 'USE', setting: { name: 'database', local: false, values: [db.value] } });
    }
    case 'SET': return set(stmt, ctx);
    case 'START': case 'BEGIN': case 'COMMIT': case 'ROLLBACK': case 'SAVEPOINT': case 'RELEASE':
      return build(text, { kind: 'transaction', label: first === 'START' ? 'START TRANSACTION' : first, readWrite: asksReadWrite(tokens) });
    case 'XA': return build(text, { kind: 'two_phase', label: 'XA', needs: ['two_phase'] });
    case 'LOCK': return lockTables(stmt, ctx);
    case 'UNLOCK': return build(text, { kind: 'lock', label: 'UNLOCK TABLES' });
    case 'PREPARE': return prepare(stmt, ctx);
    case 'EXECUTE': {
      if (second === 'IMMEDIATE') return refuse('EXECUTE IMMEDIATE runs SQL text that is only known when it runs');
      const name = tokens[1];
      if (name?.kind !== 'word' && name?.kind !== 'quoted') return refuse('EXECUTE needs a statement name');
      return build(text, { kind: 'execute', label: 'EXECUTE', name: name.value.toLowerCase() });
    }
    case 'DEALLOCATE': case 'DROP':
      if (second === 'PREPARE') {
        const name = tokens[2];
        if (name?.kind !== 'word' && name?.kind !== 'quoted') return refuse('DEALLOCATE PREPARE needs a statement name');
        return build(text, { kind: 'deallocate', label: 'DEALLOCATE PREPARE', name: name.value.toLowerCase() });
      }
      return ddl(stmt, ctx, first);
    case 'CALL': {
      const parts = nameAt(tokens, 1);
      if (!parts) return refuse('CALL needs a procedure name');
      const collector = new Collector(ctx.names);
      const schema = parts.length > 1 ? collector.resolve(parts).schema : ctx.names.database;
      return build(text, { kind: 'call', label: 'CALL', needs: ['call'], collected: { ...nothing, functions: [{ schema, name: parts.at(-1)!.toLowerCase() }] } });
    }
    case 'TRUNCATE': {
      const parts = nameAt(tokens, second === 'TABLE' ? 2 : 1);
      if (!parts) return refuse('TRUNCATE needs a table name');
      const collector = new Collector(ctx.names);
      collector.relation(parts, 'delete');
      return build(text, { kind: 'truncate', label: 'TRUNCATE', needs: ['truncate'], collected: collector.result() });
    }
    case 'GRANT': case 'REVOKE': return build(text, { kind: 'grant', label: first, needs: ['grant'] });
    case 'CREATE': case 'ALTER': case 'RENAME': return ddl(stmt, ctx, first);
    case 'HANDLER': return refuse('HANDLER reads tables row by row outside of SELECT; use SELECT');
    case 'LOAD': return refuse('LOAD DATA and LOAD XML read files (on the server or the client); refused in both directions');
  }
  if (maintenance.has(first)) {
    if (first === 'ANALYZE' && second !== 'TABLE' && second !== 'NO_WRITE_TO_BINLOG' && second !== 'LOCAL') return explain(stmt, ctx); // MariaDB: ANALYZE SELECT runs it
    return build(text, { kind: 'maintenance', label: `${first} TABLE`, needs: ['maintenance'] });
  }
  return refuse(`statement ${first} is not classified by Gatehouse`);
}

/** `db.t` or `t` at tokens[at..]: the name parts, or undefined. */
function nameAt(tokens: Token[], at: number): string[] | undefined {
  const parts: string[] = [];
  for (let i = at; ; i += 2) {
    const t = tokens[i];
    if (t?.kind !== 'word' && t?.kind !== 'quoted') return undefined;
    parts.push(t.value);
    if (tokens[i + 1]?.value !== '.' || tokens[i + 1]?.kind !== 'op') return parts.length <= 2 ? parts : undefined;
  }
}

/** SELECT, INSERT, REPLACE, UPDATE, DELETE, WITH ...: parsed, then walked. */
function data(stmt: LexedStatement, ctx: ClassifyContext, canonical = stmt.canonical, scope: Scope = statementScope): SqlStatement {
  const parsed = parseOne(canonical);
  if (!parsed.ok) return unknownStatement(stmt.text, `the statement does not parse: ${parsed.error}`);
  return fromAst(parsed.ast, stmt.text, ctx, scope);
}

function fromAst(ast: Ast, text: string, ctx: ClassifyContext, scope: Scope = statementScope): SqlStatement {
  const variant = variantOf(ast);
  if (!variant) return unknownStatement(text, 'unexpected parser output');
  const [type, body] = variant as [string, Body];
  const collector = new Collector(ctx.names);
  switch (type) {
    case 'Query':
      collector.visit(ast, scope);
      return build(text, { kind: 'select', label: 'SELECT', collected: collector.result() });
    case 'Insert': return build(text, { kind: 'insert', label: body.replace_into ? 'REPLACE' : 'INSERT', collected: insert(body, collector) });
    case 'Update': return build(text, { kind: 'update', label: 'UPDATE', collected: update(body, collector) });
    case 'Delete': {
      const collected = deleteFrom(body, collector);
      return collected ? build(text, { kind: 'delete', label: 'DELETE', collected }) : unknownStatement(text, 'DELETE names a target that is not in its FROM list');
    }
    case 'Explain': case 'ExplainTable': {
      if (type === 'ExplainTable') return build(text, { kind: 'show', label: 'DESCRIBE' });
      const inner = body.statement ? fromAst(body.statement as Ast, text, ctx) : undefined;
      if (!inner) return unknownStatement(text, 'EXPLAIN without a statement');
      return build(text, { kind: 'explain', label: body.analyze ? 'EXPLAIN ANALYZE' : 'EXPLAIN', inner });
    }
    default:
      return unknownStatement(text, `statement type ${type} is not classified by Gatehouse`);
  }
}

function insert(body: Body, c: Collector): Collected {
  const parts = nameParts(variantOf(body.table)?.[1]);
  const scope: Scope = { ...statementScope, top: false };
  if (parts?.length) {
    c.relation(parts, 'insert');
    if (body.replace_into) c.relation(parts, 'delete'); // REPLACE deletes the rows the new one conflicts with
    const onDuplicate = variantOf(body.on)?.[0] === 'DuplicateKeyUpdate';
    if (onDuplicate) { c.relation(parts, 'update'); c.relation(parts, 'read'); } // ON DUPLICATE KEY UPDATE reads the existing row
    if (body.returning) c.relation(parts, 'read');
  } else c.relation(['(unknown insert target)'], 'insert');
  c.fields(body, scope, insertHandled);
  return c.result();
}

const insertHandled: ReadonlySet<string> = new Set(['table', 'columns', 'target', 'alias', 'span']);

interface Factor { parts: string[]; alias: string | null }

/** The tables of a FROM list (with their joins and nested joins); derived tables and the rest are walked as reads. */
function factors(list: unknown, c: Collector, scope: Scope): Factor[] {
  const found: Factor[] = [];
  const visitFactor = (factor: unknown) => {
    const v = variantOf(factor);
    if (v?.[0] === 'Table') {
      const body = v[1] as Body;
      const parts = nameParts(body.name);
      if (parts?.length && !body.args) {
        const alias = String(((body.alias as Body | undefined)?.name as Body | undefined)?.value ?? '') || null;
        found.push({ parts, alias: alias?.toLowerCase() ?? null });
        return;
      }
    }
    if (v?.[0] === 'NestedJoin') return withJoins((v[1] as Body).table_with_joins);
    c.visit(factor, scope);
  };
  const withJoins = (twj: unknown) => {
    const t = twj as Body | undefined;
    if (!t) return;
    visitFactor(t.relation);
    for (const join of (t.joins as Body[] | undefined) ?? []) {
      visitFactor(join.relation);
      c.visit(join.join_operator, scope);
    }
  };
  for (const twj of Array.isArray(list) ? list : [list]) withJoins(twj);
  return found;
}

const matches = (f: Factor, name: string) => f.alias === name || (f.alias === null && f.parts.at(-1)!.toLowerCase() === name);

function update(body: Body, c: Collector): Collected {
  const scope: Scope = { ...statementScope, top: false };
  const tables = factors(body.table, c, scope);
  const assignments = (body.assignments as Body[] | undefined) ?? [];
  const qualifiers = assignments.map((a) => {
    const parts = nameParts(variantOf(a.target)?.[1]);
    return parts && parts.length > 1 ? parts.at(-2)!.toLowerCase() : null;
  });
  // An unqualified target in a multi-table UPDATE could be any table's column: all of them may be written.
  const ambiguous = tables.length > 1 && qualifiers.some((q) => q === null);
  const reads = !!body.selection || tables.length > 1 || containsColumn(assignments.map((a) => a.value)) || !!(body.order_by as unknown[] | undefined)?.length;
  for (const t of tables) {
    const target = tables.length === 1 || ambiguous || qualifiers.some((q) => q !== null && matches(t, q));
    if (target) c.relation(t.parts, 'update', t.alias);
    if (!target || reads) c.relation(t.parts, 'read', t.alias);
  }
  c.fields(body, scope, new Set(['table', 'target', 'span']));
  return c.result();
}

function deleteFrom(body: Body, c: Collector): Collected | undefined {
  const scope: Scope = { ...statementScope, top: false };
  const from = variantOf(body.from)?.[1];
  const fromTables = factors(from, c, scope);
  const using = body.using ? factors(body.using, c, scope) : [];
  const named = ((body.tables as unknown[]) ?? []).map((t) => nameParts(t)?.at(-1)?.toLowerCase() ?? '');
  const all = [...fromTables, ...using];
  const targets = named.length ? named.map((n) => all.find((f) => matches(f, n))) : fromTables;
  if (targets.some((t) => t === undefined)) return undefined;
  const reads = !!body.selection || all.length > 1 || !!(body.order_by as unknown[] | undefined)?.length || !!body.returning;
  for (const t of all) {
    const target = targets.includes(t);
    if (target) c.relation(t.parts, 'delete', t.alias);
    if (!target || reads) c.relation(t.parts, 'read', t.alias);
  }
  c.fields(body, scope, new Set(['from', 'using', 'tables', 'span']));
  return c.result();
}

function containsColumn(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(containsColumn);
  if (value === null || typeof value !== 'object') return false;
  const v = variantOf(value);
  if (v?.[0] === 'Identifier' || v?.[0] === 'CompoundIdentifier' || v?.[0] === 'Subquery') return true;
  return Object.values(value).some(containsColumn);
}

/** DO expr, ...: evaluates expressions (and calls functions) and discards them; judged as that SELECT with no output. */
function doStatement(stmt: LexedStatement, ctx: ClassifyContext): SqlStatement {
  const canonical = 'SELECT ' + stmt.tokens.slice(1).map((t) => t.canonical).join(' ');
  const judged = data(stmt, ctx, canonical, { ...statementScope, top: false });
  return judged.kind === 'unknown' ? judged : { ...judged, label: 'DO' };
}

function explain(stmt: LexedStatement, ctx: ClassifyContext): SqlStatement {
  const { tokens, text } = stmt;
  if (word(tokens[1]) === 'FOR' || tokens.some((t) => word(t) === 'CONNECTION')) return unknownStatement(text, 'EXPLAIN FOR CONNECTION shows another session\'s statement');
  // EXPLAIN t / DESCRIBE t [col]: the table's columns, as SHOW COLUMNS.
  if (tokens[1] && (tokens[1].kind === 'word' || tokens[1].kind === 'quoted') && !dataStarts.has(word(tokens[1]) ?? '') && !['FORMAT', 'EXTENDED', 'PARTITIONS', 'ANALYZE'].includes(word(tokens[1]) ?? '')) {
    return build(text, { kind: 'show', label: 'DESCRIBE' });
  }
  const canonical = word(tokens[0]) === 'ANALYZE' ? 'EXPLAIN ANALYZE ' + tokens.slice(1).map((t) => t.canonical).join(' ') : stmt.canonical;
  return data(stmt, ctx, canonical);
}

/** SHOW forms that describe the schema or this session; the rest expose other sessions, privileges or server state. */
const showAllowed: readonly string[][] = [
  ['TABLES'], ['DATABASES'], ['SCHEMAS'], ['COLUMNS'], ['FIELDS'], ['INDEX'], ['INDEXES'], ['KEYS'], ['TABLE', 'STATUS'], ['OPEN', 'TABLES'],
  ['CREATE', 'TABLE'], ['CREATE', 'VIEW'], ['CREATE', 'DATABASE'], ['CREATE', 'SCHEMA'], ['VARIABLES'], ['SESSION', 'VARIABLES'],
  ['LOCAL', 'VARIABLES'], ['STATUS'], ['SESSION', 'STATUS'], ['LOCAL', 'STATUS'], ['WARNINGS'], ['ERRORS'], ['COUNT'], ['COLLATION'],
  ['CHARACTER', 'SET'], ['CHARSET'], ['ENGINES'], ['STORAGE', 'ENGINES'], ['TRIGGERS'], ['PLUGINS'], ['PRIVILEGES'], ['TABLE', 'TYPES'],
];

function show(stmt: LexedStatement): SqlStatement {
  const { tokens, text } = stmt;
  const words = tokens.slice(1).map(word);
  let at = 0;
  while (words[at] === 'FULL' || words[at] === 'EXTENDED') at++;
  const form = showAllowed.find((f) => f.every((w, i) => words[at + i] === w));
  const label = `SHOW ${tokens.slice(1, 1 + at + (form?.length ?? 1)).map((t) => t.value.toUpperCase()).join(' ')}`;
  if (!form) return unknownStatement(text, `${label} exposes other sessions, privileges or server internals`);
  // SHOW ... WHERE takes an expression; a subquery there would read tables unchecked.
  if (tokens.some((t) => word(t) === 'SELECT')) return unknownStatement(text, `${label} with a subquery is not accepted`);
  return build(text, { kind: 'show', label, setting: { name: form.join(' ').toLowerCase(), local: false, values: [] } });
}

function set(stmt: LexedStatement, ctx: ClassifyContext): SqlStatement {
  const result = classifySet(stmt.tokens);
  if (result.kind === 'unknown') return unknownStatement(stmt.text, result.reason);
  // Assigned values may be expressions: subqueries and function calls in them are judged like a SELECT's (never output).
  let collected: Collected | undefined;
  if (result.expressions.length) {
    const canonical = 'SELECT ' + result.expressions.map((e) => '(' + e.map((t) => t.canonical).join(' ') + ')').join(', ');
    const judged = data(stmt, ctx, canonical, { ...statementScope, top: false });
    if (judged.kind === 'unknown') return judged;
    collected = judged;
  }
  const parts: Parts = { kind: result.kind, label: result.label, needs: result.needs, ...(collected ? { collected } : {}) };
  if (result.setting) parts.setting = result.setting;
  if (result.readWrite) parts.readWrite = true;
  return build(stmt.text, parts);
}

/** LOCK TABLES t [AS a] READ [LOCAL] | [LOW_PRIORITY] WRITE [CONCURRENT], ...: READ reads, WRITE blocks writers as an update would. */
function lockTables(stmt: LexedStatement, ctx: ClassifyContext): SqlStatement {
  const { tokens, text } = stmt;
  if (word(tokens[1]) !== 'TABLES' && word(tokens[1]) !== 'TABLE') return unknownStatement(text, 'LOCK needs TABLES');
  const collector = new Collector(ctx.names);
  let i = 2;
  for (;;) {
    const parts = nameAt(tokens, i);
    if (!parts) return unknownStatement(text, 'LOCK TABLES needs table names');
    i += parts.length * 2 - 1;
    if (word(tokens[i]) === 'AS') i++;
    if (tokens[i]?.kind === 'word' && !['READ', 'WRITE', 'LOW_PRIORITY'].includes(word(tokens[i])!)) i++; // an alias
    const mode = word(tokens[i]) === 'LOW_PRIORITY' ? word(tokens[++i]) : word(tokens[i]);
    if (mode !== 'READ' && mode !== 'WRITE') return unknownStatement(text, 'LOCK TABLES needs READ or WRITE for each table');
    collector.relation(parts, mode === 'READ' ? 'read' : 'update');
    i++;
    while (word(tokens[i]) === 'LOCAL' || word(tokens[i]) === 'CONCURRENT') i++;
    if (tokens[i]?.value === ',') { i++; continue; }
    if (word(tokens[i]) === 'WAIT' || word(tokens[i]) === 'NOWAIT') i += word(tokens[i]) === 'WAIT' ? 2 : 1;
    if (i < tokens.length) return unknownStatement(text, 'unexpected words after LOCK TABLES');
    break;
  }
  return build(text, { kind: 'lock', label: 'LOCK TABLES', needs: ['lock'], collected: collector.result() });
}

/** PREPARE name FROM 'text' judges the text now; PREPARE FROM @variable is refused (its SQL is only known when it runs). */
function prepare(stmt: LexedStatement, ctx: ClassifyContext): SqlStatement {
  const { tokens, text } = stmt;
  const name = tokens[1];
  if ((name?.kind !== 'word' && name?.kind !== 'quoted') || word(tokens[2]) !== 'FROM' || tokens.length !== 4) return unknownStatement(text, 'PREPARE needs a name and FROM with the statement text');
  const source = tokens[3];
  if (source.kind !== 'string') return unknownStatement(text, 'PREPARE ... FROM a variable: the SQL text is only known when it runs, so it cannot be judged');
  const lexed = lex(source.value, ctx.mode, ctx.server);
  if (!lexed.ok) return unknownStatement(text, `the prepared text: ${lexed.reason}`);
  if (lexed.statements.length !== 1) return unknownStatement(text, 'a prepared statement must contain exactly one statement');
  const inner = classify(lexed.statements[0], ctx);
  if (!['select', 'insert', 'update', 'delete', 'explain', 'show', 'unknown'].includes(inner.kind)) {
    return unknownStatement(text, `${inner.label} may not be prepared through SQL PREPARE; send it directly`);
  }
  return build(text, { kind: 'prepare', label: 'PREPARE', name: name.value.toLowerCase(), inner });
}

/** CREATE/ALTER/DROP/RENAME: schema changes, refused unless `ddl` is granted; a query inside (CREATE TABLE ... AS SELECT, CREATE VIEW) is judged too. */
function ddl(stmt: LexedStatement, ctx: ClassifyContext, first: string): SqlStatement {
  const { tokens, text } = stmt;
  const words = tokens.slice(1, 4).map(word);
  if (words.includes('USER') || words.includes('ROLE')) return build(text, { kind: 'grant', label: `${first} ${words.includes('USER') ? 'USER' : 'ROLE'}`, needs: ['grant'] });
  const object = tokens.slice(1, 7).map(word).find((w) => w !== undefined && ddlObjects.has(w));
  const label = object ? `${first} ${object}` : first;
  const select = tokens.findIndex((t) => word(t) === 'SELECT');
  if (select === -1) return build(text, { kind: 'ddl', label, needs: ['ddl'] });
  const parsed = parseOne(stmt.canonical);
  if (!parsed.ok) return unknownStatement(text, `the statement does not parse: ${parsed.error}`);
  const query = findQuery(parsed.ast);
  if (!query) return unknownStatement(text, `${label} holds a query Gatehouse cannot find`);
  // The query's rows go into a table or a view definition, not to the client: never a plain projection.
  return build(text, { kind: 'ddl', label, needs: ['ddl'], inner: fromAst({ Query: query }, text, ctx, { ...statementScope, top: false }) });
}

/** What a CREATE/ALTER/DROP/RENAME may be about, for its label. */
const ddlObjects: ReadonlySet<string> = new Set([
  'TABLE', 'TABLES', 'VIEW', 'INDEX', 'DATABASE', 'SCHEMA', 'PROCEDURE', 'FUNCTION', 'TRIGGER', 'EVENT', 'SEQUENCE', 'SERVER', 'TABLESPACE',
]);

function findQuery(ast: unknown): unknown {
  if (ast === null || typeof ast !== 'object') return undefined;
  for (const [key, value] of Object.entries(ast)) {
    if ((key === 'query' || key === 'as_select') && value && typeof value === 'object' && 'body' in value) return value;
    const found = findQuery(value);
    if (found) return found;
  }
  return undefined;
}
