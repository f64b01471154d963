// What the response path does to a reply before the agent sees it: key lists filtered to the grant (SCAN, KEYS),
// secrets and personal data redacted in string replies, the same inside an EXEC reply for each queued command.

import { isUtf8 } from 'node:buffer';
import { guardsActive, mergeNotes, type ContentGuards, type GuardNote, type GuardPolicy } from '../../pipeline/content-guards.ts';
import { NIL_ARRAY, Type, type RespValue } from './codec/resp.ts';
import type { GlobSet } from './glob.ts';

/** Rewrites one decoded reply; `notes` collects what it did, for the result record. */
export type Transform = (reply: RespValue, notes: TransformNotes) => RespValue;

export interface TransformNotes {
  /** Key names withheld from a SCAN / KEYS reply because the grant cannot read them. */
  withheld: number;
  guards: GuardNote[];
}

const isError = (v: RespValue) => v !== NIL_ARRAY && typeof v === 'object' && v !== null && !Buffer.isBuffer(v) && !Array.isArray(v) && v.type === Type.Error;

/** SCAN's `[cursor, [keys]]`: the cursor stays, keys the grant cannot read are dropped (so `MATCH *` lists only those). */
export const scanFilter = (read: GlobSet): Transform => (reply, notes) => {
  if (!Array.isArray(reply) || reply.length !== 2 || !Array.isArray(reply[1])) return isError(reply) ? reply : refuseShape('SCAN');
  return [reply[0], keysFilter(read)(reply[1], notes)];
};

/** KEYS' flat list, filtered the same way. */
export const keysFilter = (read: GlobSet): Transform => (reply, notes) => {
  if (!Array.isArray(reply)) return isError(reply) ? reply : refuseShape('KEYS');
  const kept = reply.filter((k) => Buffer.isBuffer(k) && read.matches(k));
  notes.withheld += reply.length - kept.length;
  return kept;
};

/** Every string in the reply, at any depth, through the grant's guards: redacted where they redact, noted where they flag. */
export function guardTransform(guards: ContentGuards, policy: GuardPolicy): Transform | undefined {
  if (!guardsActive(policy)) return undefined;
  const visit = (value: RespValue, notes: TransformNotes): RespValue => {
    if (Array.isArray(value)) return value.map((v) => visit(v, notes));
    if (!Buffer.isBuffer(value) || value.length === 0) return value;
    // Text as UTF-8 when it is; otherwise Latin-1, which maps byte for byte, so binary values come back unchanged.
    const encoding = isUtf8(value) ? 'utf8' : 'latin1';
    const text = value.toString(encoding);
    const out = guards.returned(text, policy);
    notes.guards.push(...out.notes);
    return out.text === text ? value : Buffer.from(out.text, encoding);
  };
  return (reply, notes) => visit(reply, notes);
}

/** Two transforms in a row (a key filter, then the guards), or whichever exists. */
export function chain(first: Transform | undefined, second: Transform | undefined): Transform | undefined {
  if (!first || !second) return first ?? second;
  return (reply, notes) => second(first(reply, notes), notes);
}

/** EXEC's reply holds one reply per queued command: each gets the transform its command would have had. */
export function execTransform(queued: readonly (Transform | undefined)[]): Transform | undefined {
  if (!queued.some(Boolean)) return undefined;
  return (reply, notes) => {
    if (!Array.isArray(reply)) return reply; // EXECABORT, or nil when a WATCHed key changed
    if (reply.length !== queued.length) return refuseShape('EXEC');
    return reply.map((r, i) => (queued[i] && !isError(r) ? queued[i]!(r, notes) : r));
  };
}

export const newNotes = (): TransformNotes => ({ withheld: 0, guards: [] });
export const summariseNotes = (notes: TransformNotes) => ({
  ...(notes.withheld ? { withheld: notes.withheld } : {}),
  ...(notes.guards.length ? { guards: mergeNotes(notes.guards) } : {}),
});

/** A reply whose shape the transform cannot vouch for is replaced by an error rather than relayed unfiltered. */
function refuseShape(what: string): RespValue {
  return { type: Type.Error, text: `ERR Gatehouse: unexpected ${what} reply shape; withheld` };
}
