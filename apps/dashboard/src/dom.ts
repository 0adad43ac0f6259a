/** Small DOM helpers: elements from data (never from HTML strings, so no markup injection) and formatting. */

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | undefined | null | EventListener>;

/** Creates an element: h('a', { href: '#/x', class: 'link' }, 'text', child). */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Array<Child | Child[]>
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (typeof value === 'function') el.addEventListener(key.replace(/^on/, ''), value);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** Replaces the content of an element. */
export function mount(target: Element, ...children: Array<Child | Child[]>): void {
  target.replaceChildren();
  for (const child of children.flat())
    if (child !== null && child !== undefined && child !== false)
      target.append(child instanceof Node ? child : String(child));
}

/** A coloured status label (device states, run and job statuses). */
export function badge(status: string | null | undefined): HTMLElement {
  const s = status ?? 'unknown';
  return h('span', { class: `badge badge-${s}`, 'data-status': s }, s);
}

/** "3 s ago", "5 min ago"... */
export function ago(iso: string | null | undefined): string {
  if (!iso) return '-';
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return `${Math.max(0, s)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

/** A relative time that stays current: the farm's pages redraw every [data-ago] each second. */
export function agoEl(iso: string | null | undefined): HTMLElement | string {
  if (!iso) return '-';
  return h('time', { datetime: iso, 'data-ago': iso, title: new Date(iso).toLocaleString() }, ago(iso));
}

/** Local date and time. */
export function when(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : '-';
}

/** Seconds between two instants, "-" when either is missing. */
export function duration(from: string | null | undefined, to: string | null | undefined): string {
  if (!from || !to) return '-';
  const ms = Date.parse(to) - Date.parse(from);
  return ms < 10_000 ? `${(ms / 1000).toFixed(2)} s` : `${(ms / 1000).toFixed(1)} s`;
}

/** 1.5 MiB, 12 KiB, 300 B. */
export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '-';
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

/** 0x10000 */
export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/** A table from a header and rows. */
export function table(
  header: string[],
  rows: Array<Array<Child | Child[]>>,
  attrs: Attrs = {},
): HTMLTableElement {
  return h(
    'table',
    attrs,
    h('thead', {}, h('tr', {}, ...header.map((c) => h('th', {}, c)))),
    h('tbody', {}, ...rows.map((r) => h('tr', {}, ...r.map((c) => h('td', {}, c))))),
  );
}

/** Previous/next buttons for a server-side page. */
export function pager(
  page: { total: number; limit: number; offset: number },
  go: (offset: number) => void,
): HTMLElement {
  const last = Math.min(page.offset + page.limit, page.total);
  return h(
    'div',
    { class: 'pager' },
    h(
      'button',
      {
        type: 'button',
        disabled: page.offset === 0,
        onclick: () => go(Math.max(0, page.offset - page.limit)),
      },
      '‹ Previous',
    ),
    h(
      'span',
      { class: 'muted', 'data-testid': 'page-info' },
      page.total ? `${page.offset + 1}–${last} of ${page.total}` : 'none',
    ),
    h(
      'button',
      { type: 'button', disabled: last >= page.total, onclick: () => go(page.offset + page.limit) },
      'Next ›',
    ),
  );
}

/** A labelled definition list of facts. */
export function facts(items: Array<[string, Child | Child[]]>): HTMLElement {
  return h('dl', { class: 'facts' }, ...items.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v ?? '-')]));
}

/** An error box. */
export function errorBox(error: unknown): HTMLElement {
  return h('div', { class: 'error', role: 'alert' }, error instanceof Error ? error.message : String(error));
}
