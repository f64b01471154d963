// Sessions: every connection an agent opened, newest first, filterable; select one to replay it.
import type { SessionRecord, TokenView } from '../../wire.ts';
import type { Ctx, View } from '../ctx.ts';
import { empty, errorPanel, fill, h, option } from '../dom.ts';
import { dateTime, duration, relative } from '../format.ts';

export function sessionsView(ctx: Ctx): View {
  const filter = { token: '', connection: '', run: '', live: false };
  const tokenSelect = h('select.select', { 'aria-label': 'Token', onchange: () => { filter.token = tokenSelect.value; void load(); } });
  const connectionSelect = h('select.select', { 'aria-label': 'Connection', onchange: () => { filter.connection = connectionSelect.value; void load(); } });
  const runInput = h('input.input.mono', { type: 'search', placeholder: 'run id', 'aria-label': 'Run id', size: 18 });
  const liveBox = h('input', { type: 'checkbox', onchange: () => { filter.live = liveBox.checked; void load(); } });
  let runTimer: ReturnType<typeof setTimeout> | undefined;
  runInput.addEventListener('input', () => {
    clearTimeout(runTimer);
    runTimer = setTimeout(() => { filter.run = runInput.value.trim(); void load(); }, 250);
  });
  const body = h('div', { id: 'sessions' });
  const el = h('section.view', {},
    h('div.view-head', {},
      h('h1', {}, 'Sessions'),
      h('p.view-lede', {}, 'Each connection an agent opened with a token. Select a session to replay it as the agent saw it.')),
    h('div.toolbar', {},
      h('label.field-inline', {}, h('span', {}, 'Token'), tokenSelect),
      h('label.field-inline', {}, h('span', {}, 'Connection'), connectionSelect),
      h('label.field-inline', {}, h('span', {}, 'Run'), runInput),
      h('label.check', {}, liveBox, h('span', {}, 'Live only'))),
    body);

  let tokens: TokenView[] = [];
  let connections: string[] = [];
  async function loadFilters() {
    try {
      const [t, health] = await Promise.all([
        ctx.api.get<{ tokens: TokenView[] }>('/v1/tokens'),
        ctx.api.get<{ listeners: { name: string }[] }>('/v1/health'),
      ]);
      tokens = t.tokens;
      connections = health.listeners.map((l) => l.name);
      fill(tokenSelect, option('', 'All'), tokens.map((x) => option(x.id, `${x.label} (${x.id})`, x.id === filter.token)));
      fill(connectionSelect, option('', 'All'), connections.map((c) => option(c, c, c === filter.connection)));
    } catch { /* the list below reports errors */ }
  }

  let seq = 0;
  async function load() {
    const mine = ++seq;
    const q = new URLSearchParams({ limit: '200' });
    if (filter.token) q.set('token', filter.token);
    if (filter.connection) q.set('connection', filter.connection);
    if (filter.run) q.set('run', filter.run);
    if (filter.live) q.set('live', 'true');
    try {
      const { sessions } = await ctx.api.get<{ sessions: SessionRecord[] }>(`/v1/sessions?${q}`);
      if (mine !== seq) return;
      const filtered = filter.token || filter.connection || filter.run || filter.live;
      fill(body, sessions.length ? table(sessions) : filtered
        ? empty('filter', 'No sessions match', 'Nothing recorded for this token, connection, run and state.')
        : empty('wait', 'No sessions yet', 'A session starts when an agent connects with a token — psql, a pg pool, an SDK through an HTTP or LLM connection.'));
    } catch (err) {
      if (mine === seq) fill(body, errorPanel('Sessions could not be loaded.', (err as Error).message));
    }
  }

  function table(list: SessionRecord[]): HTMLElement {
    const now = Date.now();
    return h('table.table.clickable', {},
      h('thead', {}, h('tr', {}, ['', 'Token', 'Connection', 'Run · step', 'Client', 'Started', 'Length', 'Ended'].map((t) => h('th', {}, t)))),
      h('tbody', {}, list.map((s) => h('tr', { 'data-id': s.id, tabindex: '0', onclick: () => ctx.navigate(`#/sessions/${s.id}`), onkeydown: (e: Event) => { if ((e as KeyboardEvent).key === 'Enter') ctx.navigate(`#/sessions/${s.id}`); } },
        h('td', {}, h('span.state-dot', { class: s.endedAt ? 'ended' : 'live', title: s.endedAt ? 'ended' : 'live' })),
        h('td', {}, h('a', { href: `#/sessions/${s.id}` }, s.label), h('span.quiet', {}, ` · ${s.role}`)),
        h('td', {}, s.connection, h('span.quiet', {}, ` · ${s.protocol}`)),
        h('td.mono', {}, s.runId ?? h('span.quiet', {}, '—'), s.step ? h('span.quiet', {}, ` · ${s.step}`) : null),
        h('td.mono.quiet', {}, s.client),
        h('td.nowrap', { title: dateTime(s.startedAt) }, relative(s.startedAt, now)),
        h('td.nowrap', {}, duration((s.endedAt ?? now) - s.startedAt)),
        h('td', {}, s.endedAt ? h('span.quiet', {}, s.endReason ?? 'ended') : h('span.badge.live', {}, 'Live'))))));
  }

  let refreshTimer: ReturnType<typeof setTimeout> | undefined;
  const offAudit = ctx.live.on('audit', (r) => {
    if (r.kind !== 'session.open' && r.kind !== 'session.close' && r.kind !== 'token.create') return;
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => { if (r.kind === 'token.create') void loadFilters(); void load(); }, 300);
  });
  const offHello = ctx.live.on('hello', () => void load());
  void loadFilters();
  void load();
  return { el, dispose() { offAudit(); offHello(); clearTimeout(refreshTimer); clearTimeout(runTimer); } };
}
