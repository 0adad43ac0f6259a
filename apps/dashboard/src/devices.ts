/** Devices: the searchable table, and one board's page (identity, where it has been, what it was flashed with). */
import { api, follow, withQuery } from './api.js';
import { agoEl, badge, bytes, errorBox, facts, h, mount, pager, table, when } from './dom.js';
import { childController, coalesce, onFarm } from './live.js';
import type { ViewContext } from './main.js';
import { can } from './session.js';
import type { AttachmentView, ChipView, DeviceDetailView, DeviceRunView, DeviceView, Page } from '#contracts';

let chips: Promise<ChipView[]> | undefined;

/** The chips the farm supports, as the api lists them (read once per tab). */
export function supportedChips(signal?: AbortSignal): Promise<ChipView[]> {
  chips ??= api<ChipView[]>('/chips', { signal }).catch((error: unknown) => {
    chips = undefined;
    throw error;
  });
  return chips;
}
const STATES = ['idle', 'busy', 'offline', 'quarantined'];
const PAGE_SIZE = 50;

function select(name: string, label: string, options: string[], value: string | null): HTMLSelectElement {
  return h(
    'select',
    { name, 'aria-label': label },
    h('option', { value: '' }, `${label}: any`),
    ...options.map((o) => h('option', { value: o, selected: o === value }, o)),
  );
}

/** #/devices */
// eslint-disable-next-line max-lines-per-function -- one page: filters, table and pager share the query it reads from the URL
export async function devicesView(ctx: ViewContext): Promise<void> {
  const own = childController(ctx.signal);
  const signal = own.signal;
  const q = ctx.query;
  const sort = q.get('sort') ?? 'mac';
  const query = {
    chip: q.get('chip'),
    state: q.get('state'),
    pool: q.get('pool'),
    tag: q.get('tag'),
    search: q.get('search'),
    sort,
    limit: PAGE_SIZE,
    offset: Number(q.get('offset') ?? 0),
  };
  const started = performance.now();
  const [page, chipList] = await Promise.all([
    api<Page<DeviceView>>(withQuery('/devices', query), { signal: ctx.signal }),
    supportedChips(ctx.signal),
  ]);
  const elapsed = performance.now() - started;

  const search = h('input', {
    type: 'search',
    name: 'search',
    placeholder: 'MAC or label',
    value: q.get('search') ?? '',
    'aria-label': 'Search MAC or label',
  });
  const pool = h('input', {
    type: 'text',
    name: 'pool',
    placeholder: 'pool',
    value: q.get('pool') ?? '',
    'aria-label': 'Pool',
  });
  const chip = select(
    'chip',
    'Chip',
    chipList.map((c) => c.name),
    q.get('chip'),
  );
  const state = select('state', 'State', STATES, q.get('state'));
  const form = h(
    'form',
    { class: 'filters', id: 'device-filters' },
    search,
    chip,
    state,
    pool,
    h('button', { type: 'submit' }, 'Filter'),
  );
  const apply = () =>
    ctx.setQuery({
      search: search.value.trim(),
      chip: chip.value,
      state: state.value,
      pool: pool.value.trim(),
      offset: undefined,
    });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    apply();
  });
  chip.addEventListener('change', apply);
  state.addEventListener('change', apply);

  const sortHeader = (field: string, label: string) =>
    h(
      'a',
      {
        href: '#',
        class: 'sort',
        onclick: (e: Event) => {
          e.preventDefault();
          ctx.setQuery({ sort: sort === field ? `-${field}` : field, offset: undefined });
        },
      },
      label,
      sort === field ? ' ▲' : sort === `-${field}` ? ' ▼' : '',
    );
  const cells = (d: DeviceView) => [
    h('a', { href: `#/devices/${d.id}`, class: 'mono' }, d.mac),
    d.label ?? '',
    d.chip,
    badge(d.state),
    d.pool ?? '-',
    d.tags.length ? d.tags.map((t) => h('span', { class: 'tag' }, t)) : '-',
    d.attachment
      ? h('span', { class: 'mono small' }, `${d.attachment.agentName ?? ''} ${d.attachment.portPath}`)
      : '-',
    d.lastRunStatus ? badge(d.lastRunStatus) : '-',
    agoEl(d.lastRunAt ?? null),
  ];
  const rows = page.items.map(cells);
  const t = table(
    ['MAC', 'Label', 'Chip', 'State', 'Pool', 'Tags', 'Port', 'Last result', 'Last flash'],
    rows,
    {
      class: 'grid',
      id: 'devices-table',
    },
  );
  const headCells = t.tHead!.rows[0].cells;
  mount(headCells[0], sortHeader('mac', 'MAC'));
  mount(headCells[2], sortHeader('chip', 'Chip'));
  mount(headCells[3], sortHeader('state', 'State'));
  mount(headCells[8], sortHeader('lastRunAt', 'Last flash'));
  // Live: a board on this page is redrawn from its event; the order and filters are the server's, so a
  // board that joins or leaves the page reloads it.
  const byId = new Map(page.items.map((d, i) => [d.id, t.tBodies[0].rows[i]]));
  for (const [id, row] of byId) row.dataset.device = id;
  const reload = coalesce(500, signal, () => {
    own.abort();
    return devicesView(ctx);
  });
  onFarm('device', signal, (data) => {
    const d = data as DeviceView;
    const row = byId.get(d.id);
    if (row) mount(row, ...cells(d).map((c) => h('td', {}, c)));
    else if (page.total < PAGE_SIZE) reload();
  });
  onFarm('reload', signal, reload);
  mount(
    ctx.root,
    h(
      'div',
      { class: 'page-head' },
      h('h1', {}, 'Devices'),
      h(
        'span',
        { class: 'muted', id: 'devices-total' },
        `${page.total} device(s) · ${elapsed.toFixed(0)} ms`,
      ),
    ),
    form,
    page.items.length ? t : h('p', { class: 'empty' }, 'No device matches.'),
    pager(page, (offset) => ctx.setQuery({ offset })),
  );
}

/** Seconds and effective throughput of a run from its start to its end. */
function runFigures(r: DeviceRunView): [string, string] {
  if (!r.startedAt || !r.finishedAt) return ['-', '-'];
  const ms = Date.parse(r.finishedAt) - Date.parse(r.startedAt);
  const secs = ms < 10_000 ? (ms / 1000).toFixed(2) : (ms / 1000).toFixed(1);
  const rate = ms > 0 && r.bytesWritten > 0 ? `${bytes(Math.round(r.bytesWritten / (ms / 1000)))}/s` : '-';
  return [`${secs} s`, rate];
}

/** #/devices/:id: identity, actions for operators, run and attachment history; redrawn as the board changes. */
export async function deviceView(ctx: ViewContext): Promise<void> {
  const id = ctx.params[0];
  const first = await api<DeviceDetailView>(`/devices/${encodeURIComponent(id)}`, { signal: ctx.signal });
  const identityBox = h('section', { class: 'card', id: 'device-identity' });
  const historyBox = h('div', {});
  mount(
    ctx.root,
    h(
      'div',
      { class: 'page-head' },
      h('h1', { id: 'device-title' }, `Device ${first.label ?? first.mac}`),
      h('a', { href: '#/devices' }, '← all devices'),
    ),
    h('div', { class: 'columns' }, identityBox, consolePanel(first, ctx.signal)),
    historyBox,
  );
  const draw = async (d?: DeviceDetailView): Promise<void> => {
    const device =
      d ?? (await api<DeviceDetailView>(`/devices/${encodeURIComponent(id)}`, { signal: ctx.signal }));
    document.getElementById('device-title')!.textContent = `Device ${device.label ?? device.mac}`;
    // A redraw (the action's own answer, or a live event of this board) keeps the panel as the user left it.
    const wasOpen = (document.getElementById('device-actions') as HTMLDetailsElement | null)?.open ?? false;
    const actions = deviceActions(device, () => draw());
    if (actions instanceof HTMLDetailsElement) actions.open = wasOpen;
    mount(identityBox, h('h2', {}, 'Identity'), identityFacts(device), actions);
    mount(historyBox, ...(await histories(ctx, device.id)));
  };
  await draw(first);
  // Live: the board's own changes (state, attachment, settings) redraw the page, a burst of them once.
  const redraw = coalesce(200, ctx.signal, () => draw());
  onFarm('device', ctx.signal, (data) => {
    if ((data as DeviceView).id === first.id) redraw();
  });
  onFarm('reload', ctx.signal, redraw);
}

function identityFacts(d: DeviceDetailView): HTMLElement {
  const rev = d.chipRevision ?? null;
  return facts([
    ['MAC', h('span', { class: 'mono' }, d.mac)],
    [
      'Chip',
      // The agent's description already names the revision; the bare chip name does not.
      d.chipDescription ?? `${d.chip}${rev !== null ? ` (rev v${Math.floor(rev / 100)}.${rev % 100})` : ''}`,
    ],
    ['Features', d.features?.join(', ') || '-'],
    [
      'Flash',
      `${bytes(d.flashSizeBytes)}${d.flashJedecId ? ` · JEDEC 0x${d.flashJedecId.toString(16)}` : ''}`,
    ],
    [
      'State',
      h('span', { id: 'device-state' }, badge(d.state), d.quarantineReason ? ` ${d.quarantineReason}` : ''),
    ],
    ['Pool / tags', `${d.pool ?? '-'} / ${d.tags.join(', ') || '-'}`],
    ['Label', d.label ?? '-'],
    ['Best baud', d.bestBaud ? String(d.bestBaud) : '-'],
    ['Runs', d.counts ? `${d.counts.runs} (${d.counts.succeeded} ok, ${d.counts.failed} failed)` : '-'],
    [
      'Now',
      d.attachment
        ? `${d.attachment.agentName ?? ''} ${d.attachment.portPath} (since ${when(d.attachment.since)})`
        : 'not attached',
    ],
    [
      'Flashing',
      d.currentRunId
        ? h('a', { href: `#/runs/${d.currentRunId}`, id: 'device-current-run' }, 'follow the run')
        : '-',
    ],
  ]);
}

/** Edit, quarantine and release, for the roles that may (nothing for the others). */
function deviceActions(d: DeviceDetailView, done: () => Promise<void>): HTMLElement | null {
  if (!can('editDevice')) return null;
  const status = h('div', { 'aria-live': 'polite' });
  const act = (path: string, body?: unknown, method = 'POST') =>
    api(`/devices/${d.id}${path}`, { method, body })
      .then(done)
      .catch((error: unknown) => mount(status, errorBox(error)));
  const label = h('input', { id: 'edit-label', name: 'label', value: d.label ?? '' });
  const pool = h('input', { id: 'edit-pool', name: 'pool', value: d.pool ?? '' });
  const tags = h('input', { id: 'edit-tags', name: 'tags', value: d.tags.join(', ') });
  const edit = h(
    'form',
    { class: 'stack', id: 'device-edit' },
    h('label', { for: 'edit-label' }, 'Label'),
    label,
    h('label', { for: 'edit-pool' }, 'Pool'),
    pool,
    h('label', { for: 'edit-tags' }, 'Tags (comma-separated)'),
    tags,
    h('button', { type: 'submit' }, 'Save'),
  );
  edit.addEventListener('submit', (e) => {
    e.preventDefault();
    void act(
      '',
      {
        label: label.value.trim() || null,
        pool: pool.value.trim() || null,
        tags: tags.value
          .split(',')
          .map((t) => t.trim())
          .filter(Boolean),
      },
      'PATCH',
    );
  });
  let service: HTMLElement;
  if (d.state === 'quarantined') {
    service = h(
      'button',
      { type: 'button', id: 'device-release', onclick: () => void act('/release') },
      'Release to service',
    );
  } else {
    const reason = h('input', { id: 'quarantine-reason', name: 'reason', required: true });
    service = h(
      'form',
      { class: 'stack', id: 'device-quarantine' },
      h('label', { for: 'quarantine-reason' }, 'Quarantine reason'),
      reason,
      h('button', { type: 'submit', class: 'danger' }, 'Quarantine'),
    );
    service.addEventListener('submit', (e) => {
      e.preventDefault();
      void act('/quarantine', { reason: reason.value.trim() });
    });
  }
  return h(
    'details',
    { class: 'actions', id: 'device-actions' },
    h('summary', {}, 'Edit / service'),
    edit,
    service,
    status,
  );
}

async function histories(ctx: ViewContext, id: string): Promise<HTMLElement[]> {
  const runsOffset = Number(ctx.query.get('runs') ?? 0);
  const attOffset = Number(ctx.query.get('att') ?? 0);
  const [runs, atts] = await Promise.all([
    api<Page<DeviceRunView>>(withQuery(`/devices/${id}/runs`, { limit: 20, offset: runsOffset }), {
      signal: ctx.signal,
    }),
    api<Page<AttachmentView>>(withQuery(`/devices/${id}/attachments`, { limit: 10, offset: attOffset }), {
      signal: ctx.signal,
    }),
  ]);
  const runRows = runs.items.map((r) => {
    const [took, rate] = runFigures(r);
    return [
      h('a', { href: `#/runs/${r.id}`, class: 'mono' }, r.id.slice(-8)),
      badge(r.status),
      r.firmware ? `${r.firmware.name} ${r.firmware.version ?? ''}` : '-',
      r.errorCode ?? '',
      took,
      rate,
      r.baud ? String(r.baud) : '-',
      r.agentName ? `${r.agentName} ${r.portPath ?? ''}` : '-',
      agoEl(r.queuedAt),
      h('a', { href: `#/jobs/${r.jobId}` }, 'job'),
    ];
  });
  const attRows = atts.items.map((a) => [
    a.agentName,
    h('span', { class: 'mono small' }, a.portPath),
    a.bridge ?? '-',
    a.usbSerial ?? '-',
    when(a.firstSeenAt),
    a.detachedAt ? when(a.detachedAt) : h('strong', {}, 'current'),
  ]);
  return [
    h(
      'section',
      { class: 'card' },
      h('h2', {}, `Run history (${runs.total})`),
      runs.items.length
        ? h(
            'div',
            { class: 'scroll' },
            table(
              ['Run', 'Status', 'Firmware', 'Error', 'Took', 'Throughput', 'Baud', 'Where', 'Queued', ''],
              runRows,
              { class: 'grid', id: 'device-runs' },
            ),
          )
        : h('p', { class: 'empty' }, 'Never flashed by the farm.'),
      pager(runs, (o) => ctx.setQuery({ runs: o })),
    ),
    h(
      'section',
      { class: 'card' },
      h('h2', {}, `Attachment history (${atts.total})`),
      h(
        'div',
        { class: 'scroll' },
        table(['Agent', 'Port', 'Bridge', 'USB serial', 'First seen', 'Detached'], attRows, {
          class: 'grid',
        }),
      ),
      pager(atts, (o) => ctx.setQuery({ att: o })),
    ),
  ];
}

/** The board's live serial console: switched on at its agent while this panel follows it. */
function consolePanel(d: DeviceDetailView, pageSignal: AbortSignal): HTMLElement {
  const out = h('pre', { class: 'log console', id: 'console-log' });
  const state = h('span', { class: 'muted small', id: 'console-state' }, 'off');
  const button = h('button', { type: 'button', id: 'console-toggle' }, 'Start console');
  let session: AbortController | undefined;
  const text: string[] = [];
  const stop = () => {
    session?.abort();
    session = undefined;
    button.textContent = 'Start console';
    state.textContent = 'off';
  };
  button.addEventListener('click', () => {
    if (session) return stop();
    session = new AbortController();
    const signal = AbortSignal.any([session.signal, pageSignal]);
    button.textContent = 'Stop console';
    state.textContent = 'connecting…';
    void follow(
      `/console/${d.id}/events`,
      (e) => {
        if (e.event === 'status') {
          const s = e.data as { attached: boolean; portPath: string | null };
          state.textContent = s.attached
            ? `● live on ${s.portPath ?? ''}`
            : 'the board is not attached to any agent now';
        } else if (e.event === 'console') {
          text.push((e.data as { text: string }).text);
          // Keep the last ~200 KB on screen.
          let size = text.reduce((n, t) => n + t.length, 0);
          while (size > 200_000 && text.length > 1) size -= text.shift()!.length;
          out.textContent = text.join('');
          out.scrollTop = out.scrollHeight;
        }
      },
      signal,
    ).catch((error: unknown) => {
      state.textContent = `console unavailable: ${error instanceof Error ? error.message : String(error)}`;
    });
  });
  return h(
    'section',
    { class: 'card', id: 'console-panel' },
    h('div', { class: 'log-head' }, h('h2', {}, 'Live console'), state, button),
    out,
    h(
      'p',
      { class: 'muted small' },
      'Read without resetting the board. A run takes the port over; the console resumes after it.',
    ),
  );
}
