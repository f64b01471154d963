// A tiny DOM builder: elements from data, text only through textContent — the console never parses HTML it did not write.

type Child = Node | string | number | null | undefined | false | Child[];
type Props = Record<string, string | number | boolean | null | undefined | EventListener>;

/** `h('button.primary', { onclick }, 'Approve')`: tag with optional `.class` parts, properties or attributes, children. */
export function h<K extends keyof HTMLElementTagNameMap>(spec: K | `${K}.${string}`, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const [tag, ...classes] = spec.split('.');
  const el = document.createElement(tag as K);
  if (classes.length) el.className = classes.join(' ');
  for (const [name, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') el.addEventListener(name.slice(2), value);
    else if (name === 'class') el.className = [el.className, String(value)].filter(Boolean).join(' ');
    else if (name === 'value' || name === 'checked' || name === 'disabled' || name === 'selected') (el as unknown as Record<string, unknown>)[name] = value;
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: Child[]) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

/** Replaces an element's children. */
export function fill(el: Element, ...children: Child[]) {
  el.replaceChildren();
  append(el, children);
}

/**
 * An intentional empty state: a mark, a sentence that says what belongs here, and optionally what to do.
 * `check`: all clear; `wait`: nothing has happened yet; `filter`: something exists, but not for these filters.
 */
export function empty(mark: 'check' | 'wait' | 'filter', title: string, body: string, action?: Node): HTMLElement {
  return h('div.empty', {}, h('div.empty-mark', { class: `mark-${mark}`, 'aria-hidden': 'true' }), h('p.empty-title', {}, title), h('p.empty-body', {}, body), action ?? null);
}

/** A calm, visible error panel (role=alert so screen readers hear it). */
export function errorPanel(title: string, message: string, action?: Node): HTMLElement {
  return h('div.error-panel', { role: 'alert' }, h('strong', {}, title), h('span', {}, message), action ?? null);
}

export function option(value: string, label: string, selected = false): HTMLOptionElement {
  return h('option', { value, selected }, label);
}
