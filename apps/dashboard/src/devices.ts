/** Devices: the searchable table, and one board's page (identity, where it has been, what it was flashed with). */
import { api, follow, withQuery } from './api.js';
import { ago, badge, bytes, facts, h, mount, pager, table, when } from './dom.js';
import type { ViewContext } from './main.js';
import type { AttachmentView, DeviceDetailView, DeviceRunView, DeviceView, Page } from '#contracts';

const CHIPS = [
  'esp8266',
  'esp32',
  'esp32s2',
  'esp32s3',
  'esp32c2',
  'esp32c3',
  'esp32c5',
  'esp32c6',
  'esp32h2',
  'esp32p4',
];
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
  const page = await api<Page<DeviceView>>(withQuery('/devices', query), { signal: ctx.signal });
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
  const chip = select('chip', 'Chip', CHIPS, q.get('chip'));
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
  const rows = page.items.map((d) => [
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
    ago(d.lastRunAt ?? null),
  ]);
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

/** #/devices/:id */
// eslint-disable-next-line max-lines-per-function -- one page: facts, edit form, quarantine controls and both histories share the device read once
export async function deviceView(ctx: ViewContext): Promise<void> {
  const id = ctx.params[0];
  const runsOffset = Number(ctx.query.get('runs') ?? 0);
  const attOffset = Number(ctx.query.get('att') ?? 0);
  const [d, runs, atts] = await Promise.all([
    api<DeviceDetailView>(`/devices/${encodeURIComponent(id)}`, { signal: ctx.signal }),
    api<Page<DeviceRunView>>(
      withQuery(`/devices/${encodeURIComponent(id)}/runs`, { limit: 20, offset: runsOffset }),
      { signal: ctx.signal },
    ),
    api<Page<AttachmentView>>(
      withQuery(`/devices/${encodeURIComponent(id)}/attachments`, { limit: 10, offset: attOffset }),
      {
        signal: ctx.signal,
      },
    ),
  ]);
  const rev = d.chipRevision ?? null;
  const identity = facts([
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
    ['State', [badge(d.state), d.quarantineReason ? ` ${d.quarantineReason}` : '']],
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
  ]);
  const runRows = runs.items.map((r) => [
    h('a', { href: `#/runs/${r.id}`, class: 'mono' }, r.id.slice(-8)),
    badge(r.status),
    r.firmware ? `${r.firmware.name} ${r.firmware.version ?? ''}` : '-',
    r.errorCode ?? '',
    r.baud ? String(r.baud) : '-',
    when(r.queuedAt),
    h('a', { href: `#/jobs/${r.jobId}` }, 'job'),
  ]);
  const attRows = atts.items.map((a) => [
    a.agentName,
    h('span', { class: 'mono small' }, a.portPath),
    a.bridge ?? '-',
    a.usbSerial ?? '-',
    when(a.firstSeenAt),
    a.detachedAt ? when(a.detachedAt) : h('strong', {}, 'current'),
  ]);
  mount(
    ctx.root,
    h(
      'div',
      { class: 'page-head' },
      h('h1', {}, `Device ${d.label ?? d.mac}`),
      h('a', { href: '#/devices' }, '← all devices'),
    ),
    h(
      'div',
      { class: 'columns' },
      h('section', { class: 'card' }, h('h2', {}, 'Identity'), identity),
      consolePanel(d, ctx.signal),
    ),
    h(
      'section',
      { class: 'card' },
      h('h2', {}, `Run history (${runs.total})`),
      runs.items.length
        ? table(['Run', 'Status', 'Firmware', 'Error', 'Baud', 'Queued', ''], runRows, {
            class: 'grid',
            id: 'device-runs',
          })
        : h('p', { class: 'empty' }, 'Never flashed by the farm.'),
      pager(runs, (o) => ctx.setQuery({ runs: o })),
    ),
    h(
      'section',
      { class: 'card' },
      h('h2', {}, `Attachment history (${atts.total})`),
      table(['Agent', 'Port', 'Bridge', 'USB serial', 'First seen', 'Detached'], attRows, { class: 'grid' }),
      pager(atts, (o) => ctx.setQuery({ att: o })),
    ),
  );
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
    d.currentRunId
      ? h('p', {}, 'Flashing now: ', h('a', { href: `#/runs/${d.currentRunId}` }, 'follow the run live'))
      : null,
  );
}
