// Response inspection for an HTTP grant: mask JSON fields, redact and scan (read whole, within max_inspect_bytes), or redact an event stream as it flows.
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { HttpGrant } from '../../config/schema.ts';
import { guardsActive, mergeNotes, type ContentGuards, type GuardNote, type GuardPolicy, type TextRedactor } from '../../pipeline/content-guards.ts';
import type { RelayStep } from '../kit/http/relay.ts';
import { BodyTooLarge, readBody } from '../kit/http/reply.ts';

/** What the response path must do for this grant. */
export const mustInspect = (grant: HttpGrant) => Object.keys(grant.mask).length > 0 || guardsActive(grant.guards);

const isJson = (type: string) => /^application\/(?:[\w.+-]*\+)?json\b/i.test(type);
const isEventStream = (type: string) => /^text\/event-stream\b/i.test(type);
const isText = (type: string) => /^text\//i.test(type);

export type Inspected =
  | { kind: 'whole'; body: Buffer; contentType: string; masked: number; notes: GuardNote[] }
  | { kind: 'stream'; step: RelayStep; redactor: TextRedactor }
  | { kind: 'refuse'; rule: string; message: string; notes: GuardNote[] };

/** Decides how to inspect a response (`body` already decoded: see kit/http/coding.ts), reading it whole when it must (JSON, text). */
export async function inspectResponse(headers: IncomingHttpHeaders, body: Readable, grant: HttpGrant, guards: ContentGuards, limit: number): Promise<Inspected> {
  const type = String(headers['content-type'] ?? '');
  const fieldMasks = Object.keys(grant.mask).length > 0;
  const policy: GuardPolicy = grant.guards;
  if (isEventStream(type) && !fieldMasks && policy.injection === 'off') {
    const redactor = guards.streamRedactor(policy);
    if (redactor) return { kind: 'stream', step: redactingStep(redactor), redactor };
  }
  const refuse = (message: string): Inspected => ({ kind: 'refuse', rule: 'http.inspect', message, notes: [] });
  if (!isJson(type) && !(isText(type) && !fieldMasks)) {
    // An empty body (a redirect, a 201 with only a Location) has nothing to mask or scan; any byte of one is refused.
    if (await isEmpty(body)) return { kind: 'whole', body: Buffer.alloc(0), contentType: type, masked: 0, notes: [] };
    return refuse(`the response is "${type || 'untyped'}", which Gatehouse cannot ${fieldMasks ? 'mask (field masks apply to JSON)' : 'inspect'}; it was withheld`);
  }
  let whole: Buffer;
  try {
    whole = await readBody(body, limit);
  } catch (err) {
    if (err instanceof BodyTooLarge) return { kind: 'refuse', rule: 'max_inspect_bytes', message: `the upstream response exceeds max_inspect_bytes (${limit} bytes) and must be inspected; it was withheld`, notes: [] };
    throw err;
  }
  try {
    return inspectText(whole, type, grant, guards);
  } catch (err) {
    // A masking or scanning failure withholds the response rather than letting it through unmasked.
    return { kind: 'refuse', rule: 'http.inspect', message: `Gatehouse could not inspect the response (${(err as Error).message}); it was withheld`, notes: [] };
  }
}

function inspectText(body: Buffer, type: string, grant: HttpGrant, guards: ContentGuards): Inspected {
  const policy: GuardPolicy = grant.guards;
  const text = body.toString('utf8');
  const scan = guards.scan(text, { ...policy, secrets: policy.secrets === 'block' ? 'flag' : policy.secrets, pii: policy.pii === 'block' ? 'flag' : policy.pii }, 'document');
  if (scan.block) return { kind: 'refuse', rule: scan.block.rule, message: `the upstream response was withheld: ${scan.block.message}`, notes: scan.notes };
  if (isJson(type)) {
    let doc: unknown;
    try {
      doc = text.length ? JSON.parse(text) : undefined;
    } catch {
      return { kind: 'refuse', rule: 'http.inspect', message: 'the upstream sent a JSON response that does not parse, so it cannot be masked; it was withheld', notes: [] };
    }
    if (doc === undefined) return { kind: 'whole', body, contentType: type, masked: 0, notes: scan.notes };
    const out = guards.maskJson(doc, grant.mask, policy);
    const masked = out.masked;
    return { kind: 'whole', body: masked ? Buffer.from(JSON.stringify(out.value)) : body, contentType: type, masked, notes: scan.notes };
  }
  const red = guards.redact(text, policy);
  return { kind: 'whole', body: Buffer.from(red.text), contentType: type, masked: red.notes.reduce((n, x) => n + x.count, 0), notes: mergeNotes([...scan.notes, ...red.notes]) };
}

/** True when the body ends before its first byte; stops reading at the first byte otherwise. */
function isEmpty(body: Readable): Promise<boolean> {
  return new Promise((resolve, reject) => {
    body.once('data', () => { body.pause(); resolve(false); });
    body.once('end', () => resolve(true));
    body.once('error', reject);
  });
}

/** Redacts a text stream (SSE from a plain HTTP API) as it flows; UTF-8 sequences split across chunks are kept whole. */
function redactingStep(redactor: TextRedactor): RelayStep {
  const decoder = new TextDecoder('utf-8');
  return {
    push: (chunk) => redactor.push(decoder.decode(chunk, { stream: true })),
    end: () => redactor.push(decoder.decode()) + redactor.flush(),
  };
}
