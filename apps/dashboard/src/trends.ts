/**
 * #/trends: flash duration and effective throughput over time, failure rate by
 * error code, and yield per firmware / board / agent / chip, from the api's
 * aggregate routes (GET /stats/...), filtered by window, chip, agent and board.
 */
import type { AgentView, BreakdownView, FailureStatsView, TrendView } from '#contracts';
import { api, withQuery } from './api.js';
import { bytes, h, mount } from './dom.js';
import { barChart, lineChart } from './chart.js';
import { supportedChips } from './devices.js';
import { childController, coalesce, onFarm } from './live.js';
import type { ViewContext } from './main.js';

const WINDOWS: Record<string, number> = { '24h': 1, '7d': 7, '30d': 30, '90d': 90 };
const BREAKDOWNS = ['firmware', 'device', 'agent', 'chip'] as const;
const pct = (v: number) => `${(v * 100).toFixed(1)} %`;

function filters(ctx: ViewContext, chips: string[], agents: AgentView[]): HTMLElement {
  const q = ctx.query;
  const choose = (name: string, label: string, options: Array<[string, string]>, value: string) => {
    const select = h(
      'select',
      { name, id: `trend-${name}`, 'aria-label': label },
      ...options.map(([v, text]) => h('option', { value: v, selected: v === value }, text)),
    );
    select.addEventListener('change', () => ctx.setQuery({ [name]: select.value }));
    return select;
  };
  return h(
    'div',
    { class: 'filters' },
    choose(
      'window',
      'Window',
      Object.keys(WINDOWS).map((w) => [w, `last ${w}`]),
      q.get('window') ?? '7d',
    ),
    choose(
      'chip',
      'Chip',
      [['', 'Chip: any'], ...chips.map((c): [string, string] => [c, c])],
      q.get('chip') ?? '',
    ),
    choose(
      'agentId',
      'Agent',
      [['', 'Agent: any'], ...agents.map((a): [string, string] => [a.id, a.name])],
      q.get('agentId') ?? '',
    ),
    choose(
      'by',
      'Yield by',
      BREAKDOWNS.map((b) => [b, `yield by ${b}`]),
      q.get('by') ?? 'firmware',
    ),
    q.get('deviceId')
      ? h(
          'a',
          { href: '#', onclick: (e: Event) => (e.preventDefault(), ctx.setQuery({ deviceId: undefined })) },
          'all boards',
        )
      : null,
  );
}

/** #/trends */
// eslint-disable-next-line max-lines-per-function -- one page: four charts drawn from the same window and filters
export async function trendsView(ctx: ViewContext): Promise<void> {
  const own = childController(ctx.signal);
  const q = ctx.query;
  const days = WINDOWS[q.get('window') ?? '7d'] ?? 7;
  const to = new Date();
  const scope = {
    from: new Date(to.getTime() - days * 86_400_000).toISOString(),
    to: to.toISOString(),
    grain: days <= 2 ? 'hour' : 'day',
    chip: q.get('chip'),
    agentId: q.get('agentId'),
    deviceId: q.get('deviceId'),
  };
  const by = (q.get('by') ?? 'firmware') as (typeof BREAKDOWNS)[number];
  const [chips, agents, trend, failures, breakdown] = await Promise.all([
    supportedChips(ctx.signal),
    api<AgentView[]>('/agents', { signal: ctx.signal }),
    api<TrendView>(withQuery('/stats/trend', scope), { signal: ctx.signal }),
    api<FailureStatsView>(withQuery('/stats/failures', scope), { signal: ctx.signal }),
    api<BreakdownView>(withQuery('/stats/breakdown', { ...scope, by, sort: 'yield', limit: 15 }), {
      signal: ctx.signal,
    }),
  ]);
  const timed = trend.points.filter((p) => p.meanDurationMs !== null);
  const runs = trend.points.reduce((n, p) => n + p.runs, 0);
  mount(
    ctx.root,
    h(
      'div',
      { class: 'page-head' },
      h('h1', {}, 'Trends'),
      h(
        'span',
        { class: 'muted', id: 'trend-total' },
        `${runs} ended run(s) · ${trend.grain === 'day' ? 'daily' : 'hourly'}`,
      ),
    ),
    filters(
      ctx,
      chips.map((c) => c.name),
      agents,
    ),
    h(
      'div',
      { class: 'columns' },
      h(
        'section',
        { class: 'card' },
        h('h2', {}, 'Mean flash time'),
        lineChart(
          timed.map((p) => ({ at: new Date(p.bucket), value: p.meanDurationMs! / 1000 })),
          { label: 'Mean time of a succeeded run', unit: 's', id: 'trend-duration' },
        ),
      ),
      h(
        'section',
        { class: 'card' },
        h('h2', {}, 'Effective throughput'),
        lineChart(
          timed
            .filter((p) => p.throughputBytesPerS !== null)
            .map((p) => ({ at: new Date(p.bucket), value: p.throughputBytesPerS! })),
          {
            label: 'Bytes written per second of run',
            unit: '/s',
            format: (v) => bytes(Math.round(v)),
            id: 'trend-throughput',
          },
        ),
      ),
    ),
    h(
      'div',
      { class: 'columns' },
      h(
        'section',
        { class: 'card' },
        h('h2', {}, `Failure rate by error code (${failures.failed} of ${failures.runs})`),
        barChart(
          failures.codes.map((c) => ({
            label: c.errorCode,
            value: c.rate,
            text: `${pct(c.rate)} · ${c.runs}`,
            tone: 'bad',
          })),
          { label: 'Share of ended runs that failed, by error code', id: 'trend-failures' },
        ),
      ),
      h(
        'section',
        { class: 'card' },
        h('h2', {}, `Yield by ${by}, lowest first`),
        barChart(
          breakdown.rows
            .filter((r) => r.yield !== null)
            .map((r) => ({
              label: r.label,
              value: r.yield!,
              text: `${pct(r.yield!)} · ${r.succeeded}/${r.succeeded + r.failed}`,
              tone: r.yield! < 0.95 ? 'bad' : 'good',
            })),
          { label: `Succeeded share of judged runs by ${by}`, max: 1, id: 'trend-yield' },
        ),
      ),
    ),
  );
  // Ended runs change the figures: redraw at most every 5 s while runs end.
  const redraw = coalesce(5000, own.signal, () => {
    own.abort();
    return trendsView(ctx);
  });
  onFarm('job', own.signal, (data) => {
    if ((data as { finishedAt: string | null }).finishedAt) redraw();
  });
}
