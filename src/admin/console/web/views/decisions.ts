// Live decisions: every request judged, as it is judged — allowed, refused, masked or held — filterable; refusals stand out.
import type { Decision, DecisionVerdict } from '../../wire.ts';
import type { Ctx, View } from '../ctx.ts';
import { empty, errorPanel, fill, h, option } from '../dom.ts';
import { clock, dateTime, duration } from '../format.ts';

const KEEP = 500;
/** How long a newly arrived decision stays marked (the arrival animation's length), whatever re-renders meanwhile. */
const FRESH_MS = 1_600;
const verdicts: DecisionVerdict[] = ['allowed', 'refused', 'masked', 'held'];
const verdictText: Record<DecisionVerdict, string> = { allowed: 'Allowed', refused: 'Refused', masked: 'Masked', held: 'Held' };

/** Newest first; decisions from several nodes' chains interleave by time (a chain's own order breaks ties). */
const newestFirst = (a: Decision, b: Decision) => b.ts - a.ts || b.seq - a.seq;

export function decisionsView(ctx: Ctx): View {
  const decisions = new Map<string, Decision>();
  const filter = { connection: '', token: '', verdicts: new Set<DecisionVerdict>() };
  /** Newly arrived decisions: id → until when they are marked. Its outcome arriving a moment later must not unmark it. */
  const fresh = new Map<string, number>();

  const connectionSelect = h('select.select', { 'aria-label': 'Connection', onchange: () => { filter.connection = connectionSelect.value; render(); } });
  const tokenSelect = h('select.select', { 'aria-label': 'Token', onchange: () => { filter.token = tokenSelect.value; render(); } });
  const chips = verdicts.map((v) => h('button.chip-toggle', {
    type: 'button', 'data-verdict': v, 'aria-pressed': 'false',
    onclick: (e: Event) => {
      const b = e.currentTarget as HTMLButtonElement;
      if (filter.verdicts.has(v)) filter.verdicts.delete(v); else filter.verdicts.add(v);
      b.setAttribute('aria-pressed', String(filter.verdicts.has(v)));
      render();
    },
  }, h('span.dot', { class: `dot-${v}` }), verdictText[v]));
  const counts = h('span.quiet.counts');
  const list = h('div.feed', { id: 'decisions' });
  const loadError = h('div');

  const el = h('section.view', {},
    h('div.view-head', {},
      h('h1', {}, 'Live decisions'),
      h('p.view-lede', {}, 'Every request an agent sends through Gatehouse, as it is judged. Refusals are marked in red; select one to replay its session.')),
    h('div.toolbar', {},
      h('label.field-inline', {}, h('span', {}, 'Connection'), connectionSelect),
      h('label.field-inline', {}, h('span', {}, 'Token'), tokenSelect),
      h('div.chip-group', { role: 'group', 'aria-label': 'Verdict' }, chips),
      h('span.spacer'),
      counts),
    loadError,
    list);

  function matches(d: Decision) {
    if (filter.connection && d.connection !== filter.connection) return false;
    if (filter.token && d.tokenId !== filter.token) return false;
    return !filter.verdicts.size || filter.verdicts.has(d.verdict);
  }

  function refreshFilters() {
    const conns = new Set<string>();
    const tokens = new Map<string, string>();
    for (const d of decisions.values()) {
      if (d.connection) conns.add(d.connection);
      if (d.tokenId) tokens.set(d.tokenId, `${d.label ?? '?'} (${d.tokenId})`);
    }
    fill(connectionSelect, option('', 'All'), [...conns].sort().map((c) => option(c, c, c === filter.connection)));
    fill(tokenSelect, option('', 'All'), [...tokens].sort((a, b) => a[1].localeCompare(b[1])).map(([id, text]) => option(id, text, id === filter.token)));
  }

  function render() {
    const all = [...decisions.values()].sort(newestFirst);
    const shown = all.filter(matches);
    const refused = all.filter((d) => d.verdict === 'refused').length;
    counts.textContent = `${shown.length} shown · ${all.length} recent · ${refused} refused`;
    if (!all.length) {
      fill(list, empty('wait', 'No decisions yet', 'Every request an agent makes through Gatehouse shows here the moment it is judged: allowed, refused, masked or held for a person.'));
    } else if (!shown.length) {
      fill(list, empty('filter', 'Nothing matches these filters', 'Recent decisions exist, but none for this connection, token and verdict.',
        h('button.button', { type: 'button', onclick: () => { filter.connection = filter.token = ''; filter.verdicts.clear(); for (const c of chips) c.setAttribute('aria-pressed', 'false'); refreshFilters(); render(); } }, 'Clear filters')));
    } else {
      fill(list, shown.map(row));
    }
    const now = performance.now();
    for (const [id, until] of fresh) if (until <= now) fresh.delete(id);
  }

  function row(d: Decision): HTMLElement {
    const approval = d.approval ? h('span.approval-state', { class: `status-${d.approval.status}` },
      d.approval.status === 'pending' ? 'waiting for approval' : `${d.approval.status}${d.approval.by ? ` by ${d.approval.by}` : ''}`) : null;
    const outcome = d.outcome ? [
      d.outcome.tag ?? (d.outcome.rows !== undefined ? `${d.outcome.rows} row${d.outcome.rows === 1 ? '' : 's'}` : null),
      d.outcome.status !== undefined ? `HTTP ${d.outcome.status}` : null,
      d.outcome.ms !== undefined ? duration(d.outcome.ms) : null,
      d.outcome.error ? `error: ${d.outcome.error}` : null,
    ].filter(Boolean).join(' · ') : '';
    const target = d.sessionId ? `#/sessions/${d.sessionId}` : undefined;
    return h(target ? 'a' : 'div', {
      class: `decision verdict-${d.verdict}${(fresh.get(d.id) ?? 0) > performance.now() ? ' fresh' : ''}`, href: target, 'data-seq': String(d.seq), 'data-verdict': d.verdict,
    },
      h('span.decision-time', { title: dateTime(d.ts) }, clock(d.ts)),
      h('span.badge', { class: d.verdict }, verdictText[d.verdict]),
      h('span.decision-main', {},
        h('code.decision-summary', {}, d.summary || '(empty request)'),
        d.detail ? h('span.decision-detail', {}, d.detail) : null,
        approval || outcome ? h('span.decision-outcome', {}, approval, approval && outcome ? ' · ' : '', outcome) : null),
      h('span.decision-who', {},
        h('strong', {}, d.label ?? 'unknown'), d.role ? h('span.quiet', {}, ` · ${d.role}`) : null,
        h('span.decision-conn', {}, d.connection ?? ''), d.runId ? h('span.quiet.mono', { title: 'run id' }, d.runId) : null,
        d.node ? h('span.quiet.mono', { title: 'the gateway node that judged it' }, d.node) : null));
  }

  async function load() {
    try {
      const { decisions: list } = await ctx.api.get<{ decisions: Decision[] }>('/v1/decisions?limit=' + KEEP);
      decisions.clear();
      for (const d of list) decisions.set(d.id, d);
      fill(loadError);
      refreshFilters();
      render();
    } catch (err) {
      fill(loadError, errorPanel('Recent decisions could not be loaded.', (err as Error).message));
    }
  }

  let pending = false;
  let filtersStale = false;
  const offDecision = ctx.live.on('decision', (d) => {
    if (!decisions.has(d.id)) {
      fresh.set(d.id, performance.now() + FRESH_MS);
      filtersStale = true;
    }
    decisions.set(d.id, d);
    if (decisions.size > KEEP) {
      let oldest = d;
      for (const x of decisions.values()) if (newestFirst(x, oldest) > 0) oldest = x;
      decisions.delete(oldest.id);
    }
    // Bursts of decisions are drawn once per frame.
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      if (filtersStale) refreshFilters();
      filtersStale = false;
      render();
    });
  });
  const offHello = ctx.live.on('hello', () => void load());
  void load();
  return { el, dispose() { offDecision(); offHello(); } };
}
