// Tokens: issue one for a chain step (shown once, with copy-ready connection lines), see when each was last used, revoke.
import type { ConnectionView, RoleView, TokenView } from '../../wire.ts';
import type { Ctx, View } from '../ctx.ts';
import { empty, errorPanel, fill, h, option } from '../dom.ts';
import { dateTime, relative } from '../format.ts';

interface Created extends TokenView { token: string }

export function tokensView(ctx: Ctx): View {
  let roles: RoleView[] = [];
  let tokens: TokenView[] = [];
  let showInactive = false;

  const roleSelect = h('select.select', { id: 'token-role', name: 'role', required: true });
  const roleHint = h('p.hint', { id: 'role-hint' });
  const labelInput = h('input.input.mono', { id: 'token-label', name: 'label', placeholder: 'e.g. rag-step', maxlength: 63, pattern: '[A-Za-z0-9_.\\-]{1,63}', autocomplete: 'off' });
  const ttlSelect = h('select.select', { id: 'token-ttl', name: 'ttl' },
    option('5m', '5 minutes'), option('15m', '15 minutes', true), option('1h', '1 hour'), option('8h', '8 hours'), option('24h', '24 hours'));
  const formError = h('p.form-error', { role: 'alert', hidden: true });
  const createButton = h('button.button.primary', { type: 'submit' }, 'Create token');
  const reveal = h('div', { id: 'created' });
  const listBody = h('div', { id: 'token-list' });
  const inactiveBox = h('input', { type: 'checkbox', onchange: () => { showInactive = inactiveBox.checked; renderList(); } });

  const form = h('form.card.create-form', { onsubmit: (e: Event) => { e.preventDefault(); void create(); } },
    h('h2.card-title', {}, 'Issue a token'),
    h('p.quiet', {}, 'One narrow token per chain step: a role, a label agents connect as, and a short life.'),
    h('div.form-row', {},
      h('div.field', {}, h('label.label', { for: 'token-role' }, 'Role'), roleSelect),
      h('div.field', {}, h('label.label', { for: 'token-label' }, 'Label'), labelInput),
      h('div.field', {}, h('label.label', { for: 'token-ttl' }, 'Lifetime'), ttlSelect),
      h('div.field.field-button', {}, createButton)),
    roleHint,
    formError);

  const el = h('section.view', {},
    h('div.view-head', {},
      h('h1', {}, 'Tokens'),
      h('p.view-lede', {}, 'Agents present these instead of real credentials. Revoking one ends its live sessions at once.')),
    form,
    reveal,
    h('div.list-head', {}, h('h2.section-title', {}, 'Issued tokens'), h('label.check', {}, inactiveBox, h('span', {}, 'Show revoked and expired'))),
    listBody);

  roleSelect.addEventListener('change', () => renderRoleHint());

  function renderRoleHint() {
    const role = roles.find((r) => r.name === roleSelect.value);
    if (!role) return fill(roleHint);
    fill(roleHint, role.connections.length
      ? ['Reaches ', role.connections.map((c, i) => [i ? ', ' : '', h('strong', {}, c.name), ` (${c.kind === 'llm' ? `LLM, ${c.flavor ?? 'openai'}` : c.kind})`])]
      : 'This role has no grants on any connection: a token for it can do nothing.');
  }

  async function loadRoles() {
    try {
      roles = (await ctx.api.get<{ roles: RoleView[] }>('/v1/roles')).roles;
      fill(roleSelect, roles.map((r) => option(r.name, r.name)));
      renderRoleHint();
    } catch (err) {
      showFormError(`Roles could not be loaded: ${(err as Error).message}`);
    }
  }

  async function loadTokens() {
    try {
      tokens = (await ctx.api.get<{ tokens: TokenView[] }>('/v1/tokens')).tokens;
      renderList();
    } catch (err) {
      fill(listBody, errorPanel('Tokens could not be loaded.', (err as Error).message));
    }
  }

  function showFormError(message: string) {
    formError.textContent = message;
    formError.hidden = false;
  }

  async function create() {
    formError.hidden = true;
    const role = roleSelect.value;
    if (!role) return showFormError('Choose a role.');
    createButton.disabled = true;
    try {
      const created = await ctx.api.post<Created>('/v1/tokens', { role, label: labelInput.value.trim() || role, ttl: ttlSelect.value });
      labelInput.value = '';
      showCreated(created);
      await loadTokens();
    } catch (err) {
      showFormError(`The gateway refused: ${(err as Error).message}`);
    } finally {
      createButton.disabled = false;
    }
  }

  function showCreated(t: Created) {
    const role = roles.find((r) => r.name === t.role);
    const lines = (role?.connections ?? []).map((c) => connectLine(c, t));
    fill(reveal, h('div.card.reveal', { 'data-token-id': t.id },
      h('div.reveal-head', {},
        h('h2.card-title', {}, `Token for ${t.label}`, h('span.quiet', {}, ` · role ${t.role}`)),
        h('span.badge.once', {}, 'Shown once')),
      h('p.quiet', {}, `Copy it now: the gateway keeps only its hash. It expires ${relative(t.expiresAt)} (${dateTime(t.expiresAt)}).`),
      copyRow('Token', t.token, 'token'),
      lines.length ? h('h3.mini-title', {}, 'Connect') : null,
      lines.flat(),
      h('div.reveal-foot', {}, h('button.button.ghost.small', { type: 'button', onclick: () => fill(reveal) }, 'Done — hide it'))));
  }

  function connectLine(c: ConnectionView, t: Created): HTMLElement[] {
    const address = hostFor(c.address);
    if (c.kind === 'postgres') {
      return [copyRow(`${c.name} · psql URL`, `postgresql://${encodeURIComponent(t.label)}:${t.token}@${address}/${c.name}`, `psql-${c.name}`)];
    }
    if (c.kind === 'mysql') {
      const at = address.lastIndexOf(':');
      return [copyRow(`${c.name} · mysql`, `mysql -h ${address.slice(0, at)} -P ${address.slice(at + 1)} -u ${t.label} -p'${t.token}' ${c.name}`, `mysql-${c.name}`)];
    }
    if (c.kind === 'llm') {
      const anthropic = c.flavor === 'anthropic';
      return [copyRow(`${c.name} · environment`, anthropic
        ? `ANTHROPIC_BASE_URL=http://${address}\nANTHROPIC_API_KEY=${t.token}`
        : `OPENAI_BASE_URL=http://${address}/v1\nOPENAI_API_KEY=${t.token}`, `env-${c.name}`)];
    }
    return [copyRow(`${c.name} · HTTP`, `curl -H "Authorization: Bearer ${t.token}" http://${address}/`, `http-${c.name}`)];
  }

  function copyRow(label: string, value: string, name: string): HTMLElement {
    const button = h('button.button.small.copy', { type: 'button', 'data-copy': name }, 'Copy');
    const text = h('pre.copy-value', { 'data-value': name }, value);
    button.addEventListener('click', async () => {
      const ok = await copy(value, text);
      button.textContent = ok ? 'Copied' : 'Select and copy';
      button.classList.toggle('done', ok);
      setTimeout(() => { button.textContent = 'Copy'; button.classList.remove('done'); }, 1800);
    });
    return h('div.copy-row', {}, h('span.copy-label', {}, label), text, button);
  }

  function renderList() {
    const now = Date.now();
    const visible = tokens.filter((t) => showInactive || t.status === 'active').sort((a, b) => b.createdAt - a.createdAt);
    if (!tokens.length) return fill(listBody, empty('wait', 'No tokens yet', 'Issue a token above for each step of an agent chain. It is shown once; agents use it as their database password or API key.'));
    if (!visible.length) return fill(listBody, empty('filter', 'No active tokens', 'Every token issued so far has been revoked or has expired.', h('button.button', { type: 'button', onclick: () => { inactiveBox.checked = showInactive = true; renderList(); } }, 'Show them')));
    fill(listBody, h('table.table', {},
      h('thead', {}, h('tr', {}, ['Label', 'Role', 'Status', 'Last used', 'Expires', 'Issued', ''].map((x) => h('th', {}, x)))),
      h('tbody', {}, visible.map((t) => h('tr', { 'data-id': t.id, class: t.status !== 'active' ? 'inactive' : '' },
        h('td', {}, h('strong', {}, t.label), h('div.mono.quiet.small', {}, t.id)),
        h('td', {}, t.role),
        h('td', {}, h('span.badge', { class: `token-${t.status}` }, t.status)),
        h('td.nowrap', { title: t.lastUsedAt ? dateTime(t.lastUsedAt) : '' }, t.lastUsedAt ? relative(t.lastUsedAt, now) : h('span.quiet', {}, 'never')),
        h('td.nowrap', { title: dateTime(t.expiresAt) }, t.status === 'revoked' ? h('span.quiet', {}, `revoked ${relative(t.revokedAt!, now)}`) : relative(t.expiresAt, now)),
        h('td.nowrap', { title: dateTime(t.createdAt) }, relative(t.createdAt, now), h('span.quiet', {}, ` by ${t.createdBy}`)),
        h('td.actions', {}, t.status === 'active' ? revokeControl(t) : null))))));
  }

  function revokeControl(t: TokenView): HTMLElement {
    const cell = h('div.revoke');
    const ask = h('button.button.danger.small', { type: 'button', 'data-action': 'revoke' }, 'Revoke');
    ask.addEventListener('click', () => {
      const confirm = h('button.button.danger.solid.small', { type: 'button', 'data-action': 'confirm-revoke' }, 'Revoke now');
      const cancel = h('button.button.ghost.small', { type: 'button', onclick: () => fill(cell, ask) }, 'Keep');
      confirm.addEventListener('click', async () => {
        confirm.disabled = cancel.disabled = true;
        try {
          await ctx.api.post(`/v1/tokens/${encodeURIComponent(t.id)}/revoke`);
          ctx.toast(`Revoked ${t.label}; its live sessions were closed.`);
          await loadTokens();
        } catch (err) {
          ctx.toast(`Could not revoke ${t.label}: ${(err as Error).message}`, 'error');
          fill(cell, ask);
        }
      });
      fill(cell, h('span.confirm-text', {}, 'Live sessions end at once.'), cancel, confirm);
    });
    fill(cell, ask);
    return cell;
  }

  let refreshTimer: ReturnType<typeof setTimeout> | undefined;
  const offAudit = ctx.live.on('audit', (r) => {
    if (!['token.create', 'token.revoke', 'session.open'].includes(r.kind)) return;
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => void loadTokens(), 300);
  });
  void loadRoles();
  void loadTokens();
  return { el, dispose() { offAudit(); clearTimeout(refreshTimer); } };
}

/** A listener on 0.0.0.0 or :: is reached by the host name the console itself was opened with. */
function hostFor(address: string): string {
  const i = address.lastIndexOf(':');
  const host = address.slice(0, i).replace(/^\[|\]$/g, '');
  const port = address.slice(i);
  if (host === '0.0.0.0' || host === '::') return `${location.hostname}${port}`;
  return host.includes(':') ? `[${host}]${port}` : address;
}

/** The Clipboard API where the page is a secure context (https, localhost); otherwise select the text for the person. */
async function copy(value: string, el: HTMLElement): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(value);
    return true;
  } catch {
    const range = document.createRange();
    range.selectNodeContents(el);
    const sel = getSelection();
    sel?.removeAllRanges();
    sel?.addRange(range);
    return false;
  }
}
