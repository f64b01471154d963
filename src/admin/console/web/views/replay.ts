// Session replay: the session as the agent saw it — each statement or request in order, its verdict, masked rows and timings — with play and step controls.
import type { AuditRecord, Decision, SessionRecord, VerifyView } from '../../wire.ts';
import type { Ctx, View } from '../ctx.ts';
import { errorPanel, fill, h, option } from '../dom.ts';
import { dateTime, duration, offset } from '../format.ts';

interface StatementResult { tag?: string; rows?: number; dropped?: number; error?: string; columns?: string[]; sample?: (string | null)[][] }

interface Step { record: AuditRecord; result?: AuditRecord; decision?: Decision }

const verdictText: Record<string, string> = { allowed: 'Allowed', refused: 'Refused', masked: 'Masked', held: 'Held', allow: 'Allowed', deny: 'Refused', hold: 'Held' };
/** One line for a record that is not a request: what happened, and the detail a reader needs (never the reason twice). */
function systemLine(r: AuditRecord): [string, string] {
  const d = r.data;
  const by = typeof d.by === 'string' ? d.by : '';
  const why = typeof d.reason === 'string' && d.reason ? d.reason : '';
  switch (r.kind) {
    case 'session.open': return ['Session opened', typeof d.client === 'string' ? `from ${d.client}` : ''];
    case 'session.close': return ['Session closed', why];
    case 'approval.requested': return ['Held for approval', String(d.id ?? '')];
    case 'approval.approved': return [`Approved by ${by}`, why];
    case 'approval.denied': return [`Denied by ${by}`, why];
    case 'approval.expired': return ['Approval expired', 'nobody decided in time'];
    case 'approval.withdrawn': return ['Request withdrawn', why];
    case 'approval.forwarded': return ['Forwarded after approval', ''];
    case 'approval.failed': return ['Approval failed', why];
    case 'approval.used': return ['Earlier approval used', String(d.id ?? '')];
    default: return [r.kind, why];
  }
}

export function replayView(ctx: Ctx, params: string[]): View {
  const id = params[0];
  const head = h('div.replay-head');
  const chain = h('div.chain', { id: 'chain-status' }, h('span.quiet', {}, 'Verifying the audit chain…'));
  const timeline = h('ol.timeline', { id: 'timeline' });
  const progress = h('span.replay-progress', { 'aria-live': 'polite' });
  const bar = h('div.progress-bar', {}, h('div.progress-fill'));
  const speed = h('select.select.small', { 'aria-label': 'Speed' }, option('1', '1×'), option('4', '4×', true), option('16', '16×'));
  const playButton = h('button.button.primary.small', { type: 'button', 'data-action': 'play' }, 'Play');
  const stepButton = h('button.button.small', { type: 'button', 'data-action': 'step' }, 'Step');
  const startButton = h('button.button.ghost.small', { type: 'button', 'data-action': 'restart' }, 'To start');
  const allButton = h('button.button.ghost.small', { type: 'button', 'data-action': 'all' }, 'Show all');
  const body = h('div');

  const el = h('section.view', {},
    h('nav.crumbs', { 'aria-label': 'Breadcrumb' }, h('a', { href: '#/sessions' }, 'Sessions'), h('span', { 'aria-hidden': 'true' }, ' / '), h('span.mono', {}, id)),
    body);

  let session: SessionRecord | undefined;
  let events: AuditRecord[] = [];
  let decisions = new Map<number, Decision>();
  let steps: Step[] = [];
  let cursor = 0;
  let playing: ReturnType<typeof setTimeout> | undefined;
  let verify: VerifyView | undefined;

  function build() {
    const results = new Map<number, AuditRecord>();
    for (const e of events) if (e.kind === 'result' && typeof e.data.request === 'number') results.set(e.data.request, e);
    steps = events.filter((e) => e.kind !== 'result').map((record) => ({ record, result: results.get(record.seq), decision: decisions.get(record.seq) }));
  }

  function renderHead() {
    if (!session) return;
    const s = session;
    fill(head,
      h('div.replay-title', {},
        h('h1', {}, s.label, h('span.quiet', {}, ` · role ${s.role}`)),
        s.endedAt ? h('span.badge.ended', {}, 'Ended') : h('span.badge.live', {}, 'Live')),
      h('dl.facts.inline', {},
        h('dt', {}, 'Connection'), h('dd', {}, `${s.connection} (${s.protocol})`),
        h('dt', {}, 'Client'), h('dd.mono', {}, s.client),
        h('dt', {}, 'Run'), h('dd', {}, s.runId ? h('span.mono', {}, s.runId) : h('span.quiet', {}, 'not tagged'), s.step ? ` · step ${s.step}` : ''),
        h('dt', {}, 'Token'), h('dd.mono', {}, s.tokenId),
        h('dt', {}, 'Started'), h('dd', {}, dateTime(s.startedAt)),
        h('dt', {}, 'Ended'), h('dd', {}, s.endedAt ? `${dateTime(s.endedAt)} — ${s.endReason ?? ''}` : 'still open')));
  }

  function renderChain() {
    if (!verify) return;
    const last = events.at(-1)?.seq ?? 0;
    if (verify.ok) {
      fill(chain, h('span.chain-mark.ok', { 'aria-hidden': 'true' }), h('span', {}, h('strong', {}, 'Audit chain verified. '), `All ${verify.records.toLocaleString()} records link by hash, including this session's ${events.length}.`));
      chain.className = 'chain ok';
    } else {
      const affected = verify.broken && verify.broken.seq <= last;
      fill(chain, h('span.chain-mark.broken', { 'aria-hidden': 'true' }), h('span', {},
        h('strong', {}, `Audit chain broken at record #${verify.broken?.seq}. `), verify.broken?.reason ?? '',
        affected ? ' Records of this session from that point on cannot be trusted; they are marked below.' : ' This session\'s records come before the break.'));
      chain.className = 'chain broken';
    }
    const cp = verify.checkpoint;
    if (cp) {
      // The hash chain alone cannot show a shortened or rolled-back store; the signed checkpoint can.
      chain.append(h('span', {}, h('strong', {}, cp.reaches ? ` Last signed checkpoint: #${cp.seq}` : ` Does not reach its last signed checkpoint (#${cp.seq}): `),
        cp.reaches ? ` (node ${cp.node}, ${dateTime(cp.ts)}), reached.` : `${cp.detail}.`));
      if (!cp.reaches) chain.className = 'chain broken';
    }
  }

  function renderTimeline() {
    if (!session) return;
    const s = session;
    fill(timeline, steps.map((step, i) => stepEl(step, i, s)));
    update();
  }

  function stepEl({ record: r, result, decision }: Step, i: number, s: SessionRecord): HTMLElement {
    const tainted = verify && !verify.ok && verify.broken && r.seq >= verify.broken.seq;
    const at = h('span.step-time', { title: dateTime(r.ts) }, offset(r.ts - s.startedAt));
    if (r.kind !== 'request') {
      const [what, detail] = systemLine(r);
      return h('li.step.system', { 'data-index': String(i), 'data-seq': String(r.seq), 'data-kind': r.kind, class: tainted ? 'tainted' : '' }, at,
        h('span.step-body', {}, h('span.system-text', {}, what), detail ? h('span.quiet', {}, ` — ${detail}`) : null));
    }
    const verdict = decision?.verdict ?? r.verdict ?? 'allow';
    const message = r.verdict === 'deny' ? r.data.message : r.verdict === 'hold' ? r.data.reason : null;
    return h('li.step.request', { 'data-index': String(i), 'data-seq': String(r.seq), 'data-verdict': verdict, class: `verdict-${verdict}${tainted ? ' tainted' : ''}` }, at,
      h('div.step-body', {},
        h('div.step-head', {}, h('span.badge', { class: verdict }, verdictText[verdict] ?? verdict), h('pre.statement.compact', {}, String(r.data.summary ?? ''))),
        message ? h('p.step-message', {}, String(message)) : null,
        decision?.maskedColumns?.length ? h('p.step-note', {}, `Masked on the way back: ${decision.maskedColumns.join(', ')}`) : null,
        result ? resultEl(result, decision) : r.verdict === 'allow' ? h('p.quiet.small', {}, 'No result recorded.') : null));
  }

  function resultEl(result: AuditRecord, decision?: Decision): HTMLElement {
    const d = result.data;
    if (d.protocol === 'mcp') return toolResultEl(d);
    const statements = (Array.isArray(d.statements) ? d.statements : [d]) as StatementResult[];
    const masked = new Set((decision?.maskedColumns ?? []).map((c) => c.split('.').at(-1)!.toLowerCase()));
    return h('div.results', {}, statements.map((st) => {
      if (st.error) return h('p.result-line.error', {}, `Upstream error: ${st.error}`, typeof d.ms === 'number' ? ` · ${duration(d.ms)}` : '');
      const what = st.tag ?? (typeof d.status === 'number' ? `HTTP ${d.status}` : `${st.rows ?? 0} row${st.rows === 1 ? '' : 's'}`);
      const line = [what, st.dropped ? `${st.dropped} more withheld by max_rows` : null, typeof d.ms === 'number' ? duration(d.ms) : null].filter(Boolean).join(' · ');
      const sample = st.columns?.length && st.sample?.length ? h('div.sample-wrap', {}, h('table.sample', {},
        h('thead', {}, h('tr', {}, st.columns.map((c) => h('th', { class: masked.has(c.toLowerCase()) ? 'masked-col' : '' }, c, masked.has(c.toLowerCase()) ? h('span.mask-tag', {}, 'masked') : null)))),
        h('tbody', {}, st.sample.map((row) => h('tr', {}, row.map((cell, i) => h('td', { class: masked.has((st.columns![i] ?? '').toLowerCase()) ? 'masked-col' : '' }, cell === null ? h('span.null', {}, 'NULL') : cell))))))) : null;
      const more = st.sample && st.rows !== undefined && st.rows > st.sample.length ? h('p.quiet.small', {}, `…and ${st.rows - st.sample.length} more row(s) not kept for replay`) : null;
      return h('div.result', {}, h('p.result-line', {}, line), sample, more);
    }));
  }

  /** An MCP list or call: what came back (or why not), its size and time, and the text the agent read. */
  function toolResultEl(d: Record<string, unknown>): HTMLElement {
    const line = [String(d.status ?? ''), typeof d.bytes === 'number' ? `${d.bytes} bytes` : null, typeof d.ms === 'number' ? duration(d.ms) : null].filter(Boolean).join(' · ');
    return h('div.results', {},
      d.error ? h('p.result-line.error', {}, `${line}: ${String(d.error)}`) : h('p.result-line', {}, line),
      typeof d.output === 'string' && d.output ? h('pre.statement.compact.tool-output', {}, d.output) : null);
  }

  /** Shows steps up to the cursor; the current one is highlighted. */
  function update() {
    const items = timeline.children;
    for (let i = 0; i < items.length; i++) {
      items[i].classList.toggle('hidden', i >= cursor);
      items[i].classList.toggle('current', i === cursor - 1 && cursor < steps.length);
    }
    progress.textContent = steps.length ? `Step ${cursor} of ${steps.length}` : 'Nothing recorded';
    (bar.firstElementChild as HTMLElement).style.width = `${steps.length ? (cursor / steps.length) * 100 : 0}%`;
    playButton.textContent = playing ? 'Pause' : 'Play';
    stepButton.disabled = !steps.length;
    playButton.disabled = !steps.length;
    const current = items[cursor - 1] as HTMLElement | undefined;
    if (playing && current) current.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  }

  function stop() {
    clearTimeout(playing);
    playing = undefined;
  }

  function next() {
    if (cursor >= steps.length) return stop();
    cursor++;
    update();
    if (!playing) return;
    if (cursor >= steps.length) { stop(); update(); return; }
    // The real gap between this step and the next, sped up, never shorter than a glance or longer than a breath.
    const gap = (steps[cursor].record.ts - steps[cursor - 1].record.ts) / Number(speed.value);
    playing = setTimeout(next, Math.min(1500, Math.max(250, gap)));
  }

  playButton.addEventListener('click', () => {
    if (playing) { stop(); update(); return; }
    if (cursor >= steps.length) cursor = 0;
    playing = setTimeout(next, 0);
    update();
  });
  stepButton.addEventListener('click', () => { stop(); if (cursor >= steps.length) cursor = 0; next(); });
  startButton.addEventListener('click', () => { stop(); cursor = 0; update(); });
  allButton.addEventListener('click', () => { stop(); cursor = steps.length; update(); });

  async function load() {
    try {
      const [data, d, v] = await Promise.all([
        ctx.api.get<{ session: SessionRecord; events: AuditRecord[] }>(`/v1/sessions/${encodeURIComponent(id)}`),
        ctx.api.get<{ decisions: Decision[] }>(`/v1/sessions/${encodeURIComponent(id)}/decisions`),
        ctx.api.get<VerifyView>('/v1/audit/verify').catch((err: Error) => ({ ok: false, records: 0, broken: { seq: 0, reason: `could not verify: ${err.message}` } })),
      ]);
      session = data.session;
      events = data.events;
      decisions = new Map(d.decisions.map((x) => [x.seq, x]));
      verify = v;
      build();
      cursor = steps.length;
      fill(body, head, chain,
        h('div.replay-controls', {}, startButton, stepButton, playButton, allButton, h('span.spacer'), h('label.field-inline', {}, h('span', {}, 'Speed'), speed), progress),
        bar, steps.length ? timeline : h('p.quiet', {}, 'This session recorded nothing yet.'));
      renderHead();
      renderChain();
      renderTimeline();
    } catch (err) {
      fill(body, errorPanel('This session could not be loaded.', (err as Error).message, h('a.button.ghost.small', { href: '#/sessions' }, 'Back to sessions')));
    }
  }

  // A live session grows while it is watched: new records are appended (and shown, unless a replay is running).
  const offAudit = ctx.live.on('audit', (r) => {
    if (!session || r.sessionId !== id || events.some((e) => e.seq === r.seq)) return;
    const atEnd = cursor === steps.length;
    events.push(r);
    if (r.kind === 'session.close') session = { ...session, endedAt: r.ts, endReason: String(r.data.reason ?? '') };
    build();
    if (atEnd && !playing) cursor = steps.length;
    renderHead();
    renderTimeline();
  });
  const offDecision = ctx.live.on('decision', (d) => {
    if (d.sessionId !== id) return;
    decisions.set(d.seq, d);
    build();
    renderTimeline();
  });
  void load();
  return { el, dispose() { stop(); offAudit(); offDecision(); } };
}
