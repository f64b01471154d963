// Withheld tools go to the approvals inbox, once per new definition: a person accepts it (it becomes the pin for everyone) or not.
import type { GateSession } from '../../pipeline/gate.ts';
import { hold } from '../../services/policy/verdict.ts';
import type { ToolPinStore } from '../../services/store/store.ts';
import type { CatalogEvent } from './catalog.ts';
import { acceptPin } from './pins.ts';
import { SEPARATOR } from './policy.ts';

type Withheld = Extract<CatalogEvent, { kind: 'withheld' }>;

export class PinReviews {
  /** Definitions under review or refused, by server, source, tool and fingerprint: one inbox entry each. */
  private readonly open = new Map<string, 'pending' | 'refused'>();
  private readonly accepted = new Set<(server: string) => void>();

  constructor(private readonly store: ToolPinStore, private readonly connection: string) {}

  /** `listener` hears which server's pins a person accepted (sessions list it again and tell their agent). */
  onAccepted(listener: (server: string) => void): () => void {
    this.accepted.add(listener);
    return () => this.accepted.delete(listener);
  }

  /**
   * Asks a person about a withheld tool through the session that saw it. Resolves when the review is settled; the
   * session waits for that before it closes (or is cut, which withdraws the review: the next sighting asks again).
   */
  async raise(gate: GateSession, { server, check }: Withheld): Promise<void> {
    const key = [server.name, server.source, check.tool.name, check.fingerprint].join('\n');
    if (this.open.has(key)) return;
    this.open.set(key, 'pending');
    const exposed = `${server.name}${SEPARATOR}${check.tool.name}`;
    const what = check.status === 'changed'
      ? `tool ${exposed} changed since it was pinned${check.injection.length ? ` (its texts carry instructions for a model: ${check.injection.join(', ')})` : ''}`
      : `tool ${exposed} carries instructions for a model (${check.injection.join(', ')})`;
    let outcome = await gate.pass({
      facts: { protocol: 'mcp', connection: this.connection, effect: 'ddl', summary: `${what}\n${check.diff}`, targets: [{ kind: 'tool', name: exposed, access: 'pin' }] },
      policy: () => hold('pin', `${what}; approving accepts this definition for every agent`),
      exact: `pin\n${key}`,
      detail: { server: server.name, source: server.source, tool: check.tool.name, fingerprint: check.fingerprint },
    });
    if (outcome.kind === 'held') outcome = await outcome.settled;
    if (outcome.kind === 'refuse') {
      // Refused by a person: not asked again (until a restart). Pending elsewhere, withdrawn or expired: asked again when seen.
      if (outcome.rule === 'approval.denied') this.open.set(key, 'refused');
      else this.open.delete(key);
      return;
    }
    try {
      await acceptPin(this.store, server, check);
      outcome.done({ protocol: 'mcp', status: 'accepted', fingerprint: check.fingerprint });
    } catch (err) {
      outcome.done({ protocol: 'mcp', status: 'error', error: (err as Error).message });
    } finally {
      this.open.delete(key);
    }
    for (const listener of this.accepted) listener(server.name);
  }
}
