// Reads SQL text exactly as the MySQL/MariaDB server's lexer does (comments, executable comments, strings under sql_mode), splits statements, and re-renders each in a canonical form no other lexer can misread.

/** The sql_mode flags that change how text is tokenized. */
export interface LexMode {
  /** ANSI_QUOTES: `"x"` is an identifier, not a string. */
  ansiQuotes: boolean;
  /** NO_BACKSLASH_ESCAPES: a backslash inside a string is an ordinary character. */
  noBackslashEscapes: boolean;
}

/** The upstream server, whose version decides which executable comments run. */
export interface ServerFlavor {
  mariadb: boolean;
  /** As the server compares it: 10.11.19 is 101119, 8.0.36 is 80036. */
  version: number;
}

export type TokenKind = 'word' | 'quoted' | 'string' | 'number' | 'literal' | 'variable' | 'system' | 'param' | 'op';

export interface Token {
  kind: TokenKind;
  /** Words and operators as written; quoted identifiers and strings unescaped; variables without their `@`. */
  value: string;
  /** How the token is handed to the grammar parser. */
  canonical: string;
}

export interface LexedStatement {
  /** This statement's slice of the original text (comments included). */
  text: string;
  tokens: Token[];
  /** Tokens re-rendered: no comments, executable comments expanded, strings and identifiers in one quoting style. */
  canonical: string;
}

export type LexResult = { ok: true; statements: LexedStatement[] } | { ok: false; reason: string };

const isDigit = (c: string) => c >= '0' && c <= '9';
const isHex = (c: string) => isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
/** The server's ident_map for utf8mb4: ASCII letters, digits, `_`, `$`, and every byte of a multi-byte character. */
const isIdent = (c: string) => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || isDigit(c) || c === '_' || c === '$' || c >= '\u0080';
/** MY_LEX_SKIP for utf8mb4: ASCII whitespace only (U+00A0 and friends are identifier characters to the server). */
const isSpace = (c: string) => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\v' || c === '\f';
/** What may follow `--` for it to start a comment: my_isspace or my_iscntrl (end of input reads as NUL, a control). */
const startsDashComment = (c: string | undefined) => c === undefined || c <= ' ' || c === '\x7f';

/** Operators the server reads as one token, longest first. */
const operators = ['<=>', '->>', '<=', '>=', '<>', '!=', '<<', '>>', ':=', '&&', '||', '->'];

/** Character sets a `_name` introducer may name before a string (the server reads `_other` as an identifier). */
const charsets: ReadonlySet<string> = new Set([
  'armscii8', 'ascii', 'big5', 'binary', 'cp1250', 'cp1251', 'cp1256', 'cp1257', 'cp850', 'cp852', 'cp866', 'cp932', 'dec8', 'eucjpms',
  'euckr', 'gb18030', 'gb2312', 'gbk', 'geostd8', 'greek', 'hebrew', 'hp8', 'keybcs2', 'koi8r', 'koi8u', 'latin1', 'latin2', 'latin5',
  'latin7', 'macce', 'macroman', 'sjis', 'swe7', 'tis620', 'ucs2', 'ujis', 'utf16', 'utf16le', 'utf32', 'utf8', 'utf8mb3', 'utf8mb4',
]);

const quoteIdent = (name: string) => '`' + name.replace(/`/g, '``') + '`';
const quoteString = (value: string) => "'" + value.replace(/\\/g, '\\\\').replace(/'/g, "''").replace(/\0/g, '\\0') + "'";

class LexError extends Error {}

/**
 * Splits `text` into statements and tokens as the server would read it under `mode`. Fails (refuse the query) on what
 * the server would not run as written, or what Gatehouse does not read with certainty: unterminated strings or
 * comments, NUL characters, executable comments that nest or hold a `;`, optimizer hints that set variables.
 */
export function lex(text: string, mode: LexMode, server: ServerFlavor): LexResult {
  try {
    return { ok: true, statements: new Lexer(text, mode, server).run() };
  } catch (error) {
    if (error instanceof LexError) return { ok: false, reason: error.message };
    throw error;
  }
}

class Lexer {
  private i = 0;
  /** Inside an executable comment the server runs: its `*` `/` ends it. */
  private inExecutable = false;
  private statements: LexedStatement[] = [];
  private tokens: Token[] = [];
  private start = 0;

  constructor(private readonly s: string, private readonly mode: LexMode, private readonly server: ServerFlavor) {}

  run(): LexedStatement[] {
    const { s } = this;
    if (s.includes('\0')) throw new LexError('the query contains a NUL character');
    while (this.i < s.length) {
      const c = s[this.i];
      if (isSpace(c)) { this.i++; continue; }
      if (c === '#' || (c === '-' && s[this.i + 1] === '-' && startsDashComment(s[this.i + 2]))) { this.lineComment(); continue; }
      if (c === '/' && s[this.i + 1] === '*') { this.blockComment(); continue; }
      if (c === '*' && s[this.i + 1] === '/' && this.inExecutable) { this.inExecutable = false; this.i += 2; continue; }
      if (c === ';') {
        if (this.inExecutable) throw new LexError('a ";" inside an executable comment is not accepted');
        this.i++;
        this.endStatement(this.i - 1);
        this.start = this.i;
        continue;
      }
      this.token();
    }
    if (this.inExecutable) throw new LexError('unterminated executable comment');
    this.endStatement(s.length);
    return this.statements;
  }

  private endStatement(end: number) {
    if (!this.tokens.length) return;
    const text = this.s.slice(this.start, end).trim();
    this.statements.push({ text, tokens: this.tokens, canonical: render(this.tokens) });
    this.tokens = [];
  }

  private push(kind: TokenKind, value: string, canonical: string = value) {
    this.tokens.push({ kind, value, canonical });
  }

  private lineComment() {
    // The server ends `#` and `-- ` comments at a newline only (a lone carriage return does not end them).
    const end = this.s.indexOf('\n', this.i);
    this.i = end === -1 ? this.s.length : end + 1;
  }

  private blockComment() {
    const { s } = this;
    const at = this.i;
    const maria = s[at + 2] === 'M' && s[at + 3] === '!';
    if (s[at + 2] === '!' || maria) {
      if (this.inExecutable) throw new LexError('executable comments nested in executable comments are not accepted');
      // MySQL reads MariaDB's `/*M!` as a plain comment.
      if (maria && !this.server.mariadb) return this.skipComment(at + 2, 0);
      let j = at + (maria ? 4 : 3);
      let digits = 0;
      while (digits < 6 && isDigit(s[j + digits] ?? '')) digits++;
      if (digits < 5) {
        // No version: the content always runs.
        this.inExecutable = true;
        this.i = j;
        return;
      }
      if (!this.server.mariadb && digits === 6) throw new LexError('a 6-digit executable comment version is ambiguous for MySQL');
      const version = Number(s.slice(j, j + digits));
      j += digits;
      if (this.runs(version, maria)) {
        this.inExecutable = true;
        this.i = j;
        return;
      }
      // A comment for a newer server: skipped whole, and one level of plain comment may nest inside it.
      return this.skipComment(j, 1);
    }
    if (s[at + 2] === '+' && /set_var/i.test(s.slice(at, this.commentEnd(at + 2)))) {
      throw new LexError('optimizer hints that set variables (SET_VAR) are not accepted');
    }
    this.skipComment(at + 2, 0);
  }

  /** Whether the server runs a versioned executable comment (MariaDB also skips MySQL 5.7+ versions it does not claim). */
  private runs(version: number, maria: boolean): boolean {
    if (maria) return this.server.mariadb && version <= this.server.version;
    if (version > this.server.version) return false;
    return !this.server.mariadb || version < 50700 || version > 99999;
  }

  private commentEnd(from: number): number {
    const end = this.s.indexOf('*/', from);
    return end === -1 ? this.s.length : end;
  }

  /** Skips a comment body from `from`; `nesting` plain comments may open inside (the server's consume_comment). */
  private skipComment(from: number, nesting: number) {
    const { s } = this;
    let j = from;
    for (;;) {
      if (j >= s.length - 1) throw new LexError('unterminated comment');
      if (nesting > 0 && s[j] === '/' && s[j + 1] === '*') {
        const inner = s.indexOf('*/', j + 2);
        if (inner === -1) throw new LexError('unterminated comment');
        j = inner + 2;
        continue;
      }
      if (s[j] === '*' && s[j + 1] === '/') break;
      j++;
    }
    this.i = j + 2;
  }

  private token() {
    const { s } = this;
    const c = s[this.i];
    const next = s[this.i + 1] ?? '';
    if (c === "'" || (c === '"' && !this.mode.ansiQuotes)) return this.string(c, '');
    if (c === '"' || c === '`') return this.quotedIdent(c);
    if ((c === 'N' || c === 'n') && next === "'") { this.i++; return this.string("'", 'N'); }
    if ((c === 'X' || c === 'x' || c === 'B' || c === 'b') && next === "'") return this.bitLiteral(c.toUpperCase());
    if (c === '@') return this.variable();
    if (c === '\\' && next === 'N') { this.i += 2; return this.push('word', 'NULL'); }
    if (c === '?') { this.i++; return this.push('param', '?'); }
    if (isDigit(c) || (c === '.' && isDigit(next))) return this.number();
    if (isIdent(c)) return this.word();
    const op = operators.find((o) => s.startsWith(o, this.i));
    if (op) { this.i += op.length; return this.push('op', op); }
    this.i++;
    this.push('op', c);
  }

  /** A string literal; `prefix` is `N` for a national string. A charset introducer glued before it stays glued. */
  private string(quote: string, prefix: string) {
    const { s } = this;
    let value = '';
    let j = this.i + 1;
    for (;;) {
      if (j >= s.length) throw new LexError('unterminated string');
      const c = s[j];
      if (c === '\\' && !this.mode.noBackslashEscapes) {
        if (j + 1 >= s.length) throw new LexError('unterminated string');
        value += unescape(s[j + 1]);
        j += 2;
        continue;
      }
      if (c === quote) {
        if (s[j + 1] === quote) { value += quote; j += 2; continue; }
        break;
      }
      value += c;
      j++;
    }
    const introducer = this.tokens.at(-1);
    const glued = !prefix && introducer?.kind === 'word' && charsets.has(introducer.value.toLowerCase().slice(1)) && introducer.value[0] === '_';
    this.i = j + 1;
    if (glued) {
      introducer.kind = 'literal';
      introducer.canonical = introducer.value + quoteString(value);
      introducer.value = value;
      return;
    }
    this.push('string', value, prefix + quoteString(value));
  }

  private quotedIdent(quote: string) {
    const { s } = this;
    let value = '';
    let j = this.i + 1;
    for (;;) {
      if (j >= s.length) throw new LexError('unterminated quoted identifier');
      if (s[j] === quote) {
        if (s[j + 1] === quote) { value += quote; j += 2; continue; }
        break;
      }
      value += s[j++];
    }
    this.i = j + 1;
    this.push('quoted', value, quoteIdent(value));
  }

  /** X'..' and B'..' literals: only hex digits or bits between the quotes. */
  private bitLiteral(kind: string) {
    const { s } = this;
    const end = s.indexOf("'", this.i + 2);
    if (end === -1) throw new LexError('unterminated literal');
    const body = s.slice(this.i + 2, end);
    if (kind === 'X' ? !/^[0-9a-fA-F]*$/.test(body) : !/^[01]*$/.test(body)) throw new LexError(`malformed ${kind}'...' literal`);
    this.i = end + 1;
    this.push('literal', body, `${kind}'${body}'`);
  }

  /** `@name`, `@'name'` and `@@[global.|session.|local.]name`. */
  private variable() {
    const { s } = this;
    // 'user'@'host' in account names: the server's MY_LEX_USER_END, an `@` between two names.
    const previous = this.tokens.at(-1);
    if ((previous?.kind === 'string' || previous?.kind === 'quoted') && s[this.i - 1] === (previous.kind === 'string' ? "'" : '`') && s[this.i - 1] !== undefined) {
      this.i++;
      return this.push('op', '@');
    }
    if (s[this.i + 1] === '@') {
      let j = this.i + 2;
      while (j < s.length && (isIdent(s[j]) || (s[j] === '.' && isIdent(s[j + 1] ?? '')))) j++;
      const name = s.slice(this.i + 2, j);
      if (!name) throw new LexError('malformed system variable');
      this.i = j;
      return this.push('system', name.toLowerCase(), `@@${name}`);
    }
    const q = s[this.i + 1];
    if (q === "'" || q === '"' || q === '`') {
      // The server reads the quoted name with the quote's own rules; only simple names are taken.
      const end = s.indexOf(q, this.i + 2);
      const name = end === -1 ? '' : s.slice(this.i + 2, end);
      if (!/^[A-Za-z0-9_$.]+$/.test(name)) throw new LexError('quoted user variable names must be simple');
      this.i = end + 1;
      return this.push('variable', name.toLowerCase(), `@${name}`);
    }
    let j = this.i + 1;
    while (j < s.length && (isIdent(s[j]) || s[j] === '.')) j++;
    const name = s.slice(this.i + 1, j);
    if (!name) { this.i++; return this.push('op', '@'); }
    if (!/^[A-Za-z0-9_$.]+$/.test(name)) throw new LexError('user variable names must be ASCII');
    this.i = j;
    this.push('variable', name.toLowerCase(), `@${name}`);
  }

  /** Numbers as the server's MY_LEX_NUMBER_IDENT reads them: `0x1F`, `0b10`, `1.5e3`; digits glued to letters make an identifier. */
  private number() {
    const { s } = this;
    const at = this.i;
    let j = at;
    if (s[j] === '0' && (s[j + 1] === 'x' || s[j + 1] === 'b')) {
      const hex = s[j + 1] === 'x';
      let k = j + 2;
      while (k < s.length && (hex ? isHex(s[k]) : s[k] === '0' || s[k] === '1')) k++;
      if (k > j + 2 && !isIdent(s[k] ?? '')) { this.i = k; return this.push('literal', s.slice(at, k)); }
    }
    while (j < s.length && isDigit(s[j])) j++;
    if (j < s.length && isIdent(s[j]) && s[j] !== 'e' && s[j] !== 'E') return this.wordFrom(at);
    if (s[j] === '.' ) { j++; while (j < s.length && isDigit(s[j])) j++; }
    if (s[j] === 'e' || s[j] === 'E') {
      let k = j + 1;
      if (s[k] === '+' || s[k] === '-') k++;
      if (isDigit(s[k] ?? '')) {
        while (k < s.length && isDigit(s[k])) k++;
        j = k;
      } else if (!s.slice(at, j).includes('.')) return this.wordFrom(at); // `1e` `1ea`: an identifier
      else throw new LexError('malformed number');
    }
    if (j < s.length && isIdent(s[j])) {
      if (s.slice(at, j).includes('.')) throw new LexError('malformed number');
      return this.wordFrom(at);
    }
    this.i = j;
    this.push('number', s.slice(at, j));
  }

  private word() {
    this.wordFrom(this.i);
  }

  /** An unquoted identifier or keyword; one that starts with a digit or holds non-ASCII is only ever an identifier. */
  private wordFrom(at: number) {
    const { s } = this;
    let j = at;
    while (j < s.length && isIdent(s[j])) j++;
    this.i = j;
    const value = s.slice(at, j);
    const identOnly = isDigit(value[0]) || /[^\x00-\x7f]/.test(value);
    this.push(identOnly ? 'quoted' : 'word', value, identOnly ? quoteIdent(value) : value);
  }
}

/** The server's escapes inside strings; `\%` and `\_` keep their backslash (they are LIKE escapes). */
function unescape(c: string): string {
  switch (c) {
    case '0': return '\0';
    case 'b': return '\b';
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    case 'Z': return '\x1a';
    case '%': return '\\%';
    case '_': return '\\_';
    default: return c;
  }
}

const isName = (t: Token | undefined) => t?.kind === 'word' || t?.kind === 'quoted';
const isDot = (t: Token | undefined) => t?.kind === 'op' && t.value === '.';

/** Tokens joined by single spaces, except a `.` between names (`db.t`, `t.*`), which stays glued so it reads as one name. */
export function render(tokens: readonly Token[]): string {
  let out = '';
  tokens.forEach((t, i) => {
    const prev = tokens[i - 1];
    const glue = (isDot(t) && isName(prev)) || (isDot(prev) && isName(tokens[i - 2]) && (isName(t) || (t.kind === 'op' && t.value === '*')));
    out += (i === 0 || glue ? '' : ' ') + t.canonical;
  });
  return out;
}
