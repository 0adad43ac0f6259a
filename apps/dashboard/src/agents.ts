/** Agents: each USB host with its version, heartbeat, and the boards on its ports with their USB identity. */
import type { AgentDetailView, AgentView } from '#contracts';
import { api } from './api.js';
import { agoEl, badge, h, mount, table } from './dom.js';
import { coalesce, onFarm } from './live.js';
import type { ViewContext } from './main.js';

const usbId = (vid: number | null, pid: number | null) =>
  vid === null || pid === null
    ? '-'
    : `${vid.toString(16).padStart(4, '0')}:${pid.toString(16).padStart(4, '0')}`;

function agentCard(a: AgentDetailView): HTMLElement {
  // Two boards on one port path of one host is a conflict: one of the reports is stale.
  const byPort = new Map<string, number>();
  for (const d of a.devices) byPort.set(d.portPath, (byPort.get(d.portPath) ?? 0) + 1);
  const conflicts = [...byPort].filter(([, n]) => n > 1).map(([p]) => p);
  return h(
    'section',
    { class: 'card', 'data-agent': a.id },
    h(
      'div',
      { class: 'log-head' },
      h('h2', {}, a.name),
      badge(a.status),
      h('span', { class: 'muted' }, `${a.hostname} · v${a.version} · up to ${a.maxParallel} at once`),
    ),
    h(
      'p',
      { class: 'muted' },
      'Last heartbeat ',
      h('span', { class: 'heartbeat' }, agoEl(a.lastHeartbeatAt)),
      ' · started ',
      agoEl(a.startedAt),
    ),
    conflicts.length
      ? h(
          'p',
          { class: 'error', role: 'alert' },
          `Port conflict: ${conflicts.join(', ')} report more than one board`,
        )
      : null,
    a.devices.length
      ? h(
          'div',
          { class: 'scroll' },
          table(
            ['Port', 'Board', 'Chip', 'State', 'USB id', 'USB serial', 'Bridge', 'Since'],
            a.devices.map((d) => [
              h('span', { class: 'mono small' }, d.portPath),
              h('a', { href: `#/devices/${d.id}`, class: 'mono' }, d.label ?? d.mac),
              d.chip,
              badge(d.state),
              h('span', { class: 'mono' }, usbId(d.usbVid, d.usbPid)),
              d.usbSerial ?? '-',
              d.bridge ?? '-',
              agoEl(d.attachedSince),
            ]),
            { class: 'grid' },
          ),
        )
      : h('p', { class: 'empty' }, 'No board attached.'),
  );
}

/** #/agents: redrawn as agents report (heartbeats, registrations) and as their boards change. */
export async function agentsView(ctx: ViewContext): Promise<void> {
  const draw = async () => {
    const list = await api<AgentView[]>('/agents', { signal: ctx.signal });
    const details = await Promise.all(
      list.map((a) => api<AgentDetailView>(`/agents/${a.id}`, { signal: ctx.signal })),
    );
    mount(
      ctx.root,
      h(
        'div',
        { class: 'page-head' },
        h('h1', {}, 'Agents'),
        h('span', { class: 'muted' }, `${list.length} host(s)`),
      ),
      details.length ? details.map(agentCard) : h('p', { class: 'empty' }, 'No agent has registered yet.'),
    );
  };
  await draw();
  const redraw = coalesce(1000, ctx.signal, draw);
  onFarm('agent', ctx.signal, redraw);
  onFarm('device', ctx.signal, redraw);
  onFarm('reload', ctx.signal, redraw);
}
