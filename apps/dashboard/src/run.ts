/** One run: its facts, stages and timings, per-region results, and the full log with a live tail while it runs. */
import { api, follow } from './api.js';
import { badge, bytes, duration, errorBox, facts, h, hex, mount, table, when } from './dom.js';
import { logLineText } from './log-panel.js';
import type { ViewContext } from './main.js';
import type { LogLineView, RunView } from '#contracts';

type Region = RunView['regions'][number];

/** People's names for the agent's timing keys. */
const TIMING_LABELS: Record<string, string> = {
  fetchMs: 'Fetch firmware',
  waitPortMs: 'Wait for the port',
  flashMs: 'Connect, write and verify',
  bootCheckMs: 'Boot check',
  totalMs: 'Total',
};

function timingLabel(key: string): string {
  if (TIMING_LABELS[key]) return TIMING_LABELS[key];
  const words = key
    .replace(/Ms$/, '')
    .replace(/([A-Z])/g, ' $1')
    .toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** What the app printed in a failed boot check, as the terminal showed it (the message quotes it as JSON). */
function bootOutput(run: RunView): string | undefined {
  if (run.errorCode !== 'BOOT_CHECK_FAILED' || !run.errorMessage) return undefined;
  const at = run.errorMessage.indexOf('it printed: ');
  if (at < 0) return undefined;
  const quoted = run.errorMessage.slice(at + 'it printed: '.length);
  try {
    return JSON.parse(quoted) as string;
  } catch {
    return quoted.replace(/\\r\\n|\\n/g, '\n');
  }
}

function header(run: RunView): HTMLElement {
  const printed = bootOutput(run);
  const error = printed
    ? [
        h('span', { class: 'error-text' }, `${run.errorCode}: the app did not print the expected line`),
        h('pre', { class: 'terminal', id: 'boot-output' }, printed.replace(/\r\n?/g, '\n')),
      ]
    : run.errorCode
      ? h('span', { class: 'error-text' }, `${run.errorCode}: ${run.errorMessage ?? ''}`)
      : '-';
  return facts([
    [
      'Status',
      [
        badge(run.status),
        run.stage && !['succeeded', 'cancelled'].includes(run.status)
          ? ` ${run.status === 'failed' ? 'in' : 'stage'} ${run.stage}`
          : '',
      ],
    ],
    [
      'Board',
      run.device
        ? h(
            'a',
            { href: `#/devices/${run.device.id}`, class: 'mono' },
            `${run.device.mac} (${run.device.chip})`,
          )
        : '-',
    ],
    ['Agent / port', `${run.agent?.name ?? '-'} ${run.portPath ?? ''}`],
    [
      'Job / slot',
      [
        h('a', { href: `#/jobs/${run.jobId}` }, run.jobId.slice(-8)),
        ` slot ${run.slot}, attempt ${run.attempt}`,
      ],
    ],
    ['Baud', run.baud ? String(run.baud) : '-'],
    ['Retries', String(run.retries)],
    ['Written / skipped', `${bytes(run.bytesWritten)} / ${bytes(run.bytesSkipped)}`],
    ['Queued', when(run.queuedAt)],
    ['Duration', duration(run.startedAt, run.finishedAt)],
    ['Error', error],
  ]);
}

function timingsTable(timings: unknown): HTMLElement {
  const entries =
    timings && typeof timings === 'object' ? Object.entries(timings as Record<string, unknown>) : [];
  if (!entries.length) return h('p', { class: 'muted' }, 'No stage timings yet.');
  const record = timings as Record<string, unknown>;
  // Bars are shares of the whole run: its own total when the agent reports one.
  const total =
    typeof record.totalMs === 'number'
      ? record.totalMs
      : entries.reduce((n, [, v]) => n + (typeof v === 'number' ? v : 0), 0);
  return table(
    ['Stage', 'Time', ''],
    entries.map(([stage, ms]) => {
      const value = typeof ms === 'number' ? ms : 0;
      const bar = h('span', { class: 'bar-fill' });
      bar.style.width = `${total ? Math.max(1, (value / total) * 100) : 0}%`;
      return [timingLabel(stage), `${(value / 1000).toFixed(2)} s`, h('span', { class: 'bar' }, bar)];
    }),
    { class: 'grid compact', id: 'run-timings' },
  );
}

function regionsTable(regions: unknown): HTMLElement {
  const list = Array.isArray(regions) ? (regions as Region[]) : [];
  if (!list.length) return h('p', { class: 'muted' }, 'No region results yet.');
  return table(
    ['Offset', 'Size', 'SHA-256', 'MD5 expected', 'MD5 read back', 'Result'],
    list.map((r) => {
      const verified = r.verifiedMd5 ? r.verifiedMd5 === r.md5 : undefined;
      return [
        h('span', { class: 'mono' }, hex(r.offset)),
        bytes(r.size),
        h(
          'span',
          { class: 'mono small', title: r.sha256 ?? '' },
          r.sha256 ? `${r.sha256.slice(0, 16)}…` : '-',
        ),
        h('span', { class: 'mono small' }, r.md5 ?? '-'),
        h('span', { class: 'mono small' }, r.verifiedMd5 ?? '-'),
        r.skipped
          ? 'unchanged (skipped)'
          : verified === undefined
            ? '-'
            : verified
              ? badge('verified')
              : badge('mismatch'),
      ];
    }),
    { class: 'grid compact', id: 'run-regions' },
  );
}

/** #/runs/:id */
// eslint-disable-next-line max-lines-per-function -- one page: header, progress and the live log share the run and its stream
export async function runView(ctx: ViewContext): Promise<void> {
  const id = ctx.params[0];
  let run = await api<RunView>(`/runs/${encodeURIComponent(id)}`, { signal: ctx.signal });
  const headBox = h('div', {}, header(run));
  const timingsBox = h('div', {}, timingsTable(run.timings));
  const regionsBox = h('div', {}, regionsTable(run.regions));
  const progress = h('progress', { max: 100, value: Math.round(run.progress), id: 'run-progress' });
  const live = h('span', { class: 'live', id: 'log-live' }, '');
  const log = h('pre', { class: 'log', id: 'run-log' });
  const follow_ = h('input', { type: 'checkbox', checked: true, id: 'log-follow' });
  const lines: string[] = [];
  const seen = new Set<number>();
  let pending = false;
  const flush = () => {
    pending = false;
    log.textContent = lines.join('\n');
    if (follow_.checked) log.scrollTop = log.scrollHeight;
  };
  mount(
    ctx.root,
    h(
      'div',
      { class: 'page-head' },
      h('h1', {}, `Run ${run.id.slice(-8)}`),
      h('a', { href: `#/jobs/${run.jobId}` }, '← job'),
    ),
    h(
      'div',
      { class: 'columns' },
      h(
        'section',
        { class: `card outcome-${run.status}`, id: 'run-card' },
        h('h2', {}, 'Run'),
        headBox,
        progress,
      ),
      h('section', { class: 'card' }, h('h2', {}, 'Stages and timings'), timingsBox),
    ),
    h('section', { class: 'card' }, h('h2', {}, 'Regions'), regionsBox),
    h(
      'section',
      { class: 'card' },
      h(
        'div',
        { class: 'log-head' },
        h('h2', {}, 'Log'),
        live,
        h('label', { class: 'small' }, follow_, ' follow'),
        h(
          'a',
          { href: `/runs/${run.id}/log`, class: 'small', id: 'raw-log', download: `run-${run.id}.log` },
          'raw',
        ),
      ),
      log,
    ),
    run.attempts.length > 1
      ? h(
          'section',
          { class: 'card' },
          h('h2', {}, 'Attempts of this slot'),
          table(
            ['Attempt', 'Status', 'Error'],
            run.attempts.map((a) => [
              h('a', { href: `#/runs/${a.runId}` }, `#${a.attempt}`),
              badge(a.status),
              a.errorCode ?? '',
            ]),
          ),
        )
      : null,
  );
  // The raw link needs the token: fetch it instead of navigating.
  ctx.root.querySelector('#raw-log')?.addEventListener('click', (e) => {
    e.preventDefault();
    void api<{ lines: LogLineView[] }>(`/runs/${run.id}/log?format=json`).then(
      (body) => {
        const blob = new Blob(
          [
            body.lines
              .map((l) => `${l.ts} ${l.level.toUpperCase()} ${l.stage ? `[${l.stage}] ` : ''}${l.text}`)
              .join('\n'),
          ],
          { type: 'text/plain' },
        );
        const a = h('a', { href: URL.createObjectURL(blob), download: `run-${run.id}.log` });
        a.click();
      },
      (error: unknown) => ctx.root.prepend(errorBox(error)),
    );
  });
  live.textContent = ['succeeded', 'failed', 'cancelled'].includes(run.status) ? '' : '● live';
  await follow(
    `/runs/${encodeURIComponent(id)}/events`,
    (e) => {
      if (e.event === 'log') {
        const l = e.data as LogLineView;
        // A resumed stream may repeat lines (never skip one): show each seq once.
        if (seen.has(l.seq)) return;
        seen.add(l.seq);
        lines.push(logLineText(l));
        if (!pending) {
          pending = true;
          requestAnimationFrame(flush);
        }
      } else if (e.event === 'progress') {
        const p = e.data as { percent: number; stage: string };
        progress.value = Math.round(p.percent);
      } else if (e.event === 'run') {
        const snapshot = e.data as Partial<RunView>;
        run = { ...run, ...snapshot };
        mount(headBox, header(run));
      } else if (e.event === 'end') {
        live.textContent = '';
        // Final record: timings and regions are written when the run ends.
        void api<RunView>(`/runs/${encodeURIComponent(id)}`, { signal: ctx.signal })
          .then((final) => {
            run = final;
            document.getElementById('run-card')?.setAttribute('class', `card outcome-${final.status}`);
            mount(headBox, header(final));
            mount(timingsBox, timingsTable(final.timings));
            mount(regionsBox, regionsTable(final.regions));
            progress.value = final.status === 'succeeded' ? 100 : progress.value;
          })
          // Leaving the page aborts the read: nothing to show then. Any other failure is shown.
          .catch((error: unknown) => {
            if (!ctx.signal.aborted) ctx.root.prepend(errorBox(error));
          });
      }
    },
    ctx.signal,
  );
  flush();
}
