// The response path of every MCP result (tool output, resource contents, prompt messages): a size cap, then the grant's guards.
import { mergeNotes, type ContentGuards, type GuardNote, type GuardPolicy, redacting, guardsActive } from '../../../pipeline/content-guards.ts';

export type Guarded<T> =
  | { ok: true; value: T; bytes: number; notes: GuardNote[] }
  | { ok: false; rule: string; message: string; bytes: number; notes: GuardNote[] };

/**
 * Caps, scans and redacts one result. Every string a model may read is inspected (text content, embedded resource
 * text, structured content, prompt messages); base64 payloads (`blob`, image and audio `data`) are not text and pass.
 */
export function guardResult<T>(value: T, policy: GuardPolicy, guards: ContentGuards, maxBytes: number): Guarded<T> {
  const bytes = Buffer.byteLength(JSON.stringify(value) ?? '');
  if (bytes > maxBytes) {
    return { ok: false, rule: 'mcp.max_result_bytes', message: `the result is ${bytes} bytes, over this connection's cap of ${maxBytes} (max_result_bytes); it was withheld`, bytes, notes: [] };
  }
  if (!guardsActive(policy)) return { ok: true, value, bytes, notes: [] };
  const texts: string[] = [];
  walk(value, (s) => { texts.push(s); return s; });
  // Redacted kinds are counted by the redaction below; the scan looks for what blocks or is only flagged.
  const scanPolicy: GuardPolicy = { ...policy, secrets: policy.secrets === 'redact' ? 'off' : policy.secrets, pii: policy.pii === 'redact' ? 'off' : policy.pii };
  const scan = guards.scan(texts.join('\n'), scanPolicy, 'document');
  if (scan.block) return { ok: false, rule: scan.block.rule, message: `the result was withheld: ${scan.block.message}`, bytes, notes: scan.notes };
  if (!redacting(policy)) return { ok: true, value, bytes, notes: scan.notes };
  const notes = [...scan.notes];
  const redacted = walk(value, (s) => {
    const out = guards.redact(s, policy);
    notes.push(...out.notes);
    return out.text;
  }) as T;
  return { ok: true, value: redacted, bytes, notes: mergeNotes(notes) };
}

const BINARY = new Set(['image', 'audio']);

/** Rebuilds `node` with `edit` applied to each text string, copying only what changed. */
function walk(node: unknown, edit: (s: string) => string): unknown {
  if (typeof node === 'string') return edit(node);
  if (Array.isArray(node)) {
    let copy: unknown[] | undefined;
    node.forEach((child, i) => {
      const next = walk(child, edit);
      if (next !== child) (copy ??= [...node])[i] = next;
    });
    return copy ?? node;
  }
  if (node === null || typeof node !== 'object') return node;
  const obj = node as Record<string, unknown>;
  let copy: Record<string, unknown> | undefined;
  for (const [k, child] of Object.entries(obj)) {
    if (k === 'blob' || (k === 'data' && BINARY.has(obj.type as string))) continue;
    const next = walk(child, edit);
    if (next !== child) (copy ??= { ...obj })[k] = next;
  }
  return copy ?? node;
}
