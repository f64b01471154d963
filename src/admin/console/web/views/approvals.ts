// Approvals inbox: held requests appear as they are held, with exactly what is asked, by whom and why; approve or deny.
import type { ApprovalRecord } from '../../wire.ts';
import type { Ctx, View } from '../ctx.ts';
import { empty, errorPanel, fill, h, option } from '../dom.ts';
import { countdown, dateTime, relative } from '../format.ts';

const statusText: Record<string, string> = {
  pending: 'Waiting', approved: 'Approved', used: 'Approved · ran', denied: 'Denied', expired: 'Expired', withdrawn: 'Withdrawn', failed: 'Failed',
};

/** Later states win: an HTTP reply ("approved") can arrive after the live event that says it already ran ("used"). */
const stage = (a: ApprovalRecord) => (a.status === 'pending' ? a.decisions.length / 100 : a.status === 'used' ? 2 : 1);

export function approvalsView(ctx: Ctx, params: string[]): View {
  const focus = params[0];
  const records = new Map<string, ApprovalRecord>();
  const cards = new Map<string, HTMLElement>();
  const upsert = (a: ApprovalRecord) => {
    const known = records.get(a.id);
    if (!known || stage(a) >= stage(known)) records.set(a.id, a);
  };
  const pendingList = h('div.cards', { id: 'pending' });
  const decidedBody = h('div.decided');
  const loadError = h('div');
  let loaded = false;

  const el = h('section.view', {},
    h('div.view-head', {},
      h('h1', {}, 'Approvals'),
      h('p.view-lede', {}, 'Requests held for a person. Nothing is forwarded until someone other than the token\'s issuer approves it.')),
    loadError,
    h('h2.section-title', {}, 'Waiting for a decision'),
    pendingList,
    h('h2.section-title', {}, 'Recently decided'),
    decidedBody);

  async function load() {
    try {
      const [pending, all] = await Promise.all([
        ctx.api.get<{ approvals: ApprovalRecord[] }>('/v1/approvals?status=pending'),
        ctx.api.get<{ approvals: ApprovalRecord[] }>('/v1/approvals?status=all&limit=60'),
      ]);
      records.clear();
      for (const a of [...all.approvals, ...pending.approvals]) records.set(a.id, a);
      loaded = true;
      fill(loadError);
      render();
    } catch (err) {
      fill(loadError, errorPanel('The approvals could not be loaded.', (err as Error).message));
    }
  }

  function render() {
    if (!loaded) return;
    const pending = [...records.values()].filter((a) => a.status === 'pending').sort((a, b) => a.createdAt - b.createdAt);
    for (const id of [...cards.keys()]) if (!pending.some((a) => a.id === id)) { cards.get(id)!.remove(); cards.delete(id); }
    if (!pending.length) {
      fill(pendingList, empty('check', 'No requests are waiting', 'When an agent asks for something its role marks for approval — a DELETE, a refund — it appears here at once. This page updates by itself.'));
    } else {
      pendingList.querySelector('.empty')?.remove();
      for (const a of pending) {
        const existing = cards.get(a.id);
        if (existing) updateCard(existing, a);
        else {
          const card = approvalCard(a);
          cards.set(a.id, card);
          pendingList.append(card);
          if (a.id === focus) queueMicrotask(() => { card.classList.add('focus'); card.scrollIntoView({ block: 'center' }); });
        }
      }
    }
    const decided = [...records.values()].filter((a) => a.status !== 'pending').sort((a, b) => (b.decidedAt ?? b.createdAt) - (a.decidedAt ?? a.createdAt)).slice(0, 30);
    fill(decidedBody, decided.length ? decidedTable(decided) : h('p.quiet-line', {}, 'No decisions yet. Approved, denied and expired requests are listed here with who decided and why.'));
  }

  function approvalCard(a: ApprovalRecord): HTMLElement {
    const reason = h('input.input', { type: 'text', placeholder: 'Reason (kept in the audit trail)', 'aria-label': 'Reason', maxlength: 500 });
    const windowSelect = h('select.select', { 'aria-label': 'Approval covers' },
      option('', 'Just this request'), option('5m', 'Identical requests for 5 min'), option('15m', 'Identical requests for 15 min'), option('60m', 'Identical requests for 1 hour'));
    const error = h('p.card-error', { role: 'alert', hidden: true });
    const approve = h('button.button.primary', { type: 'button', 'data-action': 'approve' }, 'Approve');
    const deny = h('button.button.danger', { type: 'button', 'data-action': 'deny' }, 'Deny');
    const act = async (decision: 'approve' | 'deny') => {
      error.hidden = true;
      approve.disabled = deny.disabled = true;
      try {
        const body: Record<string, string> = {};
        if (reason.value.trim()) body.reason = reason.value.trim();
        if (decision === 'approve' && windowSelect.value) body.for = windowSelect.value;
        const next = await ctx.api.post<ApprovalRecord>(`/v1/approvals/${encodeURIComponent(a.id)}/${decision}`, body);
        upsert(next);
        ctx.toast(next.status === 'pending' ? `Your approval is recorded; ${next.required - next.decisions.filter((d) => d.decision === 'approve').length} more needed.` : `${decision === 'approve' ? 'Approved' : 'Denied'}: ${a.id}`);
        render();
      } catch (err) {
        error.textContent = `The gateway refused: ${(err as Error).message}`;
        error.hidden = false;
      } finally {
        approve.disabled = deny.disabled = false;
      }
    };
    approve.addEventListener('click', () => void act('approve'));
    deny.addEventListener('click', () => void act('deny'));
    const card = h('article.card.approval', { 'data-id': a.id, 'aria-label': `Held request ${a.id}` },
      h('header.card-head', {},
        h('span.badge.held', {}, 'Held'),
        h('span.chip', {}, `${a.connection} · ${a.protocol}`),
        h('span.spacer'),
        h('span.expiry', { 'data-expires': String(a.expiresAt) })),
      h('pre.statement', { 'data-testid': 'statement' }, a.summary),
      h('dl.facts', {},
        h('dt', {}, 'Asked by'), h('dd', {}, h('strong', {}, a.label), ` · role ${a.role}`, h('span.quiet', {}, ` · token issued by ${a.createdBy}`)),
        h('dt', {}, 'Why'), h('dd', {}, a.reason),
        h('dt', {}, 'Run'), h('dd', {}, a.runId ? h('span.mono', {}, a.runId) : h('span.quiet', {}, 'not tagged'), a.step ? ` · step ${a.step}` : ''),
        h('dt', {}, 'Asked'), h('dd', {}, dateTime(a.createdAt), a.sessionId ? [' · ', h('a', { href: `#/sessions/${a.sessionId}` }, 'session')] : ''),
        h('dt', { class: 'progress-dt' }, 'Decisions'), h('dd.progress')),
      h('div.decide', {}, reason, windowSelect, h('div.decide-buttons', {}, deny, approve)),
      error);
    updateCard(card, a);
    return card;
  }

  function updateCard(card: HTMLElement, a: ApprovalRecord) {
    const approvals = a.decisions.filter((d) => d.decision === 'approve');
    const progress = card.querySelector<HTMLElement>('.progress')!;
    const label = card.querySelector<HTMLElement>('.progress-dt')!;
    const show = a.required > 1 || a.decisions.length > 0;
    progress.hidden = label.hidden = !show;
    progress.textContent = `${approvals.length} of ${a.required} approval${a.required > 1 ? 's' : ''}${approvals.length ? ` (${approvals.map((d) => d.by).join(', ')})` : ''}`;
    tick(card);
  }

  function tick(card: HTMLElement) {
    const expiry = card.querySelector<HTMLElement>('.expiry')!;
    const left = Number(expiry.dataset.expires) - Date.now();
    expiry.textContent = left > 0 ? `Expires in ${countdown(left)}` : 'Expiring…';
    expiry.classList.toggle('soon', left < 60_000);
  }

  function decidedTable(list: ApprovalRecord[]): HTMLElement {
    return h('table.table', {},
      h('thead', {}, h('tr', {}, ['Outcome', 'Request', 'Asked by', 'Decided by', 'When'].map((t) => h('th', {}, t)))),
      h('tbody', {}, list.map((a) => {
        const last = a.decisions.at(-1);
        return h('tr', { 'data-id': a.id },
          h('td', {}, h('span.badge', { class: `status-${a.status}` }, statusText[a.status] ?? a.status)),
          h('td.cell-statement', { title: a.summary }, h('code', {}, a.summary)),
          h('td', {}, a.label, h('span.quiet', {}, ` · ${a.role}`)),
          h('td', {}, last ? [last.by, last.reason ? h('span.quiet', {}, ` — ${last.reason}`) : ''] : h('span.quiet', {}, a.status === 'expired' ? 'nobody in time' : '—')),
          h('td.nowrap', { title: dateTime(a.decidedAt ?? a.createdAt) }, relative(a.decidedAt ?? a.createdAt)));
      })));
  }

  const offApproval = ctx.live.on('approval', (a) => {
    upsert(a);
    render();
  });
  const offHello = ctx.live.on('hello', () => void load());
  const timer = setInterval(() => { for (const c of cards.values()) tick(c); }, 1000);
  void load();

  return {
    el,
    dispose() {
      offApproval();
      offHello();
      clearInterval(timer);
    },
  };
}
