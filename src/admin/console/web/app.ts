// The console's entry point: sign-in check, the shell (navigation, live status, sign-out), and hash routing between views.
import type { Me } from '../wire.ts';
import { createApi } from './api.ts';
import type { Ctx, View, ViewFactory } from './ctx.ts';
import { h, fill } from './dom.ts';
import { Live, type LiveState } from './live.ts';
import { approvalsView } from './views/approvals.ts';
import { decisionsView } from './views/decisions.ts';
import { loginView } from './views/login.ts';
import { replayView } from './views/replay.ts';
import { sessionsView } from './views/sessions.ts';
import { tokensView } from './views/tokens.ts';

interface Route { id: string; title: string; admin: boolean; view: ViewFactory; detail?: ViewFactory }

const routes: Route[] = [
  { id: 'approvals', title: 'Approvals', admin: false, view: approvalsView, detail: approvalsView },
  { id: 'decisions', title: 'Live decisions', admin: true, view: decisionsView },
  { id: 'sessions', title: 'Sessions', admin: true, view: sessionsView, detail: replayView },
  { id: 'tokens', title: 'Tokens', admin: true, view: tokensView },
];

const root = document.getElementById('app')!;
let current: View | undefined;
let live: Live | undefined;
let signedOutMessage = '';

const api = createApi((message) => signOutLocally(message));

function signOutLocally(message = '') {
  if (!live && !current) return;
  signedOutMessage = message;
  live?.stop();
  live = undefined;
  current?.dispose();
  current = undefined;
  showLogin();
}

function showLogin() {
  document.title = 'Sign in · Gatehouse';
  const view = loginView(api, (me) => start(me), signedOutMessage);
  signedOutMessage = '';
  fill(root, view);
  root.className = 'login-page';
}

function toastHost(): HTMLElement {
  let host = document.getElementById('toasts');
  if (!host) document.body.append((host = h('div', { id: 'toasts', class: 'toasts', role: 'status' })));
  return host;
}

function toast(message: string, tone: 'ok' | 'error' = 'ok') {
  const t = h('div.toast', { class: `toast-${tone}` }, message);
  toastHost().append(t);
  setTimeout(() => t.classList.add('toast-out'), tone === 'error' ? 6000 : 3500);
  setTimeout(() => t.remove(), tone === 'error' ? 6400 : 3900);
}

function start(me: Me) {
  api.setCsrf(me.csrf);
  live = new Live(() => void recheck());
  const isAdmin = me.roles.includes('admin');
  const badges = new Map<string, HTMLElement>();
  const links = new Map<string, HTMLAnchorElement>();
  const nav = h('nav.nav', { 'aria-label': 'Console' }, routes.filter((r) => isAdmin || !r.admin).map((r) => {
    const badge = h('span.nav-badge', { hidden: true });
    badges.set(r.id, badge);
    const a = h('a.nav-link', { href: `#/${r.id}`, 'data-view': r.id }, r.title, badge);
    links.set(r.id, a);
    return a;
  }));
  const status = h('span.live-status', { title: 'Live updates' });
  const renderState = (s: LiveState) => {
    status.dataset.state = s;
    status.textContent = s === 'live' ? 'Live' : s === 'connecting' ? 'Connecting' : s === 'reconnecting' ? 'Reconnecting…' : 'Offline';
  };
  const signOut = h('button.button.ghost.small', {
    type: 'button',
    onclick: async () => {
      try { await api.post('/v1/console/logout'); } catch { /* signed out either way */ }
      signOutLocally('You have signed out.');
    },
  }, 'Sign out');
  const header = h('header.topbar', {},
    h('a.brand', { href: '#/approvals' }, h('span.brand-mark', { 'aria-hidden': 'true' }), h('span', {}, 'Gatehouse')),
    nav,
    h('div.topbar-end', {},
      status,
      h('span.whoami', { title: `roles: ${me.roles.join(', ')}` }, h('span.whoami-name', {}, me.name), h('span.whoami-roles', {}, me.roles.join(' · '))),
      signOut));
  const main = h('main.main', { id: 'main' });
  root.className = 'shell';
  fill(root, header, main);

  const ctx: Ctx = {
    api, live, me, isAdmin, toast,
    navigate: (hash) => { if (location.hash === hash) route(); else location.hash = hash; },
    setBadge: (view, count) => {
      const b = badges.get(view);
      if (!b) return;
      b.hidden = count === 0;
      b.textContent = String(count);
    },
  };

  function route() {
    const [id = 'approvals', ...params] = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
    const r = routes.find((x) => x.id === id) ?? routes[0];
    for (const [rid, a] of links) a.classList.toggle('active', rid === r.id);
    current?.dispose();
    if (r.admin && !isAdmin) {
      current = { el: adminOnly(me.name, r.title), dispose() {} };
    } else {
      current = (params.length && r.detail ? r.detail : r.view)(ctx, params);
    }
    document.title = `${r.title} · Gatehouse`;
    fill(main, current.el);
  }

  window.onhashchange = route;
  live.onState(renderState);
  live.start();
  route();
  badgeWatcher(ctx);
}

/** Keeps the pending-approvals count in the navigation, whichever view is open. */
function badgeWatcher(ctx: Ctx) {
  const pending = new Set<string>();
  const refresh = async () => {
    try {
      const { approvals } = await ctx.api.get<{ approvals: { id: string }[] }>('/v1/approvals?status=pending');
      pending.clear();
      for (const a of approvals) pending.add(a.id);
      ctx.setBadge('approvals', pending.size);
    } catch { /* shown by the view itself */ }
  };
  ctx.live.on('hello', () => void refresh());
  ctx.live.on('approval', (a) => {
    const isNew = a.status === 'pending' && !pending.has(a.id) && a.decisions.length === 0;
    if (a.status === 'pending') pending.add(a.id);
    else pending.delete(a.id);
    ctx.setBadge('approvals', pending.size);
    // On the inbox the card itself appears; elsewhere, say so once.
    if (isNew && !location.hash.startsWith('#/approvals')) ctx.toast(`Held for approval: ${a.label} on ${a.connection}`);
  });
}

function adminOnly(name: string, title: string): HTMLElement {
  return h('section.view', {},
    h('div.view-head', {}, h('h1', {}, title)),
    h('div.notice', {}, h('strong', {}, 'This page needs the admin role. '),
      `The key you signed in with (${name}) is an approver key: it can decide on held requests, but tokens, sessions and the decision log are for admins.`));
}

/** After the stream is lost: either the session ended (show sign-in) or the gateway went away (say so, keep trying). */
async function recheck() {
  try {
    await api.get('/v1/console/session');
    setTimeout(() => live?.start(), 2000);
  } catch { /* a 401 already signed us out; otherwise try again later */
    if (live) setTimeout(() => void recheck(), 3000);
  }
}

async function boot() {
  try {
    const me = await api.get<Me>('/v1/console/session');
    start(me);
  } catch {
    showLogin();
  }
}

void boot();
