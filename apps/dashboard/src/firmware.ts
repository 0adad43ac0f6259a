/** Firmware: the list with its upload form, and one firmware's parts, app descriptor and the jobs that used it. */
import type { FirmwareDetailView, FirmwareView, JobView, Page } from '#contracts';
import { api, ApiRequestError, getToken, withQuery } from './api.js';
import { agoEl, badge, bytes, errorBox, facts, h, hex, mount, pager, table } from './dom.js';
import type { ViewContext } from './main.js';
import { supportedChips } from './devices.js';
import { can } from './session.js';

/** "blink 1.2.0" */
export function firmwareName(f: { name: string; version: string | null }): string {
  return f.version ? `${f.name} ${f.version}` : f.name;
}

/** POST /firmware as multipart (api() sends JSON only). */
async function upload(form: FormData): Promise<FirmwareDetailView> {
  const token = getToken();
  const response = await fetch('/firmware', {
    method: 'POST',
    headers: token ? { authorization: `Bearer ${token}` } : {},
    body: form,
  });
  const body = (await response.json().catch(() => ({}))) as { code?: string; message?: string };
  if (!response.ok)
    throw new ApiRequestError(response.status, body.code ?? `HTTP_${response.status}`, body.message ?? '');
  return body as FirmwareDetailView;
}

async function uploadForm(ctx: ViewContext): Promise<HTMLElement> {
  const chips = await supportedChips(ctx.signal);
  const file = h('input', { type: 'file', id: 'fw-file', name: 'file', required: true });
  const name = h('input', { id: 'fw-name', name: 'name', placeholder: 'from the app descriptor' });
  const version = h('input', { id: 'fw-version', name: 'version', placeholder: 'from the app descriptor' });
  const chip = h(
    'select',
    { id: 'fw-chip', name: 'chip' },
    h('option', { value: '' }, 'any (from the image)'),
    ...chips.map((c) => h('option', { value: c.name }, c.displayName)),
  );
  const offset = h('input', { id: 'fw-offset', name: 'offset', placeholder: '0x10000 for one raw part' });
  const status = h('div', { 'aria-live': 'polite', id: 'fw-upload-status' });
  const form = h(
    'form',
    { class: 'card stack', id: 'firmware-upload' },
    h('h2', {}, 'Upload firmware'),
    h('label', { for: 'fw-file' }, 'Merged image, app part or ESP-IDF bundle (.zip, .tar.gz)'),
    file,
    h('label', { for: 'fw-name' }, 'Name'),
    name,
    h('label', { for: 'fw-version' }, 'Version'),
    version,
    h('label', { for: 'fw-chip' }, 'Chip'),
    chip,
    h('label', { for: 'fw-offset' }, 'Offset (a single raw part only)'),
    offset,
    h('button', { type: 'submit', class: 'primary' }, 'Upload'),
    status,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const data = new FormData();
    const chosen = file.files?.[0];
    if (!chosen) return mount(status, errorBox('Choose a file to upload.'));
    const isBundle = /\.(zip|tar\.gz|tgz)$/i.test(chosen.name);
    data.append(isBundle ? 'bundle' : 'file', chosen, chosen.name);
    for (const [k, input] of [
      ['name', name],
      ['version', version],
      ['chip', chip],
      ['offset', offset],
    ] as const)
      if (input.value.trim()) data.append(k, input.value.trim());
    mount(status, h('p', { class: 'muted' }, 'Uploading…'));
    upload(data)
      .then((fw) => {
        location.hash = `#/firmware/${fw.id}`;
      })
      .catch((error: unknown) => mount(status, errorBox(error)));
  });
  return form;
}

/** #/firmware */
export async function firmwareListView(ctx: ViewContext): Promise<void> {
  const offset = Number(ctx.query.get('offset') ?? 0);
  const page = await api<Page<FirmwareView>>(withQuery('/firmware', { limit: 50, offset }), {
    signal: ctx.signal,
  });
  const rows = page.items.map((f: FirmwareView) => [
    h('a', { href: `#/firmware/${f.id}` }, f.name),
    f.version ?? '-',
    f.chip,
    bytes(f.totalBytes),
    String(f.partCount),
    f.createdBy ?? '-',
    agoEl(f.createdAt),
  ]);
  mount(
    ctx.root,
    h(
      'div',
      { class: 'page-head' },
      h('h1', {}, 'Firmware'),
      h('span', { class: 'muted' }, `${page.total} stored`),
    ),
    h(
      'div',
      { class: 'columns' },
      h(
        'section',
        { class: 'card' },
        page.items.length
          ? h(
              'div',
              { class: 'scroll' },
              table(['Name', 'Version', 'Chip', 'Size', 'Parts', 'Uploaded by', 'Uploaded'], rows, {
                class: 'grid',
                id: 'firmware-table',
              }),
            )
          : h('p', { class: 'empty' }, 'No firmware uploaded yet.'),
        pager(page, (o) => ctx.setQuery({ offset: o })),
      ),
      can('uploadFirmware') ? await uploadForm(ctx) : null,
    ),
  );
}

/** #/firmware/:id */
export async function firmwareView(ctx: ViewContext): Promise<void> {
  const id = ctx.params[0];
  const [f, jobs] = await Promise.all([
    api<FirmwareDetailView>(`/firmware/${encodeURIComponent(id)}`, { signal: ctx.signal }),
    api<Page<JobView>>(withQuery('/jobs', { firmwareId: id, limit: 25 }), { signal: ctx.signal }),
  ]);
  const app = (f.metadata.app ?? null) as Record<string, unknown> | null;
  mount(
    ctx.root,
    h(
      'div',
      { class: 'page-head' },
      h('h1', {}, `Firmware ${firmwareName(f)}`),
      h('a', { href: '#/firmware' }, '← all firmware'),
    ),
    h(
      'div',
      { class: 'columns' },
      h(
        'section',
        { class: 'card' },
        h('h2', {}, 'Image'),
        facts([
          ['Chip', f.chip],
          ['Kind', f.kind],
          ['Size', bytes(f.totalBytes)],
          ['Flash', `${f.flash.mode ?? '-'} · ${f.flash.size ?? '-'} · ${f.flash.freq ?? '-'}`],
          ['Uploaded', [f.createdBy ?? '-', ' · ', agoEl(f.createdAt)]],
          ['SHA-256', h('span', { class: 'mono small' }, f.sha256)],
        ]),
      ),
      h(
        'section',
        { class: 'card', id: 'firmware-app' },
        h('h2', {}, 'App descriptor'),
        app
          ? facts(
              Object.entries(app).map(([k, v]) => [
                k,
                typeof v === 'string' || typeof v === 'number' ? String(v) : JSON.stringify(v),
              ]),
            )
          : h('p', { class: 'empty' }, 'No app descriptor (not an ESP-IDF app image).'),
      ),
    ),
    h(
      'section',
      { class: 'card' },
      h('h2', {}, 'Parts'),
      table(
        ['Offset', 'Role', 'File', 'Size', 'SHA-256'],
        f.parts.map((p) => [
          h('span', { class: 'mono' }, hex(p.offset)),
          p.role,
          p.fileName,
          bytes(p.size),
          h('span', { class: 'mono small' }, p.sha256.slice(0, 16)),
        ]),
        { class: 'grid', id: 'firmware-parts' },
      ),
    ),
    h(
      'section',
      { class: 'card' },
      h('h2', {}, `Jobs that used it (${jobs.total})`),
      jobs.items.length
        ? table(
            ['Job', 'Status', 'By', 'Created'],
            jobs.items.map((j) => [
              h('a', { href: `#/jobs/${j.id}`, class: 'mono' }, j.id.slice(-8)),
              badge(j.status),
              j.requestedBy,
              agoEl(j.createdAt),
            ]),
            { class: 'grid', id: 'firmware-jobs' },
          )
        : h('p', { class: 'empty' }, 'No job used it yet.'),
    ),
  );
}
