/** Campaign pages: the list with a start form, and one campaign's live counters, controls, units and exports. */
import { api, ApiRequestError, getToken, withQuery } from './api.js';
import { agoEl, badge, errorBox, h, mount, pager, table, when } from './dom.js';
import { coalesce, onFarm } from './live.js';
import type { ViewContext } from './main.js';
import { can } from './session.js';
import type { CampaignCounters, CampaignView, Page, UnitRecord } from '#contracts';

/** How often at most an open campaign page reads its counters again while its units change. */
const REFRESH_MS = 300;

function counterBoxes(c: CampaignCounters): HTMLElement {
  const box = (label: string, value: string | number, id: string) =>
    h('div', { class: 'counter', id }, h('strong', {}, String(value)), h('span', { class: 'muted' }, label));
  return h(
    'div',
    { class: 'counters' },
    box('done', c.succeeded, 'count-done'),
    box('failed', c.failed, 'count-failed'),
    box('in progress', c.inProgress, 'count-progress'),
    box('waiting', c.pending, 'count-pending'),
    box('units / hour', c.unitsPerHour, 'count-rate'),
  );
}

/** #/campaigns (list and start form) or #/campaigns/:id */
// eslint-disable-next-line max-lines-per-function -- one page: the list and the start form share the firmware list and the message box
export async function campaignsPage(ctx: ViewContext): Promise<void> {
  if (ctx.params[0]) return campaignPage(ctx, ctx.params[0]);
  const [page, firmware] = await Promise.all([
    api<Page<CampaignView>>(
      withQuery('/campaigns', { limit: 25, offset: Number(ctx.query.get('offset') ?? 0) }),
      {
        signal: ctx.signal,
      },
    ),
    api<Page<{ id: string; name: string; version: string | null; chip: string }>>('/firmware?limit=100', {
      signal: ctx.signal,
    }),
  ]);
  const name = h('input', {
    type: 'text',
    id: 'campaign-name',
    required: true,
    placeholder: 'line-2 batch 42',
  });
  const fw = h(
    'select',
    { id: 'campaign-firmware' },
    ...firmware.items.map((f) => h('option', { value: f.id }, `${f.name} ${f.version ?? ''} · ${f.chip}`)),
  );
  const mode = h(
    'select',
    { id: 'campaign-mode' },
    h('option', { value: 'station' }, 'station: every board plugged in from now on'),
    h('option', { value: 'pool' }, 'pool: every board of the pool online now'),
  );
  const pool = h('input', { type: 'text', id: 'campaign-pool', placeholder: 'any pool' });
  const message = h('div', {});
  const form = h(
    'form',
    { class: 'card form', id: 'new-campaign-form' },
    h('h2', {}, 'Start a campaign'),
    h('div', { class: 'form-row' }, h('label', {}, 'Name'), name),
    h('div', { class: 'form-row' }, h('label', {}, 'Firmware'), fw),
    h('div', { class: 'form-row' }, h('label', {}, 'Mode'), mode),
    h('div', { class: 'form-row' }, h('label', {}, 'Pool'), pool),
    h(
      'div',
      { class: 'form-row' },
      h('span', {}),
      h('button', { type: 'submit', class: 'primary' }, 'Start'),
    ),
    message,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const selector = pool.value.trim() ? { pool: pool.value.trim() } : {};
    api<CampaignView>('/campaigns', {
      method: 'POST',
      body: { name: name.value.trim(), firmwareId: fw.value, mode: mode.value, selector },
    })
      .then((c) => (location.hash = `#/campaigns/${c.id}`))
      .catch((error: unknown) =>
        mount(
          message,
          errorBox(error instanceof ApiRequestError ? `${error.code}: ${error.message}` : error),
        ),
      );
  });
  mount(
    ctx.root,
    h('div', { class: 'page-head' }, h('h1', {}, 'Campaigns')),
    page.items.length
      ? table(
          ['Campaign', 'Mode', 'Status', 'Firmware', 'Done', 'Failed', 'In progress', 'Units/h', 'Started'],
          page.items.map((c) => [
            h('a', { href: `#/campaigns/${c.id}` }, c.name),
            c.mode,
            badge(c.status),
            `${c.firmware.name ?? c.firmware.id.slice(-8)} ${c.firmware.version ?? ''}`,
            String(c.counters.succeeded),
            String(c.counters.failed),
            String(c.counters.inProgress),
            String(c.counters.unitsPerHour),
            agoEl(c.startedAt),
          ]),
          { class: 'grid', id: 'campaigns-table' },
        )
      : h('p', { class: 'empty' }, 'No campaign yet.'),
    pager(page, (offset) => ctx.setQuery({ offset })),
    !can('runCampaign')
      ? null
      : firmware.items.length
        ? form
        : h('p', { class: 'muted' }, 'Upload a firmware to start a campaign.'),
  );
}

async function download(path: string, file: string): Promise<void> {
  const response = await fetch(path, { headers: { authorization: `Bearer ${getToken() ?? ''}` } });
  if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
  const a = h('a', { href: URL.createObjectURL(await response.blob()), download: file });
  a.click();
}

// eslint-disable-next-line max-lines-per-function -- one page: counters, controls, unit table and refresh share the page's boxes and filters
async function campaignPage(ctx: ViewContext, id: string): Promise<void> {
  const offset = Number(ctx.query.get('offset') ?? 0);
  const status = ctx.query.get('status');
  const head = h('div', {});
  const countersBox = h('div', {});
  const unitsBox = h('div', {});
  const controls = h('div', { class: 'filters' });
  const message = h('div', {});
  const act = (action: string) => () => {
    api(`/campaigns/${id}/${action}`, { method: 'POST' })
      .then(() => refresh())
      .catch((e: unknown) => mount(message, errorBox(e)));
  };
  // eslint-disable-next-line max-lines-per-function -- the page's markup, top to bottom, over the boxes above
  const draw = (c: CampaignView, units: Page<UnitRecord>) => {
    mount(
      head,
      h(
        'div',
        { class: 'page-head' },
        h('h1', {}, `Campaign ${c.name}`),
        badge(c.status),
        c.mode === 'station'
          ? h('a', { href: `#/stations/${c.id}`, id: 'station-link' }, 'Station screen →')
          : null,
        h('a', { href: '#/campaigns' }, '← campaigns'),
      ),
      h(
        'p',
        { class: 'muted' },
        `${c.mode} mode · ${c.firmware.name ?? ''} ${c.firmware.version ?? ''} (${c.firmware.chip ?? ''}) · pool ${c.selector.pool ?? 'any'} · started by ${c.createdBy} ${when(c.startedAt)}`,
      ),
    );
    mount(countersBox, counterBoxes(c.counters));
    const open = (c.status === 'running' || c.status === 'paused') && can('runCampaign');
    mount(
      controls,
      c.status === 'running' && open
        ? h('button', { type: 'button', id: 'campaign-pause', onclick: act('pause') }, 'Pause')
        : null,
      c.status === 'paused' && open
        ? h('button', { type: 'button', id: 'campaign-resume', onclick: act('resume') }, 'Resume')
        : null,
      open
        ? h('button', { type: 'button', class: 'danger', id: 'campaign-stop', onclick: act('stop') }, 'Stop')
        : null,
      c.counters.failed && c.status !== 'stopped' && can('runCampaign')
        ? h(
            'button',
            { type: 'button', id: 'campaign-retry', onclick: act('retry-failed') },
            `Retry ${c.counters.failed} failed`,
          )
        : null,
      h(
        'button',
        {
          type: 'button',
          id: 'export-csv',
          onclick: () =>
            void download(`/campaigns/${id}/export.csv`, `campaign-${id}.csv`).catch((e: unknown) =>
              mount(message, errorBox(e)),
            ),
        },
        'Export CSV',
      ),
      h(
        'button',
        {
          type: 'button',
          id: 'export-json',
          onclick: () =>
            void download(`/campaigns/${id}/export.json`, `campaign-${id}.json`).catch((e: unknown) =>
              mount(message, errorBox(e)),
            ),
        },
        'Export JSON',
      ),
    );
    mount(
      unitsBox,
      units.items.length
        ? table(
            [
              'MAC',
              'Chip',
              'Flash ID',
              'Result',
              'Attempts',
              'Baud',
              'Agent / port',
              'Finished',
              'Error',
              '',
            ],
            units.items.map((u) => [
              h('span', { class: 'mono' }, u.mac),
              `${u.chip} ${u.chipRevision ?? ''}`,
              u.flashId ?? '-',
              badge(u.result),
              String(u.attempts),
              u.baud ? String(u.baud) : '-',
              h('span', { class: 'mono small' }, `${u.agent ?? '-'} ${u.port ?? ''}`),
              when(u.finishedAt),
              u.errorCode ? `${u.errorCode}: ${u.errorMessage ?? ''}` : '',
              u.runId ? h('a', { href: `#/runs/${u.runId}` }, 'log') : '',
            ]),
            { class: 'grid', id: 'units-table' },
          )
        : h(
            'p',
            { class: 'empty' },
            c.mode === 'station'
              ? 'Plug boards into the station: each one is flashed as soon as it appears.'
              : 'No unit.',
          ),
      pager(units, (o) => ctx.setQuery({ offset: o })),
    );
  };
  const refresh = async () => {
    const [c, units] = await Promise.all([
      api<CampaignView>(`/campaigns/${id}`, { signal: ctx.signal }),
      api<Page<UnitRecord>>(withQuery(`/campaigns/${id}/units`, { limit: 50, offset, status }), {
        signal: ctx.signal,
      }),
    ]);
    draw(c, units);
    return c;
  };
  await refresh();
  mount(
    ctx.root,
    head,
    countersBox,
    controls,
    message,
    h('section', { class: 'card' }, h('h2', {}, 'Units'), unitsBox),
  );
  // Live counters: the farm stream tells each change of the campaign (its status, each unit's status).
  const redraw = coalesce(REFRESH_MS, ctx.signal, async () => void (await refresh()));
  onFarm('campaign', ctx.signal, (data) => {
    if ((data as CampaignView).id === id) redraw();
  });
  onFarm('reload', ctx.signal, redraw);
}
