// Sign-in: a person pastes an admin key; the server answers with a session cookie the page itself cannot read.
import type { Me } from '../../wire.ts';
import { ApiError, type Api } from '../api.ts';
import { h } from '../dom.ts';

export function loginView(api: Api, onSignedIn: (me: Me) => void, notice = ''): HTMLElement {
  const input = h('input.input.mono', {
    id: 'admin-key', name: 'admin-key', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true,
    placeholder: 'Paste an admin key', 'aria-describedby': 'key-hint',
  });
  const error = h('p.form-error', { role: 'alert', hidden: true });
  const button = h('button.button.primary.wide', { type: 'submit' }, 'Sign in');
  const form = h('form.login-form', {
    onsubmit: async (e: Event) => {
      e.preventDefault();
      error.hidden = true;
      const key = input.value.trim();
      if (!key) return show('Paste an admin key first.');
      button.disabled = true;
      button.textContent = 'Signing in…';
      try {
        const me = await api.post<Me>('/v1/console/login', { key });
        input.value = '';
        onSignedIn(me);
      } catch (err) {
        const status = err instanceof ApiError ? err.status : 0;
        show(status === 401 ? 'That key was not accepted. Check that it is one of the admin keys in this gateway\'s configuration.' : (err as Error).message);
        input.select();
      } finally {
        button.disabled = false;
        button.textContent = 'Sign in';
      }
    },
  },
  h('label.label', { for: 'admin-key' }, 'Admin key'),
  input,
  h('p.hint', { id: 'key-hint' }, 'One of the keys under admin.keys in gatehouse.yaml. It is checked once; the browser then holds only a session cookie that expires.'),
  error,
  button);

  function show(message: string) {
    error.textContent = message;
    error.hidden = false;
  }

  queueMicrotask(() => input.focus());
  return h('div.login', {},
    h('div.login-card', {},
      h('div.login-brand', {}, h('span.brand-mark.large', { 'aria-hidden': 'true' }), h('span', {}, 'Gatehouse')),
      h('h1.login-title', {}, 'Sign in to the console'),
      h('p.login-lede', {}, 'Approve held requests, watch decisions as they happen, replay sessions and issue tokens.'),
      notice ? h('p.notice.subtle', { role: 'status' }, notice) : null,
      form),
    h('p.login-foot', {}, 'Signed-in sessions end after 30 minutes idle or 8 hours in all.'));
}
