// One inventory per dialect says, for every request field, whether Gatehouse understands it, whether it grants a
// capability, and whether it carries text to the model. Walking a body with it yields every text the model will read
// (to scan and redact in place), the capabilities asked for, and every field it does not know (refused by default).
import type { ParseOptions, TextSlot } from '../dialect.ts';

export type Field =
  /** Understood; carries no text to the model (sampling settings, ids, flags). */
  | { k: 'plain' }
  /** A string the model reads, in the role around it unless `role` says otherwise. */
  | { k: 'text'; role?: string }
  /** A JSON value the model reads as text (tool schemas, tool inputs): scanned as its JSON. */
  | { k: 'json'; role?: string }
  /** An image or file URL: a `data:text/...` URL is text the model reads; other data URLs and links are not text. */
  | { k: 'url' }
  /** The model reads it but Gatehouse cannot (files, audio, stored prompts): refused where content rules apply. */
  | { k: 'opaque'; what: string }
  /** An object with these fields (`rest`: what any other field is; unknown when absent). */
  | { k: 'object'; fields: Fields; rest?: Field }
  | { k: 'list'; of: Field }
  /** A value whose JSON kind picks the shape (a string, or an array of parts). */
  | { k: 'kinds'; string?: Field; array?: Field; object?: Field; number?: Field; boolean?: Field }
  /** An object picked by the string in `tag` (`type`, `role`); a tag named `role` sets the role. `*` ends a prefix case. */
  | { k: 'tagged'; tag: string; cases: Record<string, Field>; missing?: string }
  /** A field naming the role of the object it is in (Responses `message` items). */
  | { k: 'role'; values: readonly string[] }
  /** Present (not null or false): asks for a capability the grant must name. */
  | { k: 'capability'; name: string; of: Field }
  /** The subtree is in this role (tool results, tool definitions). */
  | { k: 'as'; role: string; of: Field };

export type Fields = Record<string, Field>;

export const plain: Field = { k: 'plain' };
export const text = (role?: string): Field => ({ k: 'text', role });
export const json = (role?: string): Field => ({ k: 'json', role });
export const url: Field = { k: 'url' };
export const opaque = (what: string): Field => ({ k: 'opaque', what });
export const object = (fields: Fields, rest?: Field): Field => ({ k: 'object', fields, rest });
export const list = (of: Field): Field => ({ k: 'list', of });
export const kinds = (by: Omit<Extract<Field, { k: 'kinds' }>, 'k'>): Field => ({ k: 'kinds', ...by });
export const tagged = (tag: string, cases: Record<string, Field>, missing?: string): Field => ({ k: 'tagged', tag, cases, missing });
export const roleField = (values: readonly string[]): Field => ({ k: 'role', values });
export const capability = (name: string, of: Field = plain): Field => ({ k: 'capability', name, of });
export const as = (role: string, of: Field): Field => ({ k: 'as', role, of });
/** Every field plain: for objects that carry settings only (metadata, stream_options). */
export const settings = (): Field => object({}, plain);

export interface Walked {
  slots: TextSlot[];
  /** Paths of fields (and beta flags) the inventory does not know, each with what was wrong. */
  unknown: string[];
  capabilities: { name: string; where: string }[];
  /** The first part the model would read that Gatehouse cannot. */
  opaque?: string;
}

/**
 * Walks `body` with a dialect's inventory. With `forwardUnknown`, unknown fields are still listed (for the audit) but
 * every string inside them becomes a text slot, so nothing the model may read goes unscanned.
 */
export function walk(body: Record<string, unknown>, root: Fields, role: string, forwardUnknown: boolean): Walked {
  const out: Walked = { slots: [], unknown: [], capabilities: [] };
  const unknown = (path: string, why: string, holder: Holder, key: string | number, r: string) => {
    out.unknown.push(`${path} (${why})`);
    if (forwardUnknown) everyString(holder, key, r, out.slots);
  };

  function visit(field: Field, holder: Holder, key: string | number, path: string, r: string): void {
    const value = holder[key];
    if (value === null || value === undefined) return;
    switch (field.k) {
      case 'plain': return;
      case 'text':
        if (typeof value === 'string') out.slots.push(slot(holder, key, field.role ?? r));
        else unknown(path, `${kindOf(value)} where text was expected`, holder, key, r);
        return;
      case 'json':
        out.slots.push(jsonSlot(holder, key, field.role ?? r));
        return;
      case 'url':
        if (typeof value !== 'string') return unknown(path, `${kindOf(value)} where a URL was expected`, holder, key, r);
        return dataUrl(holder, key, path, r);
      case 'opaque':
        out.opaque ??= `${field.what} (${path}) cannot be inspected`;
        return;
      case 'as':
        return visit(field.of, holder, key, path, field.role);
      case 'capability':
        if (value === false) return;
        out.capabilities.push({ name: field.name, where: path });
        return visit(field.of, holder, key, path, r);
      case 'list':
        if (!Array.isArray(value)) return unknown(path, `${kindOf(value)} where a list was expected`, holder, key, r);
        for (let i = 0; i < value.length; i++) visit(field.of, value as unknown as Holder, i, `${path}[${i}]`, r);
        return;
      case 'kinds': {
        const pick = field[kindOf(value) as 'string' | 'array' | 'object' | 'number' | 'boolean'];
        if (!pick) return unknown(path, `${kindOf(value)} is not a shape this field takes`, holder, key, r);
        return visit(pick, holder, key, path, r);
      }
      case 'role':
        if (typeof value !== 'string' || !field.values.includes(value)) unknown(path, `role ${JSON.stringify(value)} is not one of ${field.values.join(', ')}`, holder, key, r);
        return;
      case 'object':
        if (!isRecord(value)) return unknown(path, `${kindOf(value)} where an object was expected`, holder, key, r);
        return fields(field, value, path, r, undefined);
      case 'tagged': {
        if (!isRecord(value)) return unknown(path, `${kindOf(value)} where an object was expected`, holder, key, r);
        const tag = value[field.tag] ?? field.missing;
        const chosen = typeof tag === 'string' ? caseFor(field.cases, tag) : undefined;
        if (!chosen) return unknown(path, `${field.tag} ${JSON.stringify(tag ?? null)} is not one Gatehouse understands`, holder, key, r);
        const inner = field.tag === 'role' ? (tag as string) : r;
        return visitCase(chosen, value, path, inner, field.tag);
      }
    }
  }

  /** A tagged case: its object knows the tag key; `as` wrappers set the role. */
  function visitCase(field: Field, value: Record<string, unknown>, path: string, r: string, tag: string): void {
    if (field.k === 'as') return visitCase(field.of, value, path, field.role, tag);
    if (field.k !== 'object') return visit(field, { v: value }, 'v', path, r);
    fields(field, value, path, r, tag);
  }

  function fields(field: Extract<Field, { k: 'object' }>, value: Record<string, unknown>, path: string, r: string, tag: string | undefined) {
    // A role field sets the role of its siblings before they are read.
    for (const [name, f] of Object.entries(field.fields)) {
      if (f.k === 'role' && typeof value[name] === 'string' && f.values.includes(value[name] as string)) r = value[name] as string;
    }
    for (const name of Object.keys(value)) {
      // Own properties only: `constructor` or `__proto__` must not find Object.prototype's members.
      const f = Object.prototype.hasOwnProperty.call(field.fields, name) ? field.fields[name] : name === tag ? plain : field.rest;
      const sub = path ? `${path}.${name}` : name;
      if (f) visit(f, value, name, sub, r);
      else unknown(sub, 'not a field Gatehouse understands here', value, name, r);
    }
  }

  function dataUrl(holder: Holder, key: string | number, path: string, r: string) {
    const m = /^data:([^,;]*)((?:;[^,;]*)*?)(;base64)?,/i.exec(holder[key] as string);
    if (!m) return; // a link: the provider fetches an image, which is not text
    const type = m[1].toLowerCase();
    if (type.startsWith('image/')) return;
    if (!(type.startsWith('text/') || type === 'application/json' || type === '')) {
      out.opaque ??= `a ${type} data URL (${path}) cannot be inspected`;
      return;
    }
    const head = m[0];
    const base64 = m[3] !== undefined;
    out.slots.push({
      role: r,
      get: () => {
        const data = (holder[key] as string).slice(head.length);
        return base64 ? Buffer.from(data, 'base64').toString('utf8') : safeDecode(data);
      },
      set: (t) => { holder[key] = head + (base64 ? Buffer.from(t).toString('base64') : encodeURIComponent(t)); },
    });
  }

  const top = { v: body } as Holder;
  fields({ k: 'object', fields: root }, top.v as Record<string, unknown>, '', role, undefined);
  return out;
}

type Holder = Record<string | number, unknown>;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const kindOf = (v: unknown) => (Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v);

function caseFor(cases: Record<string, Field>, tag: string): Field | undefined {
  if (Object.prototype.hasOwnProperty.call(cases, tag)) return cases[tag];
  for (const [name, f] of Object.entries(cases)) if (name.endsWith('*') && tag.startsWith(name.slice(0, -1))) return f;
  return undefined;
}

const safeDecode = (s: string) => { try { return decodeURIComponent(s); } catch { return s; } };

function slot(holder: Holder, key: string | number, role: string): TextSlot {
  return { role, get: () => holder[key] as string, set: (t) => { holder[key] = t; } };
}

/** A JSON value read as its JSON text; a redacted text is parsed back (masks never add quotes). */
function jsonSlot(holder: Holder, key: string | number, role: string): TextSlot {
  return { role, json: true, get: () => JSON.stringify(holder[key]), set: (t) => { try { holder[key] = JSON.parse(t); } catch { holder[key] = t; } } };
}

/** Every string under `holder[key]` (keys included: a model reads them too) as text slots. */
function everyString(holder: Holder, key: string | number, role: string, slots: TextSlot[]) {
  const value = holder[key];
  if (typeof value === 'string') slots.push(slot(holder, key, role));
  else if (typeof value === 'object' && value !== null) slots.push(jsonSlot(holder, key, role));
}

/** Beta flags against the ones a dialect knows: unknown flags are listed, capability-granting ones asked for. */
export function readBetas(flags: string[], known: Record<string, string | null>, header: string, into: Walked) {
  for (const flag of flags) {
    if (!Object.prototype.hasOwnProperty.call(known, flag)) into.unknown.push(`${header}: ${flag} (not a beta flag Gatehouse understands)`);
    else if (known[flag]) into.capabilities.push({ name: known[flag]!, where: `${header}: ${flag}` });
  }
}

/** A request body read with a dialect's inventory and its beta flags. */
export function inventory(body: Record<string, unknown>, root: Fields, opts: ParseOptions, beta: { header: string; known: Record<string, string | null> }): Walked {
  const walked = walk(body, root, 'user', opts.forwardUnknown);
  readBetas(opts.betas, beta.known, beta.header, walked);
  return walked;
}
