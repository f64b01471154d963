// One grammar for `approve:` in every grant: "VERB TARGET" — the adapter's own action and a glob over what it acts on
// ("DELETE /invoices/*", "DEL doc:*", "write out/reports/**"); a one-word entry names an action (SQL: "delete") or a
// target (a model, a tool), as the adapter says. Compiled at start-up: a bad entry stops the gateway, not a request.

/** Compiles a target glob in the adapter's own naming (path segments, key bytes, tool names) to a test. */
export type TargetGlob = (glob: string) => (target: string) => boolean;

export interface ApproveSyntax {
  /** The actions this adapter knows, compared case-insensitively; an entry naming another is a config error. */
  verbs: readonly string[];
  /** What a one-word entry names. */
  bare: 'verb' | 'target';
  glob: TargetGlob;
}

/** Returns the entry that asks for a human before `verb` on `target`, if any. */
export type ApproveMatcher = (verb: string, target: string) => string | undefined;

export function compileApprovals(entries: readonly string[], syntax: ApproveSyntax): ApproveMatcher {
  const verbs = new Set(syntax.verbs.map((v) => v.toLowerCase()));
  const rules = entries.map((text) => {
    const parts = text.trim().split(/\s+/);
    if (parts.length > 2 || !parts[0]) throw new Error(`approve entry "${text}" is not "VERB TARGET"`);
    const [verb, target] = parts.length === 2 ? parts : syntax.bare === 'verb' ? [parts[0], undefined] : [undefined, parts[0]];
    if (verb !== undefined && verb !== '*' && !verbs.has(verb.toLowerCase())) {
      throw new Error(`approve entry "${text}": "${verb}" is not one of ${syntax.verbs.join(', ')}`);
    }
    const matches = target === undefined ? () => true : syntax.glob(target);
    return { text, verb: verb === undefined || verb === '*' ? undefined : verb.toLowerCase(), matches };
  });
  return (verb, target) => {
    const v = verb.toLowerCase();
    return rules.find((r) => (r.verb === undefined || r.verb === v) && r.matches(target))?.text;
  };
}

/** Names (tools, models, hosts): `*` is any run of characters, `?` one; everything else literal. */
export const nameGlob: TargetGlob = (glob) => {
  const re = new RegExp(`^${glob.split('').map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('')}$`, 's');
  return (target) => re.test(target);
};

/** Slash-separated paths: `*` is one segment (or part of one), `**` any number of segments; `dir/**` is `dir` too. */
export const pathGlob: TargetGlob = (glob) => {
  const escape = (s: string) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  const segments = glob.split('/').filter(Boolean);
  let re = '';
  let sep = '';
  segments.forEach((seg, i) => {
    const last = i === segments.length - 1;
    if (seg === '**') {
      // Not last: any number of whole segments, each with its slash. Last: any number more, or none.
      re += !last ? `${sep}(?:[^/]+/)*` : i === 0 ? '(?:[^/]+(?:/[^/]+)*)?' : '(?:/[^/]+)*';
      sep = '';
      return;
    }
    if (seg.includes('**')) throw new Error(`glob "${glob}": ** must be a whole segment`);
    re += sep + seg.split('*').map(escape).join('[^/]*');
    sep = '/';
  });
  const compiled = new RegExp(`^${re}$`);
  return (target) => compiled.test(target.replace(/^\/+|\/+$/g, ''));
};
