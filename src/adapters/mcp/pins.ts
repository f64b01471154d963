// Pinning against rug pulls: each tool's definition is fingerprinted when first seen; a later change is withheld until a person accepts it.
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import type { ToolPin, ToolPinStore } from '../../services/store/store.ts';
import { canonicalJson, sha256 } from '../kit/mcp/canonical.ts';

/** What a pin covers: everything a model reads to decide how to use a tool. */
const PINNED_FIELDS = ['name', 'title', 'description', 'inputSchema', 'outputSchema', 'annotations'] as const;

/** Which server a pin belongs to: its configured name and where it is reached, never the name it reports. */
export interface PinnedServer {
  name: string;
  /** Its URL, or its command line as JSON. */
  source: string;
}

export type PinCheck =
  | { status: 'pinned' | 'new'; tool: Tool; fingerprint: string }
  /** Withheld until a person accepts it: changed since pinned, or carrying instructions for a model when first seen. */
  | { status: 'changed' | 'suspicious'; tool: Tool; fingerprint: string; definition: string; diff: string; injection: string[] };

/** Finds instructions aimed at a model in a tool's texts: the rules that fired, none when clean. */
export type DescriptionScan = (text: string) => string[];

export function canonicalDefinition(tool: Tool): string {
  const picked: Record<string, unknown> = {};
  for (const field of PINNED_FIELDS) picked[field] = tool[field];
  return canonicalJson(picked);
}

/**
 * Checks one server's tools against its pins. A tool seen for the first time is pinned on the spot unless its texts
 * carry injected instructions; the first sighting wins a race between two sessions (the store keeps one).
 */
export async function checkPins(store: ToolPinStore, server: PinnedServer, tools: Tool[], scan: DescriptionScan, now = Date.now()): Promise<PinCheck[]> {
  const pins = new Map((await store.toolPins(server.name, server.source)).map((p) => [p.tool, p]));
  return Promise.all(tools.map(async (tool): Promise<PinCheck> => {
    const definition = canonicalDefinition(tool);
    const fingerprint = sha256(definition);
    let pin = pins.get(tool.name);
    if (pin?.fingerprint === fingerprint) return { status: 'pinned', tool, fingerprint };
    const injection = scan(textsOf(tool).join('\n'));
    if (!pin) {
      if (injection.length) return { status: 'suspicious', tool, fingerprint, definition, diff: describeChange(undefined, definition), injection };
      pin = await store.pinTool({ server: server.name, source: server.source, tool: tool.name, fingerprint, definition, pinnedAt: now });
      if (pin.fingerprint === fingerprint) return { status: 'new', tool, fingerprint };
    }
    return { status: 'changed', tool, fingerprint, definition, diff: describeChange(pin.definition, definition), injection };
  }));
}

/** A person accepted a withheld definition: it becomes the pin. */
export function acceptPin(store: ToolPinStore, server: PinnedServer, check: Extract<PinCheck, { definition: string }>, now = Date.now()): Promise<void> {
  const pin: ToolPin = { server: server.name, source: server.source, tool: check.tool.name, fingerprint: check.fingerprint, definition: check.definition, pinnedAt: now };
  return store.repinTool(pin);
}

/** Schema keywords whose values are vocabulary, not prose: they tell a model nothing and only blur the scan. */
const STRUCTURAL = new Set(['name', 'type', 'format', 'required', '$schema', '$ref', '$id']);

/** Every text a model reads in a tool's definition: titles, descriptions, property names, enum values, defaults. */
function textsOf(value: unknown, out: string[] = [], key?: string): string[] {
  if (typeof value === 'string') {
    if (key === undefined || !STRUCTURAL.has(key)) out.push(value);
  } else if (Array.isArray(value)) for (const v of value) textsOf(v, out, key);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      // Property names are the model's words too (a parameter can be called "ignore_previous_instructions").
      if (key === 'properties') out.push(k);
      textsOf(v, out, key === 'properties' ? undefined : k);
    }
  }
  return out;
}

const CLIP = 2000;
const clip = (s: string) => (s.length > CLIP ? `${s.slice(0, CLIP)}… (${s.length - CLIP} more characters)` : s);

/** What changed, field by field, as an approver reads it. */
export function describeChange(before: string | undefined, after: string): string {
  const was = before === undefined ? {} : (JSON.parse(before) as Record<string, unknown>);
  const now = JSON.parse(after) as Record<string, unknown>;
  const lines: string[] = [];
  for (const field of PINNED_FIELDS) {
    const a = was[field] === undefined ? undefined : canonicalJson(was[field]);
    const b = now[field] === undefined ? undefined : canonicalJson(now[field]);
    if (a === b) continue;
    lines.push(`${field}:`);
    if (a !== undefined) lines.push(`  - ${clip(a)}`);
    if (b !== undefined) lines.push(`  + ${clip(b)}`);
  }
  return lines.join('\n');
}
