/** Jobs: the list, one job with live per-board progress, and the "new job" form. */
import { api, ApiRequestError, follow, withQuery } from './api.js';
import { agoEl, badge, duration, errorBox, h, mount, pager, table } from './dom.js';
import { childController, coalesce, onFarm } from './live.js';
import { logPanel } from './log-panel.js';
import type { ViewContext } from './main.js';
import { can } from './session.js';
import type { FarmJobEvent, FirmwareView, JobView, Page, RunSnapshot } from '#contracts';

const STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];

function counts(job: Pick<JobView, 'slotCounts'>): string {
  return Object.entries(job.slotCounts)
    .map(([k, v]) => `${v} ${k}`)
    .join(', ');
}

function describeTarget(target: unknown): string {
  const t = target as {
    device?: string;
    selector?: Record<string, unknown>;
    count?: number;
    all?: Record<string, unknown>;
  };
  const sel = (s: Record<string, unknown> | undefined) =>
    Object.entries(s ?? {})
      .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : String(v)}`)
      .join(', ');
  if (t.device) return `device ${t.device}`;
  if (t.all) return `all of ${sel(t.all)}`;
  return `${t.count ?? 1} × ${sel(t.selector)}`;
}

/** #/jobs */
export async function jobsView(ctx: ViewContext): Promise<void> {
  const own = childController(ctx.signal);
  const status = ctx.query.get('status');
  const page = await api<Page<JobView>>(
    withQuery('/jobs', { status, limit: 25, offset: Number(ctx.query.get('offset') ?? 0) }),
    {
      signal: ctx.signal,
    },
  );
  const filter = h(
    'select',
    { name: 'status', 'aria-label': 'Status' },
    h('option', { value: '' }, 'Status: any'),
    ...STATUSES.map((s) => h('option', { value: s, selected: s === status }, s)),
  );
  filter.addEventListener('change', () => ctx.setQuery({ status: filter.value, offset: undefined }));
  mount(
    ctx.root,
    h(
      'div',
      { class: 'page-head' },
      h('h1', {}, 'Jobs'),
      can('createJob') ? h('a', { href: '#/jobs/new', class: 'button primary' }, 'New job') : null,
    ),
    h('div', { class: 'filters' }, filter),
    page.items.length
      ? table(
          ['Job', 'Status', 'Target', 'Boards', 'By', 'Created', 'Duration'],
          page.items.map((j) => [
            h('a', { href: `#/jobs/${j.id}`, class: 'mono' }, j.id.slice(-8)),
            badge(j.status),
            describeTarget(j.target),
            counts(j),
            j.requestedBy,
            agoEl(j.createdAt),
            duration(j.startedAt, j.finishedAt),
          ]),
          { class: 'grid', id: 'jobs-table' },
        )
      : h('p', { class: 'empty' }, 'No job yet.'),
    pager(page, (offset) => ctx.setQuery({ offset })),
  );
  // Live: a listed job's status and counts from its event; a new job (first page only) reloads the list.
  const rows = new Map(
    page.items.map((j, i) => [
      j.id,
      document.querySelectorAll<HTMLTableRowElement>('#jobs-table tbody tr')[i],
    ]),
  );
  const reload = coalesce(500, own.signal, () => {
    own.abort();
    return jobsView(ctx);
  });
  onFarm('job', own.signal, (data) => {
    const j = data as FarmJobEvent;
    const row = rows.get(j.id);
    if (!row) {
      if (!Number(ctx.query.get('offset') ?? 0)) reload();
      return;
    }
    mount(row.cells[1], badge(j.status));
    mount(row.cells[3], counts(j));
    mount(row.cells[6], duration(j.startedAt, j.finishedAt));
  });
  onFarm('reload', own.signal, reload);
}

/** What a slot without a board waits for: the api's reason when it gave one. */
function waitingText(run: RunSnapshot): string {
  if (run.errorCode === 'NO_USABLE_DEVICE') return 'no board matches the target';
  if (run.status === 'queued') return 'queued: waiting for a matching board to be free';
  return '-';
}

/** #/jobs/:id: one row per board with a live progress bar. */
/** A slot's row actions: show its log under the table (a button, so the keyboard reaches it) and open its run. */
function slotActions(run: RunSnapshot, selected: boolean, onSelect: () => void): HTMLElement {
  return h(
    'td',
    { class: 'slot-actions' },
    h(
      'button',
      {
        type: 'button',
        class: 'slot-log small',
        'aria-pressed': String(selected),
        'aria-controls': 'slot-log-card',
        onclick: onSelect,
      },
      'show log',
    ),
    ' ',
    h('a', { href: `#/runs/${run.id}`, class: 'run-link' }, 'run'),
  );
}

// eslint-disable-next-line max-lines-per-function -- one page: its rows, live stream handlers and cancel button share the page's row map
export async function jobView(ctx: ViewContext): Promise<void> {
  const id = ctx.params[0];
  let job = await api<JobView>(`/jobs/${encodeURIComponent(id)}`, { signal: ctx.signal });
  const firmware = await api<FirmwareView>(`/firmware/${job.firmwareId}`, { signal: ctx.signal }).catch(
    () => undefined,
  );
  const slotOfRun = new Map<string, number>();
  const statusBox = h('span', { id: 'job-status' }, badge(job.status));
  const countsBox = h('span', { class: 'muted', id: 'job-counts' }, counts(job));
  const latestStatus = new Map<number, string>();
  const rowsBox = h('tbody', {});
  const rows = new Map<
    string,
    {
      bar: HTMLElement;
      label: HTMLElement;
      status: HTMLElement;
      stage: HTMLElement;
      error: HTMLElement;
      row: HTMLElement;
    }
  >();
  const devices = new Map<string, { mac?: string; chip?: string; label?: string | null }>();
  for (const s of job.slots) if (s.latest.device) devices.set(s.latest.device.id, s.latest.device);
  // The slot whose log is shown under the table: the one asked for, else one at work, else one that
  // failed (what QA opens a job for), else the first.
  const panel = logPanel(ctx.signal);
  const asked = Number(ctx.query.get('slot'));
  const pick =
    job.slots.find((s) => s.latest.slot === asked) ??
    job.slots.find((s) => ['dispatched', 'running'].includes(s.latest.status)) ??
    job.slots.find((s) => s.latest.status === 'failed') ??
    job.slots[0];
  let selectedSlot = pick?.latest.slot;
  const latestRun = new Map<number, RunSnapshot>();
  const select = (slot: number) => {
    selectedSlot = slot;
    for (const [key, r] of rows) {
      r.row.classList.toggle('selected', key === `${slot}`);
      r.row.querySelector('button.slot-log')?.setAttribute('aria-pressed', String(key === `${slot}`));
    }
    const run = latestRun.get(slot);
    if (run) panel.show(run);
  };

  const drawRun = (run: RunSnapshot) => {
    let row = rows.get(`${run.slot}`);
    if (!row) {
      const bar = h('span', { class: 'bar-fill' });
      const label = h('span', { class: 'bar-label' });
      row = {
        bar,
        label,
        status: h('td', {}),
        stage: h('td', {}),
        error: h('td', { class: 'error-text' }),
        row: h('tr', { 'data-slot': run.slot }),
      };
      rows.set(`${run.slot}`, row);
      rowsBox.append(row.row);
    }
    const device = run.deviceId ? devices.get(run.deviceId) : undefined;
    slotOfRun.set(run.id, run.slot);
    // A late event of an earlier attempt never replaces the slot's newer run.
    const known = latestRun.get(run.slot);
    if (!known || known.attempt <= run.attempt) latestRun.set(run.slot, run);
    const pct = run.status === 'succeeded' ? 100 : Math.max(0, Math.min(100, run.progress));
    row.bar.style.width = `${pct}%`;
    row.bar.className = `bar-fill bar-${run.status}`;
    row.label.textContent =
      run.status === 'failed' || run.status === 'cancelled' ? run.status : `${pct.toFixed(0)} %`;
    mount(row.status, badge(run.status));
    // The stage matters while a board works; afterwards the status says it all.
    row.stage.textContent = ['dispatched', 'running'].includes(run.status) ? (run.stage ?? '-') : '-';
    latestStatus.set(run.slot, run.status);
    countsBox.textContent = Object.entries(
      [...latestStatus.values()].reduce<Record<string, number>>(
        (acc, st) => ({ ...acc, [st]: (acc[st] ?? 0) + 1 }),
        {},
      ),
    )
      .map(([k, v]) => `${v} ${k}`)
      .join(', ');
    row.error.textContent = run.errorCode ? `${run.errorCode}: ${run.errorMessage ?? ''}` : '';
    mount(
      row.row,
      h('td', {}, String(run.slot)),
      h(
        'td',
        {},
        run.deviceId
          ? h(
              'a',
              { href: `#/devices/${run.deviceId}`, class: 'mono' },
              device?.mac ?? run.deviceId.slice(-8),
            )
          : h('span', { class: 'muted waiting' }, waitingText(run)),
      ),
      row.status,
      row.stage,
      h(
        'td',
        { class: 'progress-cell' },
        h(
          'span',
          { class: 'bar wide', role: 'progressbar', 'aria-valuenow': pct.toFixed(0) },
          row.bar,
          row.label,
        ),
      ),
      h('td', { class: 'attempt' }, `#${run.attempt}`),
      row.error,
      slotActions(run, run.slot === selectedSlot, () => select(run.slot)),
    );
    row.row.classList.toggle('selected', run.slot === selectedSlot);
    if (run.slot === selectedSlot && latestRun.get(run.slot) === run) panel.show(run);
  };
  for (const s of job.slots) drawRun(s.latest);

  const cancel = h('button', { type: 'button', class: 'danger', id: 'cancel-job' }, 'Cancel job');
  const mayCancel = can('cancelJob');
  cancel.hidden = !mayCancel || ['succeeded', 'failed', 'cancelled'].includes(job.status);
  cancel.addEventListener('click', () => {
    cancel.disabled = true;
    api(`/jobs/${job.id}/cancel`, { method: 'POST', body: { reason: 'cancelled from the dashboard' } }).catch(
      (e: unknown) => {
        cancel.disabled = false;
        ctx.root.prepend(errorBox(e));
      },
    );
  });
  mount(
    ctx.root,
    h('div', { class: 'page-head' }, h('h1', {}, `Job ${job.id.slice(-8)}`), statusBox, countsBox, cancel),
    h(
      'p',
      { class: 'muted' },
      `${describeTarget(job.target)} · firmware `,
      firmware
        ? h(
            'a',
            { href: `#/firmware/${firmware.id}`, id: 'job-firmware-name' },
            `${firmware.name} ${firmware.version ?? ''}`.trim(),
          )
        : job.firmwareId.slice(-8),
      ` · by ${job.requestedBy} · `,
      agoEl(job.createdAt),
    ),
    h(
      'table',
      { class: 'grid', id: 'job-runs' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...['Slot', 'Board', 'Status', 'Stage', 'Progress', 'Attempt', 'Error', ''].map((c) =>
            h('th', {}, c),
          ),
        ),
      ),
      rowsBox,
    ),
    panel.element,
  );

  const refresh = async () => {
    job = await api<JobView>(`/jobs/${encodeURIComponent(id)}`, { signal: ctx.signal });
    for (const s of job.slots) {
      if (s.latest.device) devices.set(s.latest.device.id, s.latest.device);
      drawRun(s.latest);
    }
    mount(statusBox, badge(job.status));
    countsBox.textContent = counts(job);
    cancel.hidden = !mayCancel || ['succeeded', 'failed', 'cancelled'].includes(job.status);
  };
  await follow(
    `/jobs/${encodeURIComponent(id)}/events`,
    (e) => {
      if (e.event === 'run') {
        const run = e.data as RunSnapshot;
        if (run.deviceId && !devices.has(run.deviceId)) void refresh().catch(() => undefined);
        drawRun(run);
      } else if (e.event === 'progress') {
        const p = e.data as { runId: string; percent: number; stage: string };
        // By the run's id: a slot's later attempt has a run the page learned from the stream.
        const slot = slotOfRun.get(p.runId);
        const row = slot === undefined ? undefined : rows.get(`${slot}`);
        if (row) {
          row.bar.style.width = `${p.percent}%`;
          row.bar.parentElement?.setAttribute('aria-valuenow', String(Math.round(p.percent)));
          row.label.textContent = `${Math.round(p.percent)} %`;
          row.stage.textContent = p.stage;
          row.stage.dataset.stage = p.stage;
        }
      } else if (e.event === 'job') {
        const status = (e.data as { status: string }).status;
        mount(statusBox, badge(status));
        cancel.hidden = !mayCancel || ['succeeded', 'failed', 'cancelled'].includes(status);
      } else if (e.event === 'end') {
        void refresh().catch(() => undefined);
      }
    },
    ctx.signal,
  );
  if (!ctx.signal.aborted) await refresh();
}

/** #/jobs/new: pick a firmware, a selector and a count. */
// eslint-disable-next-line max-lines-per-function -- one form: its fields, their validation and the submit share the form's inputs
export async function newJobView(ctx: ViewContext): Promise<void> {
  const firmware = await api<Page<FirmwareView>>('/firmware?limit=100', { signal: ctx.signal });
  if (!firmware.items.length) {
    mount(
      ctx.root,
      h('h1', {}, 'New job'),
      h(
        'p',
        { class: 'empty' },
        'No firmware uploaded yet: upload one with `flashfarm submit` or POST /firmware.',
      ),
    );
    return;
  }
  const fw = h(
    'select',
    { name: 'firmware', id: 'job-firmware', required: true },
    ...firmware.items.map((f) =>
      h('option', { value: f.id }, `${f.name} ${f.version ?? ''} · ${f.chip} · ${f.id.slice(-8)}`),
    ),
  );
  const kind = h(
    'select',
    { name: 'kind', id: 'job-kind' },
    h('option', { value: 'count' }, 'N boards matching'),
    h('option', { value: 'all' }, 'every matching board online now'),
    h('option', { value: 'device' }, 'one device (MAC or id)'),
  );
  const count = h('input', { type: 'number', name: 'count', id: 'job-count', min: 1, max: 1000, value: 1 });
  const pool = h('input', { type: 'text', name: 'pool', id: 'job-pool', placeholder: 'any pool' });
  const tags = h('input', { type: 'text', name: 'tags', id: 'job-tags', placeholder: 'tag1, tag2' });
  const device = h('input', {
    type: 'text',
    name: 'device',
    id: 'job-device',
    placeholder: 'aa:bb:cc:dd:ee:ff',
  });
  const bootCheck = h('input', {
    type: 'text',
    name: 'bootCheck',
    id: 'job-boot-check',
    placeholder: 'e.g. app_main\\(\\)',
  });
  const verify = h('input', { type: 'checkbox', name: 'verify', checked: true });
  const eraseAll = h('input', { type: 'checkbox', name: 'eraseAll' });
  const message = h('div', {});
  const chipNote = h('span', { class: 'muted' });
  const row = (label: string, input: HTMLElement, note?: HTMLElement) =>
    h('div', { class: 'form-row' }, h('label', {}, label), input, note ?? null);
  const deviceRow = row('Device', device);
  const countRow = row('Count', count);
  const selectorRows = [row('Pool', pool), row('Tags', tags)];
  const sync = () => {
    const f = firmware.items.find((x) => x.id === fw.value);
    chipNote.textContent = f ? `boards of chip ${f.chip} only (the firmware decides the chip)` : '';
    deviceRow.hidden = kind.value !== 'device';
    countRow.hidden = kind.value !== 'count';
    for (const r of selectorRows) r.hidden = kind.value === 'device';
  };
  fw.addEventListener('change', sync);
  kind.addEventListener('change', sync);
  const form = h(
    'form',
    { class: 'card form', id: 'new-job-form' },
    row('Firmware', fw),
    h('div', { class: 'form-row' }, h('span', {}), chipNote),
    row('Target', kind),
    countRow,
    ...selectorRows,
    deviceRow,
    row('Boot check (regex)', bootCheck),
    h(
      'div',
      { class: 'form-row' },
      h('label', {}, 'Options'),
      h('label', { class: 'inline' }, verify, ' verify'),
      h('label', { class: 'inline' }, eraseAll, ' erase all first'),
    ),
    h(
      'div',
      { class: 'form-row' },
      h('span', {}),
      h('button', { type: 'submit', class: 'primary' }, 'Start job'),
    ),
    message,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const selector: Record<string, unknown> = {};
    if (pool.value.trim()) selector.pool = pool.value.trim();
    const tagList = tags.value
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean);
    if (tagList.length) selector.tags = tagList;
    const target =
      kind.value === 'device'
        ? { device: device.value.trim() }
        : kind.value === 'all'
          ? { all: selector }
          : { selector, count: Number(count.value) };
    const options: Record<string, unknown> = { verify: verify.checked, eraseAll: eraseAll.checked };
    if (bootCheck.value.trim()) options.bootCheck = { pattern: bootCheck.value.trim(), timeoutMs: 10_000 };
    api<JobView>('/jobs', { method: 'POST', body: { firmwareId: fw.value, target, options } })
      .then((job) => {
        location.hash = `#/jobs/${job.id}`;
      })
      .catch((error: unknown) =>
        mount(
          message,
          errorBox(error instanceof ApiRequestError ? `${error.code}: ${error.message}` : error),
        ),
      );
  });
  sync();
  mount(ctx.root, h('div', { class: 'page-head' }, h('h1', {}, 'New job')), form);
}
